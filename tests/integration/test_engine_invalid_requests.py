"""A prompt longer than the real worker's context fails alone, with its reason; the rest of the batch is answered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.llm.engine import SyncEngine
from pipeline.llm.records import ChatRequest, SamplingParams

EngineFactory = Callable[..., SyncEngine]


def test_over_long_prompt_fails_alone_with_prompt_too_long(make_engine: EngineFactory, tmp_path: Path) -> None:
    eng = make_engine(cache_path=tmp_path / "requests.sqlite")
    sampling = SamplingParams(temperature=0, max_tokens=16)
    long_prompt = "Summarize the following notes. " + "The harbour was quiet at dawn and the boats were still. " * 400
    requests = [
        ChatRequest.of([{"role": "user", "content": long_prompt}], sampling=sampling),  # ~5,000 tokens, context 2,048
        ChatRequest.of([{"role": "user", "content": "Name one colour of the sky."}], sampling=sampling),
    ]
    too_long, normal = eng.generate(requests)

    assert not too_long.ok and too_long.failure == "prompt_too_long", too_long
    assert too_long.error is not None and "HTTP 400" in too_long.error
    assert normal.ok and normal.text.strip()

    stats = next(iter(eng.engine.endpoint_stats().values()))
    assert stats["rejected"] == 1 and stats["failed"] == 0 and stats["dead"] is None  # the worker is fine
    (judged,) = eng.yes_no(
        [[{"role": "user", "content": long_prompt + " Is this about a harbour? Answer YES or NO."}]]
    )
    assert judged.failure == "prompt_too_long"
