"""The task-fidelity gate: own words, reference answers, judge question, the stage, storage and statistics."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tests.helpers.fixture_checkers  # noqa: F401  (registers t:* checkers)
from pipeline import store
from pipeline.checks.registry import CheckResult
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.models import FidelityCheck, Instruction, Response, Seed
from pipeline.publish.dataset import build_dataset_folder
from pipeline.run.config import ConfigError, RoleConfig, RunConfig, parse_config
from pipeline.run.stages import BatchResult, BatchSpec, ChatFn, Models
from pipeline.seeding.load import load_seed_file
from pipeline.store.schema import FIDELITY_COLUMNS, SAMPLES_SCHEMA, samples_from_table, samples_to_table
from pipeline.verify import fidelity
from pipeline.verify.fidelity import (
    check_reference_answer,
    fidelity_reasons,
    numbers_in,
    own_words,
    reference_number,
    task_question,
    word_numbers,
)
from pipeline.verify.judge import LLMJudge
from pipeline.verify.plan import JudgeQuery
from tests.helpers.batches import compose_spec, run_spec

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "taxonomy"
ANSWER_SEEDS = ROOT / "seeds" / "complexify-answer-seeds.jsonl"
TASK = "Should homework be banned in primary schools? Give your opinion with reasons."
PROMPT = TASK + ' Include the keywords "deadline" and "sunlight". End with a postscript starting with P.P.S.'


# --- own words ----------------------------------------------------------------------------------------------


def test_an_answer_made_of_the_question_and_its_constraints_has_nothing_of_its_own() -> None:
    hack = f"{TASK} The answer must include the words deadline and sunlight.\n\nP.P.S. Done."
    left = own_words(hack, TASK, PROMPT).split()
    assert len(left) <= 6 and not {"homework", "banned", "deadline", "sunlight"} & {w.lower() for w in left}


def test_an_on_task_answer_keeps_its_own_words() -> None:
    answer = "Homework should be lighter, not banned: young children need play, sleep and a little sunlight."
    left = own_words(answer, TASK, PROMPT)
    assert "Homework should be lighter" in left and "young children need play" in left
    assert "sunlight" not in left  # a required keyword is the constraint's word, not the answer's


def test_words_copied_from_a_rewritten_prompt_are_not_the_answers_own() -> None:
    rewritten = "Tell me whether primary schools ought to stop giving homework, and why."
    left = own_words(f"{rewritten} Yes.", TASK, PROMPT, copied_from=[rewritten])
    assert left == "Yes"


# --- reference answers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "reference", "passed"),
    [
        ("The muffins cost 42 euros in total.", "42", True),
        ("14 x 3 = 42, so you pay forty-two euros.", "42", True),
        ("there are 10,080 minutes in a week.", "10080", True),
        ("Each friend pays 12.50 euros.", "12.5", True),
        ("two hundred and six bones", "206", True),
        ("Let me think: 10 + 2 = 12. The answer is 12.", "12", True),
        ("I first thought 40, but the answer is 42.", "42", True),
        ("The answer is 40, not 42.", "42", False),
        ("\\boxed{391}", "391", True),
        ("14 muffins at 3 euros each cost 41 euros.", "42", False),
        ("<think>14 x 3 = 42</think>I am not sure what they cost.", "42", False),
        ("It could be 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 42 or 43.", "42", False),
        ("", "42", False),
        ("the capital of canada is ottawa.", "Ottawa", True),
        ("Plants take in CO2 from the air.", "carbon dioxide|CO2", True),
        ("Plants take in carbon\ndioxide.", "carbon dioxide|CO2", True),
        ("Plants take in oxygen.", "carbon dioxide|CO2", False),
        ("Au is the symbol.", "Au", True),
        ("Gold is shiny, like a sauna.", "Au", False),  # inside another word does not count
        ("### Part 1\nThe answer is: Jupiter\n### Part 2\nIt is a gas giant.", "Jupiter", True),
    ],
)
def test_reference_answer_check(response: str, reference: str, passed: bool) -> None:
    result = check_reference_answer(
        response, reference, task="A bakery sells muffins for 3 euros each. How much do 14 cost?"
    )
    assert result.passed is passed, result.evidence


def test_numbers_are_read_from_digits_and_words() -> None:
    assert word_numbers("forty-two and three thousand two hundred") == [42, 3200]
    assert word_numbers("five and six") == [5, 6]
    assert set(numbers_in("1,275 then 7.5 and -3")) == {1275, 7.5, -3}
    assert reference_number("1,275") == 1275 and reference_number("Ottawa") is None and reference_number("forty") == 40


def test_bundled_answer_seeds_load_with_answers_their_text_does_not_give_away() -> None:
    seeds = load_seed_file(ANSWER_SEEDS)
    assert len(seeds) >= 30 and all(s.answer for s in seeds)
    assert len({s.id for s in seeds}) == len(seeds)
    for s in seeds:
        assert s.answer is not None
        value = reference_number(s.answer.split("|")[0])
        if value is not None:  # a mention of a number the task already holds would prove nothing
            assert value not in numbers_in(s.text), s.id
        # a plain correct sentence passes, a wrong one does not
        first = s.answer.split("|")[0]
        assert check_reference_answer(f"The answer is {first}.", s.answer, s.text).passed, s.id
        assert not check_reference_answer("The answer is 987654.", s.answer, s.text).passed, s.id


def test_the_answer_column_is_mapped_like_the_other_fields(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("question,solution\nWhat is 6 times 7?,42\nName a colour.,\n", encoding="utf-8")
    seeds = load_seed_file(path, {"text": "question", "answer": "solution"})
    assert [s.answer for s in seeds] == ["42", None]
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text(json.dumps({"text": "What is 6 times 7?", "answer": 42}) + "\n", encoding="utf-8")
    assert load_seed_file(jsonl)[0].answer == "42"


def test_a_seed_without_an_answer_serialises_as_before() -> None:
    """Instruction fingerprints hash the seed's dump: seeds without an answer must keep theirs."""
    assert "answer" not in Seed(id="a", text="t").model_dump()
    assert Seed(id="a", text="t", answer="4").model_dump()["answer"] == "4"


# --- the judge's question and the reasons ---------------------------------------------------------------------


def test_the_judge_question_names_the_seed_task() -> None:
    q = task_question("  Write release notes for version 2.4.  ")
    assert q.startswith("Does the response carry out this task") and q.endswith("Write release notes for version 2.4.")


def test_reasons_come_from_failed_tests_only() -> None:
    checks = [
        FidelityCheck(kind="embedding", passed=False, score=0.1),
        FidelityCheck(kind="judge", passed=True),
        FidelityCheck(kind="reference_answer", passed=False),
    ]
    assert fidelity_reasons(checks) == ["off_task:embedding", "wrong_answer"]
    assert fidelity_reasons([FidelityCheck(kind="embedding", passed=False, skipped=True)]) == []


# --- the stage, with an injected scorer and judge ---------------------------------------------------------------


class FakeRelevance:
    """Relevance 0.9 for texts that talk about the object, 0.05 otherwise; records each call's batch size."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def similarities(self, task: str, texts: Sequence[str]) -> list[float]:
        self.batches.append(len(texts))
        return [0.9 if "object" in t else 0.05 for t in texts]


class FakeJudge:
    """YES for answers that mention the object, NO otherwise; records the questions it is asked."""

    def __init__(self) -> None:
        self.questions: list[str] = []

    def yes_no_logprobs(self, conversations: Sequence[list[dict[str, str]]]) -> list[tuple[float, float]]:
        out = []
        for conv in conversations:
            self.questions.append(conv[-1]["content"])
            yes = "object" in conv[-1]["content"].split("Response:", 1)[1].split("Question:", 1)[0]
            out.append((-0.1, -3.0) if yes else (-3.0, -0.1))
        return out


def scripted(texts: list[str]) -> ChatFn:
    """Candidate k of every conversation answers texts[k % len(texts)]."""

    def chat(conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
        return [
            [Response(text=texts[k % len(texts)], candidate=k, model="scripted") for k in range(n)]
            for _ in conversations
        ]

    return chat


def lowercase_spec(cfg: RunConfig, seeds: list[Seed]) -> BatchSpec:
    """A one-instruction batch whose single check is t:lower."""
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    for i in range(400):
        spec = BatchSpec(index=0, items=((i, "Single"),))
        if [c.spec_id for c in compose_spec(spec, seeds, tax, cfg)[0].plan.checks] == ["t:lower"]:
            return spec
    raise AssertionError("no t:lower instruction in the fixture taxonomy")


def config(**fidelity_cfg: Any) -> RunConfig:
    return parse_config(
        {
            "samples": 1,
            "mix": {"Single": 1},
            "repair_rounds": 0,
            "compose": {"checkers": "code"},
            "models": {"responder": {"n": 3}, "rewriter": {"enabled": False}, "judge": {"enabled": True}},
            "fidelity": fidelity_cfg,
        }
    )


SEEDS = [Seed(id=f"s{i}", text=f"Describe object number {i}.") for i in range(5)]
OFF_TASK = "a story about a knight and a dragon"
ON_TASK = "the object is round, small and green"


def test_an_answer_that_passes_its_checks_but_ignores_the_task_is_not_kept() -> None:
    cfg = config(judge=False)
    relevance = FakeRelevance()
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    result = run_spec(
        lowercase_spec(cfg, SEEDS), SEEDS, tax, cfg, Models(scripted([OFF_TASK, ON_TASK]), None, relevance), run_id="r"
    )
    assert [s.response.text for s in result.kept] == [ON_TASK]
    off = [s for s in result.rejects if s.response.text == OFF_TASK]
    assert len(off) == 2 and all(s.reject_reasons == ["off_task:embedding"] for s in off)
    assert all(s.verdict.all_pass for s in off)  # the constraint checks alone would have kept them
    kinds = {c.kind for s in [*result.kept, *result.rejects] for c in s.verdict.fidelity}
    assert kinds == {"embedding"}
    assert relevance.batches == [3]  # all candidates of the instruction in one batch
    assert result.stats["off_task:embedding"] == 2


def test_the_judge_asks_only_about_answers_that_are_still_kept() -> None:
    cfg = config()
    relevance, judge = FakeRelevance(), FakeJudge()
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    # candidate 0 fails the embedding test, 1 fails the constraint check, 2 passes both and is asked
    chat = scripted([OFF_TASK, "THE OBJECT IS LOUD", ON_TASK])
    result = run_spec(
        lowercase_spec(cfg, SEEDS), SEEDS, tax, cfg, Models(chat, LLMJudge(judge), relevance), run_id="r"
    )
    assert len(judge.questions) == 1 and "Does the response carry out this task" in judge.questions[0]
    assert "Describe object number" in judge.questions[0]
    (kept,) = result.kept
    assert [c.kind for c in kept.verdict.fidelity] == ["embedding", "judge"] and all(
        c.passed for c in kept.verdict.fidelity
    )


def test_a_judge_no_rejects_an_answer_the_embedding_let_through() -> None:
    cfg = config()

    class Lenient(FakeRelevance):
        def similarities(self, task: str, texts: Sequence[str]) -> list[float]:
            return [0.99 for _ in texts]

    tax = load_taxonomy(FIXTURE, check_checkers=False)
    result = run_spec(
        lowercase_spec(cfg, SEEDS),
        SEEDS,
        tax,
        cfg,
        Models(scripted([OFF_TASK]), LLMJudge(FakeJudge()), Lenient()),
        run_id="r",
    )
    assert result.kept == [] and {tuple(s.reject_reasons) for s in result.rejects} == {("off_task:judge",)}


def test_a_wrong_final_answer_is_rejected_and_the_reference_replaces_the_embedding() -> None:
    cfg = config(judge=False)
    seeds = [
        Seed(id=f"q{i}", text=f"What is {i} times 7? Describe the object.", answer=str(7 * i)) for i in range(2, 7)
    ]
    relevance = FakeRelevance()
    spec = lowercase_spec(cfg, seeds)
    ins = compose_spec(spec, seeds, load_taxonomy(FIXTURE, check_checkers=False), cfg)[0]
    right = f"the object count is {ins.reference_answer}"
    result = run_spec(
        spec,
        seeds,
        load_taxonomy(FIXTURE, check_checkers=False),
        cfg,
        Models(scripted(["the object count is 1000", right]), None, relevance),
        run_id="r",
    )
    assert ins.reference_answer is not None
    assert [s.response.text for s in result.kept] == [right]
    wrong = [s for s in result.rejects if "1000" in s.response.text]
    assert wrong and all(s.reject_reasons == ["wrong_answer"] for s in wrong)
    assert relevance.batches == []  # the known answer decides; the embedding test is recorded as skipped
    assert all(c.skipped for s in wrong for c in s.verdict.fidelity if c.kind == "embedding")


def test_a_disabled_gate_changes_nothing() -> None:
    cfg = config(enabled=False)
    relevance = FakeRelevance()
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    result = run_spec(
        lowercase_spec(cfg, SEEDS), SEEDS, tax, cfg, Models(scripted([OFF_TASK]), None, relevance), run_id="r"
    )
    assert len(result.kept) == 1 and result.kept[0].verdict.fidelity == [] and relevance.batches == []


def test_non_english_tasks_skip_the_embedding_test() -> None:
    ins = compose_spec(
        BatchSpec(0, ((0, "Single"),)),
        [Seed(id="zh", text="请写一则通知，告知小区居民下周六上午将进行消防演练。")],
        load_taxonomy(FIXTURE, check_checkers=False),
        config(),
    )[0]
    relevance = FakeRelevance()
    (check,) = fidelity.embedding_checks(ins, ["True\n\nFalse:False"], 0.3, relevance)
    assert check.skipped and "English-only" in check.evidence and relevance.batches == []


def test_a_run_without_the_embedding_test_never_imports_sentence_transformers() -> None:
    script = """
import sys
from pathlib import Path
import tests.helpers.fixture_checkers
from pipeline.run.config import parse_config
from pipeline.models import Response, Seed
from pipeline.run.stages import BatchResult, BatchSpec, ChatFn, Models
from pipeline.construct.taxonomy import load_taxonomy
from tests.helpers.batches import run_spec

cfg = parse_config({"samples": 1, "mix": {"Single": 1}, "repair_rounds": 0, "compose": {"checkers": "code"},
                    "models": {"rewriter": {"enabled": False}, "judge": {"enabled": False}},
                    "fidelity": {"embedding": False}})
seeds = [Seed(id=f"q{i}", text=f"What is {i} times 7?", answer=str(7 * i)) for i in range(3)]
chat = lambda convs, role, n: [[Response(text="it is 14", candidate=k) for k in range(n)] for _ in convs]
tax = load_taxonomy(Path("tests/fixtures/taxonomy"), check_checkers=False)
result = run_spec(
    BatchSpec(0, tuple((i, "Single") for i in range(3))), seeds, tax, cfg, Models(chat, None), run_id="r"
)
checked = sum(1 for s in [*result.kept, *result.rejects] for c in s.verdict.fidelity if c.kind == "reference_answer")
print(checked, sorted(m for m in sys.modules if m.split(".")[0] in ("sentence_transformers", "torch", "transformers")))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    checked, modules = out.stdout.strip().split(" ", 1)
    assert int(checked) > 0  # the gate ran (reference answers) ...
    assert modules == "[]"  # ... without loading any embedding library


# --- storage and statistics -----------------------------------------------------------------------------------


Gated = tuple[Path, store.RunPaths, BatchResult]


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Gated:
    """A stored run whose rejects carry off_task and wrong_answer reasons, and its samples."""
    cfg = config(judge=False)
    tax = load_taxonomy(FIXTURE, check_checkers=False)
    seeds = [*SEEDS, *(Seed(id=f"q{i}", text=f"What is {i} times 7?", answer=str(7 * i)) for i in range(2, 7))]
    items = []
    for i in range(200):
        ins = compose_spec(BatchSpec(0, ((i, "Single"),)), seeds, tax, cfg)[0]
        if [c.spec_id for c in ins.plan.checks] == ["t:lower"]:
            items.append((i, "Single"))
    chat = scripted([OFF_TASK, "the object count is 1000", ON_TASK + " and its count is 14 21 28 35 42"])
    result = run_spec(
        BatchSpec(0, tuple(items[:8])),
        seeds,
        tax,
        cfg,
        Models(chat, None, FakeRelevance()),
        run_id="r",
        run_fingerprint="fp-fid",
    )
    root = tmp_path_factory.mktemp("out")
    run = store.open_run(root, "fp-fid", {"name": "fidelity"})
    store.write_batch(run, 0, result.instructions, result.kept, result.rejects)
    store.refresh_catalog(root)
    return root, run, result


def test_fidelity_evidence_is_stored_and_read_back(gated: Gated) -> None:
    _, run, result = gated
    assert store.load_samples(run) == result.kept
    assert store.load_samples(run, kept=False) == result.rejects
    assert any(c.score is not None for s in result.rejects for c in s.verdict.fidelity)
    table = samples_to_table(result.rejects, batch=0)
    cell = table.column("fidelity").to_pylist()[0][0]
    assert set(cell) == {"kind", "passed", "score", "evidence", "skipped"}


def test_a_shard_written_before_the_fidelity_column_reads_with_no_fidelity_tests(gated: Gated) -> None:
    _, _, result = gated
    table = samples_to_table(result.kept, batch=0)
    old = table.drop_columns(["fidelity"])
    back = samples_from_table(old)
    assert [s.verdict.fidelity for s in back] == [[] for _ in back]
    assert [
        s.model_copy(update={"verdict": s.verdict.model_copy(update={"fidelity": []})}) for s in result.kept
    ] == back


def test_fidelity_columns_restore_every_field() -> None:
    assert {c.path for c in FIDELITY_COLUMNS if not c.derived} == set(FidelityCheck.model_fields)
    assert pa.types.is_list(SAMPLES_SCHEMA.field("fidelity").type)


def test_reject_reasons_reach_the_stats_and_the_dataset_card(gated: Gated, tmp_path: Path) -> None:
    root, _, result = gated
    with store.open_catalog(root) as con:
        stats = store.run_stats(con, "fp-fid")
    reasons = stats.level("reject_reason")
    kinds = stats.level("reject_kind")
    off = sum(1 for s in result.rejects if "off_task:embedding" in s.reject_reasons)
    wrong = sum(1 for s in result.rejects if "wrong_answer" in s.reject_reasons)
    assert off > 0 and wrong > 0
    assert reasons["off_task:embedding"].candidates == kinds["off_task"].candidates == off
    assert reasons["wrong_answer"].candidates == kinds["wrong_answer"].candidates == wrong
    built = build_dataset_folder(
        result.kept, result.rejects, tmp_path / "ds", repo_id="org/cx", run_info={}, stats=stats
    )
    card = (built.folder / "README.md").read_text(encoding="utf-8")
    assert f"| off_task | {off} |" in card and f"| wrong_answer | {wrong} |" in card


# --- config -------------------------------------------------------------------------------------------------


def test_the_fidelity_section_is_validated() -> None:
    assert parse_config({"samples": 1}).fidelity.enabled is True
    with pytest.raises(ConfigError, match=r"fidelity\.threshhold: unknown key"):
        parse_config({"samples": 1, "fidelity": {"threshhold": 0.3}})
    with pytest.raises(ConfigError, match=r"fidelity\.threshold: Input should be less than or equal to 1"):
        parse_config({"samples": 1, "fidelity": {"threshold": 2}})


def test_judge_checks_send_one_question_per_answer() -> None:
    asked: list[JudgeQuery] = []

    def judge(queries: Sequence[JudgeQuery]) -> list[CheckResult]:
        asked.extend(queries)
        return [CheckResult(True, "judge P(yes)=0.90") for _ in queries]

    ins: Instruction = compose_spec(
        BatchSpec(0, ((0, "Single"),)), SEEDS, load_taxonomy(FIXTURE, check_checkers=False), config()
    )[0]
    checks = fidelity.judge_checks(ins, ["<think>hm</think>the object", ""], judge)
    assert [q.response for q in asked] == ["the object", ""]
    assert [c.passed for c in checks] == [True, False]  # an empty answer never carries out the task
