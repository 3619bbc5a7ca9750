"""The IFEval evaluator: strict and loose verdicts, Google's `evaluation_main` file formats and report.

Reads the input JSONL (`key`, `prompt`, `instruction_id_list`, `kwargs`) and the response JSONL
(`prompt`, `response`), writes `eval_results_strict.jsonl` and `eval_results_loose.jsonl` with the same
fields and layout as the reference, and prints prompt- and instruction-level accuracy.

IFBench files (AllenAI's `evaluation_lib`, same formats) are read the same way: their keys are strings
("0"), kept as given, and their kwargs rows hold every argument name of the whole benchmark, null where
unused; the IFBench ids are checked by the checkers registered under the same ids. Both evaluators would
rebuild an instruction whose arguments include `prompt` with the item's prompt; none of IFEval's 25 or
IFBench's 58 instructions has one (the repeat instructions take `prompt_to_repeat` from the kwargs).

- strict: an empty or whitespace-only response fails every instruction; otherwise the checker decides.
- loose: an instruction passes if any of 8 variants passes (the response; without its first line, its
  last line, or both; and each of those with every `*` removed), blank variants never passing.
- kwargs: keys whose value is null are dropped before the checker is called (the published IFEval
  data lists every argument name of every instruction, null where unused; lm-eval drops them too).
- kwargs the reference accepts but our checkers refuse (an unset value it draws at random, a `letter`
  that is not a-z, ...) are resolved deterministically by `ifeval_compat.resolve`, with one warning per
  item; valid kwargs are checked exactly as the reference checks them.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.checks.patterns import PatternTooSlow, shared_budget
from pipeline.checks.registry import CheckResult, run_check
from pipeline.errors import CheckerArgumentError, CheckerNotFoundError, UserInputError
from pipeline.verify.ifeval_compat import Resolved, Verdict, resolve

STRICT_FILE = "eval_results_strict.jsonl"
LOOSE_FILE = "eval_results_loose.jsonl"


@dataclass(frozen=True, slots=True)
class InputExample:
    """One IFEval or IFBench prompt with its instructions and their kwargs."""

    key: int | str  # IFEval's keys are integers, IFBench's strings
    prompt: str
    instruction_id_list: list[str]
    kwargs: list[dict[str, Any]]
    line: int = 0  # 1-based line in the input file, for error messages


@dataclass(frozen=True, slots=True)
class OutputExample:
    """Per-prompt result, serialised with exactly the reference's fields."""

    instruction_id_list: list[str]
    prompt: str
    response: str
    follow_all_instructions: bool
    follow_instruction_list: list[bool]

    def to_json(self) -> str:
        # The reference dumps the public attributes in dir() order (alphabetical) with json's defaults.
        return json.dumps({name: getattr(self, name) for name in sorted(self.__dataclass_fields__)})


@dataclass
class Scores:
    """Accuracy counts of one mode."""

    prompt_total: int = 0
    prompt_correct: int = 0
    instruction_total: int = 0
    instruction_correct: int = 0
    tier0: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    tier1: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    @property
    def prompt_level(self) -> float:
        return self.prompt_correct / self.prompt_total if self.prompt_total else 0.0

    @property
    def instruction_level(self) -> float:
        return self.instruction_correct / self.instruction_total if self.instruction_total else 0.0


def clean_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Drop null-valued keys: IFEval and IFBench data name unused arguments with null values."""
    return {k: v for k, v in (kwargs or {}).items() if v is not None}


def loose_variants(response: str) -> list[str]:
    """The 8 responses loose mode tries, in the reference's order."""
    lines = response.split("\n")
    no_first = "\n".join(lines[1:]).strip()
    no_last = "\n".join(lines[:-1]).strip()
    no_both = "\n".join(lines[1:-1]).strip()
    plain = [response, no_first, no_last, no_both]
    starless = [v.replace("*", "") for v in plain]
    return [plain[0], starless[0], no_first, no_last, no_both, starless[1], starless[2], starless[3]]


def check_instruction(
    instruction_id: str,
    kwargs: Mapping[str, Any] | None,
    response: str,
    loose: bool = False,
    *,
    verdict: Verdict | None = None,
) -> CheckResult:
    """Verdict and evidence of one IFEval instruction on one response, in strict or loose mode.

    `verdict`, when given, decides each text instead of the checker (see `ifeval_compat`).
    """
    kw = clean_kwargs(kwargs)

    def decide(text: str) -> CheckResult:
        if verdict is None:
            return run_check(instruction_id, text, kw)
        try:
            with shared_budget():
                return verdict(text)
        except PatternTooSlow as exc:
            return CheckResult(False, f"pattern too slow: {exc}")

    if not loose:  # strict fast path: same calls and results as the loop below with one variant
        result = decide(response)  # runs on blank text too: it validates the kwargs
        return result if response and not response.isspace() else CheckResult(False, "empty response")
    with shared_budget():  # the 8 variants share one check's time budget for argument patterns
        return _first_loose_pass(decide, loose_variants(response))


def _first_loose_pass(decide: Callable[[str], CheckResult], variants: list[str]) -> CheckResult:
    """The first passing variant's result, else the first variant's failure (blank variants never pass).

    A variant equal to an earlier one (a response without `*` has 4 distinct variants, not 8) is not checked again:
    checkers are pure functions of the text, so it failed too."""
    first: CheckResult | None = None
    seen: set[str] = set()
    for i, text in enumerate(variants):
        if text in seen:
            continue
        seen.add(text)
        if not text.strip():
            decide(text)  # still validates the kwargs, like the reference's build step
            result = CheckResult(False, "empty response")
        else:
            result = decide(text)
            if result.passed:
                return result if i == 0 else CheckResult(True, f"{result.evidence} (loose variant {i})")
        first = first or result
    assert first is not None
    return first


def evaluate_instruction(
    instruction_id: str, kwargs: Mapping[str, Any] | None, response: str, loose: bool = False
) -> bool:
    """True when `response` follows the IFEval instruction (strict by default, or loose)."""
    return check_instruction(instruction_id, kwargs, response, loose).passed


def resolve_example(inp: InputExample) -> list[Resolved]:
    """The kwargs (or verdict) each instruction of a prompt is checked with; notes say what was changed."""
    return [
        resolve(iid, clean_kwargs(kw), key=inp.key, index=k)
        for k, (iid, kw) in enumerate(zip(inp.instruction_id_list, inp.kwargs, strict=True))
    ]


def evaluate_example(
    inp: InputExample, response: str, loose: bool, resolved: Sequence[Resolved] | None = None
) -> OutputExample:
    """Evaluate every instruction of one prompt (kwargs resolved like `resolve_example` unless given)."""
    plans = resolved if resolved is not None else resolve_example(inp)
    follows = [
        check_instruction(iid, r.kwargs, response, loose, verdict=r.verdict).passed
        for iid, r in zip(inp.instruction_id_list, plans, strict=True)
    ]
    return OutputExample(
        instruction_id_list=inp.instruction_id_list,
        prompt=inp.prompt,
        response=response,
        follow_all_instructions=all(follows),
        follow_instruction_list=follows,
    )


# --- files -------------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{path}: not UTF-8 text: {exc}") from None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{path}:{n}: not valid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(row, dict):
            raise UserInputError(f"{path}:{n}: each line must be a JSON object, got {type(row).__name__}")
        yield n, row


def _field(path: Path, n: int, row: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    if name not in row:
        raise UserInputError(f"{path}:{n}: missing field {name!r}")
    value = row[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise UserInputError(f"{path}:{n}: field {name!r} must be {what}, got {value!r:.80}")
    return value


def read_input_data(path: Path) -> list[InputExample]:
    """Read IFEval's (or IFBench's) input JSONL, validating every line (errors name the file and line)."""
    from pipeline.checks.registry import load_checkers

    known = load_checkers()
    out = []
    for n, row in _read_jsonl(path):
        key = _field(path, n, row, "key", (int, str), "an integer or a string")
        prompt = _field(path, n, row, "prompt", str, "a string")
        ids = _field(path, n, row, "instruction_id_list", list, "a list of instruction ids")
        kwargs = _field(path, n, row, "kwargs", list, "a list of objects")
        if len(kwargs) != len(ids):
            raise UserInputError(f"{path}:{n}: {len(ids)} instruction ids but {len(kwargs)} kwargs objects")
        for iid, kw in zip(ids, kwargs, strict=True):
            if not isinstance(iid, str) or iid not in known:
                raise UserInputError(f"{path}:{n}: unknown instruction id {iid!r}")
            if kw is not None and not isinstance(kw, dict):
                raise UserInputError(f"{path}:{n}: kwargs for {iid!r} must be an object, got {kw!r:.80}")
        out.append(InputExample(key, prompt, ids, [dict(kw or {}) for kw in kwargs], line=n))
    if not out:
        raise UserInputError(f"{path}: no input examples")
    return out


def read_responses(path: Path) -> dict[str, str]:
    """Read the response JSONL into prompt -> response (a later line for the same prompt wins, as in the reference)."""
    out: dict[str, str] = {}
    for n, row in _read_jsonl(path):
        prompt = _field(path, n, row, "prompt", str, "a string")
        out[prompt] = _field(path, n, row, "response", str, "a string")
    return out


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def evaluate_files(
    input_path: Path,
    response_path: Path,
    output_dir: Path,
    echo: Callable[[str], None] = print,
    warn: Callable[[str], None] = _warn,
) -> dict[str, Scores]:
    """Evaluate like Google's `evaluation_main`: write both result files and print both reports.

    An item whose kwargs had to be resolved (see `ifeval_compat`) gets one warning saying how.
    """
    inputs = read_input_data(input_path)
    responses = read_responses(response_path)
    missing = [inp for inp in inputs if inp.prompt not in responses]
    if missing:
        first = missing[0]
        raise UserInputError(
            f"{response_path}: no response for {len(missing)} prompt(s); first: key {first.key} "
            f"({input_path}:{first.line}) prompt {first.prompt[:60]!r}"
        )
    plans = {}
    for inp in inputs:
        try:
            plans[inp.key, inp.line] = resolved = resolve_example(inp)
        except (CheckerArgumentError, CheckerNotFoundError) as exc:
            raise UserInputError(f"{input_path}:{inp.line}: key {inp.key}: {exc}") from None
        notes = [n for r in resolved for n in r.notes]
        if notes:
            warn(
                f"warning: {input_path}:{inp.line}: key {inp.key}: "
                "outside our taxonomy's ranges, decided as documented: " + "; ".join(notes)
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Scores] = {}
    for name, loose in ((STRICT_FILE, False), (LOOSE_FILE, True)):
        outputs = []
        for inp in inputs:
            try:
                outputs.append(evaluate_example(inp, responses[inp.prompt], loose, plans[inp.key, inp.line]))
            except (CheckerArgumentError, CheckerNotFoundError) as exc:
                raise UserInputError(f"{input_path}:{inp.line}: key {inp.key}: {exc}") from None
        target = output_dir / name
        tmp = target.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(o.to_json() + "\n" for o in outputs), encoding="utf-8")
        tmp.replace(target)
        scores = score(outputs)
        results["loose" if loose else "strict"] = scores
        echo("=" * 64)
        echo(f"{target} Accuracy Scores:")
        for line in report_lines(scores):
            echo(line)
    s, lo = results["strict"], results["loose"]
    echo("=" * 64)
    echo(
        f"prompt-level strict {s.prompt_level:.4f}  instruction-level strict {s.instruction_level:.4f}  "
        f"prompt-level loose {lo.prompt_level:.4f}  instruction-level loose {lo.instruction_level:.4f}"
    )
    return results


def score(outputs: Iterable[OutputExample]) -> Scores:
    """Prompt-level, instruction-level, per-category (tier0) and per-id (tier1) counts."""
    s = Scores()
    for o in outputs:
        s.prompt_total += 1
        s.prompt_correct += all(o.follow_instruction_list)
        s.instruction_total += len(o.instruction_id_list)
        s.instruction_correct += sum(o.follow_instruction_list)
        for iid, ok in zip(o.instruction_id_list, o.follow_instruction_list, strict=True):
            for tier, k in ((s.tier0, iid.split(":")[0]), (s.tier1, iid)):
                tier[k][0] += 1
                tier[k][1] += ok
    return s


def report_lines(s: Scores) -> list[str]:
    """The reference's report: prompt-level, instruction-level, then per category and per id."""
    lines = [f"prompt-level: {s.prompt_level}", f"instruction-level: {s.instruction_level}", ""]
    lines += [f"{k} {c / t}" for k, (t, c) in sorted(s.tier0.items())]
    lines.append("")
    lines += [f"{k} {c / t}" for k, (t, c) in sorted(s.tier1.items())]
    return lines
