"""A request the server refuses (a prompt over the context) fails its instruction only, never the batch.

The engine runs over a fake HTTP transport that answers like a vLLM server with a small context; the
same behaviour against a real worker is in tests/integration/test_engine_invalid_requests.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

import tests.helpers.fixture_checkers  # noqa: F401
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.llm.engine import SyncEngine
from pipeline.llm.openai_engine import OpenAIEngine
from pipeline.llm.retry import RetryPolicy
from pipeline.models import Seed
from pipeline.run.config import parse_config
from pipeline.run.serving import engine_chat_fn
from pipeline.run.stages import Models
from tests.helpers.batches import planned_spec, run_spec

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
LIMIT_CHARS = 4000
TOO_LONG = (
    "This model's maximum context length is 2048 tokens. However, your prompt contains 5210 input tokens, "
    "which exceeds this limit even without any output tokens. Please reduce the length of the input prompt."
)


class SmallContextServer:
    """Answers every chat request unless its messages exceed LIMIT_CHARS: then HTTP 400 as vLLM words it."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            prompt = "\n".join(m["content"] for m in body["messages"])
            self.prompts.append(prompt)
            if len(prompt) > LIMIT_CHARS:
                return httpx.Response(
                    400, json={"error": {"message": TOO_LONG, "type": "BadRequestError", "code": 400}}
                )
            choices = [
                {"index": i, "message": {"role": "assistant", "content": "A short answer."}, "finish_reason": "stop"}
                for i in range(body.get("n", 1))
            ]
            return httpx.Response(
                200, json={"choices": choices, "usage": {"prompt_tokens": 9, "completion_tokens": 4}}
            )

        return httpx.MockTransport(handle)


def test_over_long_prompt_becomes_a_reject_with_its_reason() -> None:
    cfg = parse_config(
        {
            "samples": 2,
            "mix": {"Single": 1},
            "compose": {"checkers": "code"},
            "models": {"responder": {"n": 2}, "judge": {"enabled": False}},
            "repair_rounds": 1,
        }
    )
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    seeds = [Seed(id="short", text="Describe a lighthouse."), Seed(id="long", text="Describe this place. " * 400)]
    spec = planned_spec(cfg.model_copy(update={"batch_size": 2}))
    server = SmallContextServer()
    engine = SyncEngine(
        OpenAIEngine(
            ["http://w.test:1"], "m", transport=server.transport(), retry=RetryPolicy(max_attempts=2, base_delay_s=0)
        )
    )
    engines: dict[str, Any] = {cfg.models.responder.model: engine}
    with engine:
        result = run_spec(spec, seeds, tax, cfg, Models(chat=engine_chat_fn(engines), judge=None), run_id="r")

    by_seed = {ins.seed_id: ins for ins in result.instructions}
    assert set(by_seed) == {"short", "long"}
    assert by_seed["long"].rewrite_note == "rewrite failed: prompt_too_long"
    long_samples = [s for s in result.kept + result.rejects if s.instruction.seed_id == "long"]
    assert len(long_samples) == 1  # one failed request, no repair of it
    (failed,) = long_samples
    assert not failed.kept and failed.reject_reasons == ["prompt_too_long"]
    assert failed.response.text == "" and failed.verdict.n_passed == 0 and not failed.verdict.all_pass
    assert result.stats["prompt_too_long"] == 1
    # The short instruction was answered normally: two candidates (plus repairs if they failed their checks).
    short_samples = [s for s in result.kept + result.rejects if s.instruction.seed_id == "short"]
    assert len([s for s in short_samples if s.response.round == 0]) == 2
    assert all("prompt_too_long" not in s.reject_reasons for s in short_samples)
    assert sum(len(p) > LIMIT_CHARS for p in server.prompts) == 2  # the rewrite and the answer, nothing more
