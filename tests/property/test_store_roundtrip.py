"""Property: Sample records survive records -> Arrow -> Parquet bytes -> Arrow -> records unchanged, for any text."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

import tests.helpers.fixture_checkers  # noqa: F401  (registers t:* checkers)
from pipeline.construct.compose import compose_instruction
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import CheckVerdict, Response, Sample, Seed
from pipeline.store.schema import samples_from_table, samples_to_table
from pipeline.verify.plan import verify_response

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "taxonomy"
TAXONOMY = load_taxonomy(FIXTURE, check_checkers=False)

# Any Unicode Arrow can hold: everything but lone surrogates (not UTF-8; the store replaces those by U+FFFD).
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
# Seed text goes through the composer's templates, whose placeholders are braces.
seed_texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="{}"), min_size=1
).filter(str.strip)
finite = st.floats(allow_nan=False, allow_infinity=False)


def through_parquet(table: pa.Table) -> pa.Table:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return pq.read_table(pa.BufferReader(sink.getvalue()))


@settings(max_examples=150, deadline=None)
@given(
    seed_text=seed_texts,
    category=st.sampled_from(["Single", "And_1", "Chain_1", "Selection_1"]),
    response=texts,
    reasoning=st.none() | texts,
    evidence=texts,
    reasons=st.lists(texts, max_size=3),
    models=st.dictionaries(texts, texts, max_size=3),
    hashes=st.dictionaries(texts, texts, max_size=3),
    latency=finite,
    tokens=st.integers(0, 2**40),
    candidate=st.integers(0, 1000),
    kept=st.booleans(),
)
def test_sample_round_trip_is_lossless(
    seed_text: str,
    category: str,
    response: str,
    reasoning: str | None,
    evidence: str,
    reasons: list[str],
    models: dict[str, str],
    hashes: dict[str, str],
    latency: float,
    tokens: int,
    candidate: int,
    kept: bool,
) -> None:
    ins = compose_instruction(Seed(id="seed-∂", text=seed_text), category, TAXONOMY, random_seed=candidate)
    verdict = verify_response(response, ins.plan)
    first = verdict.checks[0]
    verdict = verdict.model_copy(
        update={"checks": [CheckVerdict(**{**first.model_dump(), "evidence": evidence}), *verdict.checks[1:]]}
    )
    sample = Sample(
        id=f"id-{response[:20]}",
        instruction=ins,
        response=Response(
            text=response, reasoning=reasoning, latency_s=latency, completion_tokens=tokens, candidate=candidate
        ),
        verdict=verdict,
        kept=kept,
        reject_reasons=reasons,
        run_id=f"run-{evidence[:8]}",
        run_fingerprint="fp",
        models=models,
        template_hashes=hashes,
    )
    (back,) = samples_from_table(through_parquet(samples_to_table([sample], batch=0)))
    assert back == sample
    assert back.model_dump_json() == sample.model_dump_json()
