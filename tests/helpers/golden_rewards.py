"""The golden reward file, `tests/data/golden_rewards.jsonl`: response x ground truth x reward mode -> reward.

Each case below is a ground truth (a verification plan, as `rl` rows publish it) and a response, with the
number of checks that count after dependency gating (`k`, for the stripped answer and, where it matters, for
the raw text with its reasoning) worked out by hand from the checkers' documented rules; `why` says how.
Every case also carries `hand` values: expected rewards for some modes, written down by hand, not computed.

From `k` this script derives the reward of every other mode with the published formulas, written here on
their own (no pipeline code is used to compute an expected value):

- `all_pass`: 1.0 when every check counts, else 0.0; `drfr`: k / n;
- `raif`: +2 when every check counts, -2 when none does, else k / n;
- contrast (RAIF's sample-wise rule): a completion with reasoning and a non-empty answer whose k is below the
  ground truth's `baseline_mean_satisfied` gets `masked_score` instead;
- a judge check: without a judge it is skipped and never counts; a judge that says YES (NO) makes it pass
  (fail) on a non-empty answer.

Before writing, every hand value is compared with the derived one (`derive` must agree with the hand
reasoning), so the derivation is itself checked by hand on every mode. Rows from a hand value have
`source: hand` and its reason; the others `source: derived`.

Regenerate with `python -m tests.helpers.golden_rewards` (the test checks the file matches this script).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "data" / "golden_rewards.jsonl"
INSTRUCTION = "Write about a river trip."

# --- ground truths ----------------------------------------------------------------------------------------


def _check(cid: str, checker: str, kwargs: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": cid, "kind": "code", "checker": checker, "kwargs": kwargs or {}, **extra}


RIVER = {"keywords": ["river"]}
AT_LEAST_5 = {"num_words": 5, "relation": "at least"}

PLANS: dict[str, dict[str, Any]] = {
    # And: three independent checks on the whole response.
    "and": {
        "checks": [
            _check("c1", "keywords:existence", RIVER),
            _check("c2", "punctuation:no_comma"),
            _check("c3", "length_constraints:number_words", AT_LEAST_5),
        ],
        "correct_branches": {},
    },
    # Chain: part 1 must name the river; part 2 must end with "The end." and have no comma. Step 2's checks
    # depend on step 1's (ComplexBench).
    "chain": {
        "checks": [
            _check("c1", "keywords:existence", RIVER, scope="part:1"),
            _check("c2", "startend:end_checker", {"end_phrase": "The end."}, scope="part:2", depends_on=["c1"]),
            _check("c3", "punctuation:no_comma", scope="part:2", depends_on=["c1"]),
        ],
        "correct_branches": {},
    },
    # Selection: the condition selects case B; the branch's checks depend on the decision check.
    "selection": {
        "checks": [
            _check("c1", "structure:selected_case", {"expected": "B", "labels": ["A", "B"]}, scope="raw:response"),
            _check("c2", "keywords:existence", RIVER, depends_on=["c1"]),
            _check("c3", "punctuation:no_comma", depends_on=["c1"]),
        ],
        "correct_branches": {"tree.body": "B"},
    },
    # Nested: a Chain whose step 2 is a Selection (case A) with an And of two checks in its branch.
    "nested": {
        "checks": [
            _check("c1", "keywords:existence", RIVER, scope="part:1"),
            _check(
                "c2",
                "structure:selected_case",
                {"expected": "A", "labels": ["A", "B"]},
                scope="raw:part:2",
                depends_on=["c1"],
            ),
            _check("c3", "keywords:existence", {"keywords": ["bridge"]}, scope="part:2", depends_on=["c1", "c2"]),
            _check("c4", "punctuation:no_comma", scope="part:2", depends_on=["c1", "c2"]),
        ],
        "correct_branches": {"tree.body.steps[1]": "A"},
    },
    # A code check and a judge check (Tone).
    "judge": {
        "checks": [
            _check("c1", "keywords:existence", RIVER),
            {"id": "c2", "kind": "judge", "question": "Is the response cheerful?", "dimension": "Tone"},
        ],
        "correct_branches": {},
    },
}
# The student's no-reasoning baseline (mean satisfied checks) that the contrast rule compares with.
BASELINES: dict[str, float | None] = {"and": 1.5, "chain": 3.0, "selection": None, "nested": None, "judge": None}


def ground_truth(plan: str) -> str:
    """The ground-truth string as an `rl` row publishes it (format complexify.plan/v1)."""
    data: dict[str, Any] = {
        "format": "complexify.plan/v1",
        "instruction_id": f"golden-{plan}",
        "category": plan,
        "instruction": INSTRUCTION,
        "plan": PLANS[plan],
    }
    if BASELINES[plan] is not None:
        data["baseline_mean_satisfied"] = BASELINES[plan]
    return json.dumps(data, ensure_ascii=False)


# --- modes ------------------------------------------------------------------------------------------------

MODES: dict[str, dict[str, Any]] = {
    "all_pass": {"score": "all_pass"},
    "drfr": {"score": "drfr"},
    "raif": {"score": "raif"},
    "all_pass_raw": {"score": "all_pass", "strip_think": False},
    "drfr_raw": {"score": "drfr", "strip_think": False},
    "raif_raw": {"score": "raif", "strip_think": False},
    "raif_contrast": {"score": "raif", "contrast": True},
    "drfr_contrast": {"score": "drfr", "contrast": True},
    "raif_contrast_m1": {"score": "raif", "contrast": True, "masked_score": -1.0},
    "raif_judge_yes": {"score": "raif", "judge": "yes"},
    "raif_judge_no": {"score": "raif", "judge": "no"},
    "all_pass_judge_yes": {"score": "all_pass", "judge": "yes"},
}
DEFAULT_MODE = {"score": "raif", "strip_think": True, "contrast": False, "masked_score": 0.0, "judge": None}
BASE = ("all_pass", "drfr", "raif")
RAW = ("all_pass_raw", "drfr_raw", "raif_raw")
CONTRAST = ("raif_contrast", "drfr_contrast", "raif_contrast_m1")
JUDGED = ("raif_judge_yes", "raif_judge_no", "all_pass_judge_yes")


@dataclass(frozen=True)
class Case:
    """One response to one ground truth; `k` checks count for the stripped answer, `k_raw` for the raw text."""

    name: str
    plan: str
    response: str | None
    k: int
    why: str
    hand: dict[str, float]
    modes: tuple[str, ...] = BASE
    k_raw: int | None = None
    reasoned: bool = False  # a non-empty reasoning part (the contrast rule applies)
    answered: bool = True  # a non-empty answer once the reasoning is split off
    k_judge: dict[str, int] = field(default_factory=dict)  # k when a judge says "yes" / "no"


R = "The river must appear and I must avoid commas"  # reasoning that names the keyword, no comma
A = "We rowed past willows at dawn and saw herons"  # 9 words, no "river", no comma
A_FULL = "We rowed down the river at dawn and saw herons."  # 10 words, "river", no comma
FMT_WHY = (
    "reasoning ({fmt}) is split off: the answer has no 'river' (c1 fails), no comma and 9 words (c2, c3 pass): "
    "k=2 of 3; the raw text keeps the reasoning, whose 'river' passes c1 and which has no comma: k_raw=3"
)
FORMATS = {
    "think": f"<think>{R}</think>{A}",
    "thinking": f"<thinking>\n{R}\n</thinking>\n\n{A}",
    "reasoning": f"<reasoning>{R}</reasoning>{A}",
    "think_space_upper": f"<THINK >{R}</Think>{A}",
    "seed_think": f"<seed:think>{R}</seed:think>{A}",
    "mistral": f"[THINK]{R}[/THINK]{A}",
    "kimi": f"\u25c1think\u25b7{R}\u25c1/think\u25b7{A}",
    "thought": f"<|begin_of_thought|>{R}<|end_of_thought|>{A}",
    "close_only": f"{R}</think>{A}",
    "nested": f"<think>{R} <think>inner</think> more</think>{A}",
    "solution": f"<|begin_of_thought|>{R}<|end_of_thought|><|begin_of_solution|>{A}<|end_of_solution|>",
    "harmony": f"<|channel|>analysis<|message|>{R}<|end|><|start|>assistant<|channel|>final<|message|>{A}<|return|>",
}
FORMAT_HAND = {  # one hand value per format, rotating over the modes
    "think": {"raif": 2 / 3, "raif_raw": 2.0},
    "thinking": {"drfr": 2 / 3, "all_pass_raw": 1.0},
    "reasoning": {"all_pass": 0.0, "raif_contrast": 2 / 3},
    "think_space_upper": {"raif": 2 / 3},
    "seed_think": {"drfr_raw": 1.0},
    "mistral": {"raif": 2 / 3},
    "kimi": {"raif_raw": 2.0},
    "thought": {"raif_contrast_m1": 2 / 3},
    "close_only": {"raif": 2 / 3},
    "nested": {"drfr": 2 / 3},
    "solution": {"raif": 2 / 3},
    "harmony": {"raif": 2 / 3, "drfr_contrast": 2 / 3},
}

CASES: list[Case] = [
    # ---- And ----------------------------------------------------------------------------------------
    Case("and/all", "and", A_FULL, 3, "'river' present, no comma, 10 words >= 5: all three pass",
         {"all_pass": 1.0, "drfr": 1.0, "raif": 2.0}, BASE + CONTRAST),
    Case("and/comma", "and", "We rowed down the river, slowly.", 2,
         "'river' present (c1), a comma (c2 fails), 6 words (c3 passes): 2 of 3",
         {"all_pass": 0.0, "drfr": 2 / 3, "raif": 2 / 3}, BASE + CONTRAST),
    Case("and/one", "and", "Calm water, wide banks, herons.", 1,
         "no 'river' (c1 fails), commas (c2 fails), 5 words: 'at least 5' holds (c3 passes): 1 of 3",
         {"drfr": 1 / 3, "raif": 1 / 3}, BASE + CONTRAST),
    Case("and/none", "and", "Lake, pond.", 0, "no 'river', a comma, 2 words: nothing passes; RAIF gives -2",
         {"raif": -2.0, "drfr": 0.0}, BASE + CONTRAST),
    Case("and/empty", "and", "", 0, "empty answer: every check fails, even 'no comma' (IFEval's rule)",
         {"raif": -2.0, "all_pass": 0.0}, BASE + RAW + CONTRAST, k_raw=0, answered=False),
    Case("and/none_completion", "and", None, 0, "a None completion scores as the empty answer",
         {"raif": -2.0, "drfr": 0.0, "raif_contrast": -2.0}, BASE + RAW + CONTRAST, k_raw=0, answered=False),
    Case("and/whitespace", "and", "  \n\t ", 0, "whitespace only is no answer: every check fails",
         {"raif": -2.0}, BASE + CONTRAST, answered=False),
    Case("and/reasoning_pass", "and", f"<think>plan the trip</think>{A_FULL}", 3,
         "the answer after the think block passes all three; it reasoned, and k=3 >= baseline 1.5: not masked",
         {"raif_contrast": 2.0, "raif": 2.0}, BASE + RAW + CONTRAST, k_raw=3, reasoned=True),
    Case("and/reasoning_masked", "and", f"<think>{R}</think>Lake, pond.", 0,
         "answer 'Lake, pond.' passes nothing (k=0); it reasoned and answered, k=0 < baseline 1.5, so contrast "
         "masks it to masked_score (0.0, or -1.0); the raw text has 'river' and 'no comma' fails on the answer's "
         "comma, and its 12 words pass c3: k_raw=2",
         {"raif_contrast": 0.0, "raif_contrast_m1": -1.0, "raif": -2.0, "drfr_contrast": 0.0, "raif_raw": 2 / 3},
         BASE + RAW + CONTRAST, k_raw=2, reasoned=True),
    Case("and/reasoning_one", "and", f"<think>{R}</think>Calm water, wide banks, herons.", 1,
         "the answer passes c3 only (k=1 < 1.5): masked under contrast; drfr contrast masks to 0.0 too",
         {"drfr_contrast": 0.0, "drfr": 1 / 3}, BASE + CONTRAST, reasoned=True),
    Case("and/empty_think", "and", f"<think>\n\n</think>{A}", 2,
         "an empty think block forces a direct answer: not reasoning, so contrast never masks it; "
         "the answer lacks 'river': k=2 < 1.5 is false anyway; raw text: no 'river' either, k_raw=2",
         {"raif_contrast": 2 / 3, "raif_raw": 2 / 3}, BASE + RAW + CONTRAST, k_raw=2),
    Case("and/empty_think_low", "and", "<think></think>Calm water, wide banks, herons.", 1,
         "empty think block: no reasoning, so k=1 < 1.5 is not masked under contrast",
         {"raif_contrast": 1 / 3}, BASE + CONTRAST),
    Case("and/unclosed", "and", f"<think>{R}", 0,
         "an unclosed think block is all reasoning: no answer, every check fails (k=0); contrast keeps -2 for a "
         "reasoning completion without an answer; the raw text has 'river', no comma and 10 words: k_raw=3",
         {"raif_contrast": -2.0, "raif_contrast_m1": -2.0, "raif_raw": 2.0, "all_pass": 0.0},
         BASE + RAW + CONTRAST, k_raw=3, reasoned=True, answered=False),
    Case("and/harmony_no_final", "and", f"<|channel|>analysis<|message|>{R}<|end|>", 0,
         "harmony output without a final channel has an empty answer: every check fails; contrast keeps -2",
         {"raif": -2.0, "raif_contrast": -2.0}, BASE + CONTRAST, reasoned=True, answered=False),
    # ---- reasoning formats: the same reasoning and answer in every format we strip --------------------
    *[
        Case(f"and/format_{fmt}", "and", text, 2, FMT_WHY.format(fmt=fmt), {"all_pass": 0.0, **FORMAT_HAND[fmt]},
             BASE + RAW + CONTRAST, k_raw=3, reasoned=True)
        for fmt, text in FORMATS.items()
    ],
    # ---- Chain ---------------------------------------------------------------------------------------
    Case("chain/all", "chain", "### Part 1\nThe river was wide.\n\n### Part 2\nWe went home. The end.", 3,
         "part 1 names the river; part 2 ends with 'The end.' and has no comma: 3 of 3",
         {"raif": 2.0, "all_pass": 1.0}, BASE + CONTRAST),
    Case("chain/gated", "chain", "### Part 1\nThe lake was wide.\n\n### Part 2\nWe went home. The end.", 0,
         "part 1 lacks 'river' (c1 fails); part 2 passes c2 and c3 on its own, but both depend on c1: gated, 0 of 3",
         {"raif": -2.0, "drfr": 0.0, "all_pass": 0.0}, BASE + CONTRAST),
    Case("chain/comma", "chain", "### Part 1\nThe river was wide.\n\n### Part 2\nWe went home, tired. The end.", 2,
         "c1 and c2 pass; part 2 has a comma (c3 fails): 2 of 3",
         {"drfr": 2 / 3, "raif": 2 / 3}, BASE + CONTRAST),
    Case("chain/missing_part", "chain", "### Part 1\nThe river was wide.", 1,
         "part 2 is missing: c2 and c3 fail ('part 2 not found'); c1 passes: 1 of 3",
         {"raif": 1 / 3, "drfr": 1 / 3}, BASE + CONTRAST),
    Case("chain/no_markers", "chain", "The river was wide. The end.", 0,
         "no '### Part' lines: every part-scoped check fails",
         {"raif": -2.0}, BASE + CONTRAST),
    Case("chain/reasoning_pass", "chain",
         "<think>Two parts, river first.</think>### Part 1\nThe river was wide.\n\n### Part 2\nWe went home. The end.",
         3, "the answer after the think block is chain/all: 3 of 3 >= baseline 3, not masked",
         {"raif_contrast": 2.0}, BASE + CONTRAST, reasoned=True),
    Case("chain/reasoning_masked", "chain",
         "<think>Two parts.</think>### Part 1\nThe river was wide.\n\n### Part 2\nWe went home, tired. The end.",
         2, "the answer is chain/comma (k=2); it reasoned and 2 < baseline 3: masked",
         {"raif_contrast": 0.0, "raif_contrast_m1": -1.0, "raif": 2 / 3}, BASE + CONTRAST, reasoned=True),
    Case("chain/parts_in_reasoning", "chain",
         "<think>\n### Part 1\nthe river\n### Part 2\nThe end.\n</think>\nThe river was wide. The end.", 0,
         "the part headings are only inside the reasoning: the answer has none, so every check fails",
         {"raif": -2.0, "raif_contrast": 0.0}, BASE + CONTRAST, reasoned=True),
    # ---- Selection -----------------------------------------------------------------------------------
    Case("selection/right", "selection", "### Case B\nThe river runs north.", 3,
         "names case B only, with text after it (c1); 'river' (c2) and no comma (c3): 3 of 3",
         {"raif": 2.0, "all_pass": 1.0, "drfr": 1.0}),
    Case("selection/wrong_case", "selection", "### Case A\nThe river runs north.", 0,
         "follows case A: c1 fails; c2 and c3 pass alone but depend on c1: 0 of 3",
         {"raif": -2.0, "drfr": 0.0}),
    Case("selection/both_cases", "selection", "### Case A\nMaybe this.\n\n### Case B\nThe river runs north.", 0,
         "names both cases: c1 fails ('several cases followed'), the rest are gated: 0 of 3",
         {"raif": -2.0}),
    Case("selection/no_case", "selection", "The river runs north.", 0,
         "no case line: c1 fails, the rest are gated", {"all_pass": 0.0, "raif": -2.0}),
    Case("selection/branch_fails", "selection", "### Case B\nThe lake, calm.", 1,
         "case B followed (c1 passes); no 'river' and a comma: c2 and c3 fail: 1 of 3",
         {"raif": 1 / 3}),
    Case("selection/case_only", "selection", "### Case B", 0,
         "case B named but nothing follows (c1 fails); the span without the marker is empty: 0 of 3",
         {"raif": -2.0}),
    Case("selection/case_in_reasoning", "selection",
         "<think>\n### Case A\nno, the condition selects B\n</think>\n### Case B\nThe river runs north.", 3,
         "stripped: the answer is selection/right (3 of 3). Raw: the decision checker reads the visible text "
         "(reasoning removed), so only case B counts (c1 passes), 'river' passes, but the reasoning's comma "
         "fails c3: k_raw=2",
         {"raif": 2.0, "raif_raw": 2 / 3, "all_pass_raw": 0.0}, BASE + RAW, k_raw=2, reasoned=True),
    # ---- nested: Chain > Selection > And --------------------------------------------------------------
    Case("nested/all", "nested", "### Part 1\nThe river bends.\n\n### Part 2\n### Case A\nWe crossed the old bridge.",
         4, "part 1 names the river; part 2 follows case A and has 'bridge' and no comma: 4 of 4",
         {"raif": 2.0, "all_pass": 1.0}),
    Case("nested/wrong_case", "nested",
         "### Part 1\nThe river bends.\n\n### Part 2\n### Case B\nWe crossed the old bridge.", 1,
         "c1 passes; part 2 follows case B (c2 fails), so c3 and c4 are gated: 1 of 4",
         {"raif": 0.25, "drfr": 0.25}),
    Case("nested/step1_fails", "nested",
         "### Part 1\nThe stream bends.\n\n### Part 2\n### Case A\nWe crossed the old bridge.", 0,
         "part 1 lacks 'river': c1 fails and every later check depends on it: 0 of 4",
         {"raif": -2.0, "drfr": 0.0}),
    Case("nested/branch_half", "nested",
         "### Part 1\nThe river bends.\n\n### Part 2\n### Case A\nWe crossed the old ford, slowly.", 2,
         "c1 and c2 pass; no 'bridge' and a comma: c3 and c4 fail: 2 of 4",
         {"raif": 0.5, "drfr": 0.5}),
    Case("nested/branch_three", "nested",
         "### Part 1\nThe river bends.\n\n### Part 2\n### Case A\nWe crossed the bridge, slowly.", 3,
         "c1, c2 and c3 pass; the comma fails c4: 3 of 4",
         {"raif": 0.75, "all_pass": 0.0}),
    Case("nested/empty", "nested", "", 0, "empty answer: all four fail", {"raif": -2.0, "drfr": 0.0, "all_pass": 0.0}),
    # ---- judge checks ---------------------------------------------------------------------------------
    Case("judge/code_pass", "judge", "The river sparkled and we laughed all day.", 1,
         "c1 passes; without a judge c2 is skipped and never counts (1 of 2); a YES judge makes 2 of 2, "
         "a NO judge 1 of 2",
         {"raif": 0.5, "all_pass": 0.0, "raif_judge_yes": 2.0, "raif_judge_no": 0.5, "all_pass_judge_yes": 1.0},
         BASE + JUDGED, k_judge={"yes": 2, "no": 1}),
    Case("judge/code_fail", "judge", "A quiet lake at noon.", 0,
         "no 'river' (c1 fails); without a judge c2 is skipped: 0 of 2 (-2); a YES judge: 1 of 2",
         {"raif": -2.0, "raif_judge_yes": 0.5, "raif_judge_no": -2.0},
         BASE + JUDGED, k_judge={"yes": 1, "no": 0}),
    Case("judge/empty", "judge", None, 0,
         "no answer: every check fails, the judge check too, whatever the judge would say",
         {"raif_judge_yes": -2.0, "all_pass_judge_yes": 0.0}, BASE + JUDGED, k_judge={"yes": 0, "no": 0},
         answered=False),
]  # fmt: skip


# --- derivation -------------------------------------------------------------------------------------------


def mode(name: str) -> dict[str, Any]:
    """A mode's full settings."""
    return {**DEFAULT_MODE, **MODES[name]}


def derive(case: Case, mode_name: str) -> float:
    """The expected reward of `case` under a mode, from its hand-counted k (see the module docstring)."""
    m = mode(mode_name)
    n = len(PLANS[case.plan]["checks"])
    if m["judge"] is not None:
        k = case.k_judge[m["judge"]]
    elif not m["strip_think"]:
        k = case.k if case.k_raw is None else case.k_raw
    else:
        k = case.k
    if m["score"] == "all_pass":
        value = 1.0 if k == n else 0.0
    elif m["score"] == "drfr":
        value = k / n
    else:
        value = 2.0 if k == n else -2.0 if k == 0 else k / n
    if m["contrast"] and case.reasoned and case.answered:
        baseline = BASELINES[case.plan]
        assert baseline is not None, f"{case.name}: contrast needs a baseline"
        if k < baseline:
            value = float(m["masked_score"])
    return value


def rows() -> list[dict[str, Any]]:
    """Every row of the golden file; raises AssertionError when a hand value and the derivation disagree."""
    out = []
    for case in CASES:
        unknown = set(case.hand) - set(case.modes)
        assert not unknown, f"{case.name}: hand values for modes it does not list: {unknown}"
        for name in case.modes:
            value = derive(case, name)
            if name in case.hand:
                assert abs(case.hand[name] - value) < 1e-12, f"{case.name} {name}: hand {case.hand[name]} != {value}"
            out.append(
                {
                    "id": f"{case.name}:{name}",
                    "ground_truth": ground_truth(case.plan),
                    "response": case.response,
                    "mode": mode(name),
                    "expected": value,
                    "source": "hand" if name in case.hand else "derived",
                    "why": case.why if name in case.hand else f"derived from k by the {name} formula; k: {case.why}",
                }
            )
    return out


def judge_saying(answer: str | None) -> Any:
    """The scripted judge of a mode's `judge` value: None (no judge), or one that answers "yes" / "no" to all."""
    if answer is None:
        return None
    from pipeline.checks.registry import CheckResult  # scoring only: no expected value uses pipeline code

    def judge(queries: Any) -> list[Any]:
        return [CheckResult(answer == "yes", f"scripted {answer}") for _ in queries]

    return judge


def render() -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows())


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    data = rows()
    print(f"wrote {len(data)} rows ({sum(r['source'] == 'hand' for r in data)} by hand) to {OUT}")
