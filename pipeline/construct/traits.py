"""What a taxonomy entry says about its constraint beyond parameters and phrasings, for the code that reasons about
constraints side by side: the counts it bounds (`counts`, read by pipeline/construct/feasibility.py), the text the
answer holds verbatim (`verbatim`, for the letters it brings), the words it requires or bans (`words`, for clashes
between constraints on one path, pipeline/construct/compose.py) and the seed forms it cannot take (`unfit_for`,
pipeline/construct/seed_tags.py). The loader reads them here, checks them against the entry's parameters and
completes `words` from the counts and verbatim texts, so no module keeps a list of constraint ids. Its
`vocabulary` (where the constraint type comes from) is read here too.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from pipeline.models import VOCABULARIES, CountBound, ParamSpec, VerbatimText, WordRoles

TRAIT_KEYS = ("counts", "verbatim", "words", "unfit_for")

# Units of a count: each is what one kind of checker counts (see feasibility.py for how they relate).
SCALAR_UNITS = {
    "words_w": "words as runs of \\w (IFEval)",
    "words_ws": "whitespace-separated tokens",
    "words_ours": "words as our word splitter finds them",
    "distinct_words": "distinct words",
    "chars": "characters",
    "cjk_chars": "CJK characters",
    "ascii_letters": "ASCII letters",
    "sentences_punkt": "sentences as NLTK Punkt splits them (IFEval)",
    "sentences_ours": "sentences as our splitter finds them",
    "questions": "sentences ending in a question mark",
    "numbers": "numbers",
    "paragraphs_blank": "paragraphs separated by blank lines",
    "paragraphs_stars": "paragraphs separated by *** (IFEval)",
    "paragraphs_nn": "paragraphs separated by \\n\\n (IFEval)",
    "bullets": "bullet lines",
    "numbered_items": "numbered list items",
    "highlights": "highlighted *spans*",
    "sections": "sections",
    "headings": "markdown headings",
    "placeholders": "[placeholders]",
}
PER_WORD_UNITS = {
    "word": "whole-word occurrences of each word of `of`",
    "sub": "case-insensitive substring occurrences of each word of `of`",
    "letter": "occurrences of the letter `of`",
}
SET_UNITS = {"keywords_present": "how many of the words of `of` occur, between `min` and `max`"}
UNITS = {**SCALAR_UNITS, **PER_WORD_UNITS, **SET_UNITS}
# Units whose words a constraint asks the answer to use (or, counted at most 0 times, bans).
WORD_UNITS = frozenset({"word", "sub", "keywords_present"})

# Seed forms by the group an entry names in `unfit_for` (pipeline/construct/seed_tags.py has the rule of each).
SEED_FORM_GROUPS: dict[str, frozenset[str]] = {
    "verse": frozenset({"haiku", "limerick", "poem"}),
    "fixed_verse": frozenset({"haiku", "limerick"}),
    "code": frozenset({"code"}),
}

_TEXT_TYPES = frozenset({"word", "words", "text", "choice", "const", "context"})


def parse_traits(entry: dict[str, Any], params: list[ParamSpec], problems: list[str]) -> dict[str, Any]:
    """The trait fields of a ConstraintSpec from its YAML entry (`words` still without what the counts imply);
    every problem is appended to `problems` with its fix."""
    out: dict[str, Any] = {}
    for key, model in (("counts", CountBound), ("verbatim", VerbatimText)):
        raw = entry.get(key, [])
        if not isinstance(raw, list):
            problems.append(f"'{key}' must be a list")
            out[key] = []
            continue
        items = []
        for k, item in enumerate(raw):
            if key == "verbatim" and isinstance(item, str):
                item = {"param": item}
            try:
                items.append(model.model_validate(item))
            except ValidationError as exc:
                problems.append(f"{key} #{k + 1}: {_first_error(exc)}")
        out[key] = items
    try:
        out["words"] = WordRoles.model_validate(entry.get("words") or {})
    except ValidationError as exc:
        problems.append(f"words: {_first_error(exc)}; write words: {{requires: [param, ...], bans: [param, ...]}}")
        out["words"] = WordRoles()
    out["unfit_for"] = unfit_groups(entry.get("unfit_for", []), problems)
    by_name = {p.name: p for p in params}
    for k, bound in enumerate(out.get("counts", [])):
        problems.extend(f"counts #{k + 1} ({bound.unit}): {m}" for m in _bound_problems(bound, by_name))
    for k, text in enumerate(out.get("verbatim", [])):
        problems.extend(f"verbatim #{k + 1}: {m}" for m in _verbatim_problems(text, by_name))
    for role in ("requires", "bans"):
        unknown = [n for n in getattr(out["words"], role) if n not in by_name]
        if unknown:
            problems.append(f"words.{role} names unknown parameter(s) {unknown}")
    return out


def unfit_groups(raw: Any, problems: list[str]) -> list[str]:
    """An `unfit_for` list (of an entry or a dimension) in the fixed order of SEED_FORM_GROUPS."""
    known = list(SEED_FORM_GROUPS)
    if not isinstance(raw, list) or not all(isinstance(g, str) for g in raw):
        problems.append(f"'unfit_for' must be a list of seed form groups ({', '.join(known)})")
        return []
    unknown = [g for g in raw if g not in SEED_FORM_GROUPS]
    if unknown:
        problems.append(f"unfit_for: unknown seed form group(s) {unknown}; known: {', '.join(known)}")
    return [g for g in known if g in raw]


def complete_words(params: list[ParamSpec], traits: dict[str, Any]) -> WordRoles:
    """`words` with what the counts and verbatim texts already say: a word counted by a word unit is required, or
    banned when it may occur at most 0 times; text held verbatim is required. In parameter order."""
    words: WordRoles = traits["words"]
    requires, bans = set(words.requires), set(words.bans)
    for bound in traits.get("counts", []):
        if bound.unit in WORD_UNITS and bound.of is not None:
            banned = bound.max == 0 and bound.min is None and bound.exactly is None and bound.relation is None
            (bans if banned else requires).add(bound.of)
    requires.update(text.param for text in traits.get("verbatim", []))
    order = [p.name for p in params]
    return WordRoles(requires=[n for n in order if n in requires], bans=[n for n in order if n in bans])


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


def _limit_problem(name: str, value: int | str | None, params: dict[str, ParamSpec]) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(value, int) and value < 0):
        return f"{name} must be a number >= 0 or the name of an int parameter, got {value!r}"
    if isinstance(value, str) and (value not in params or params[value].type != "int"):
        return f"{name} {value!r} must name an int parameter of the entry"
    return None


def _bound_problems(bound: CountBound, params: dict[str, ParamSpec]) -> list[str]:
    out = []
    if bound.unit not in UNITS:
        return [f"unknown unit; known: {', '.join(UNITS)}"]
    if bound.unit in SCALAR_UNITS and bound.of is not None:
        out.append("a whole-text unit takes no 'of'")
    if bound.unit not in SCALAR_UNITS and (bound.of not in params or params[bound.of].type not in _TEXT_TYPES):
        out.append(f"'of' must name the entry's parameter holding the words, got {bound.of!r}")
    forms = [bound.relation is not None or bound.n is not None, bound.exactly is not None]
    forms.append(bound.min is not None or bound.max is not None)
    if sum(forms) != 1:
        out.append("give exactly one of: relation and n, exactly, min and/or max")
    if bound.unit in SET_UNITS and (bound.min is None or bound.max is None):
        out.append("needs both min and max")
    if (bound.relation is None) != (bound.n is None):
        out.append("'relation' and 'n' go together")
    if bound.relation is not None and bound.relation not in params:
        out.append(f"relation {bound.relation!r} must name the parameter holding 'less than' / 'at least'")
    for name in ("min", "max", "exactly", "n"):
        problem = _limit_problem(name, getattr(bound, name), params)
        if problem:
            out.append(problem)
    return out


def _verbatim_problems(text: VerbatimText, params: dict[str, ParamSpec]) -> list[str]:
    out = []
    if text.param not in params or params[text.param].type not in _TEXT_TYPES:
        out.append(f"{text.param!r} must name a text parameter of the entry")
    problem = _limit_problem("times", text.times, params)
    return [*out, problem] if problem else out


def entry_vocabulary(entry: dict[str, Any], file_vocabulary: Any, problems: list[str]) -> Any:
    """The entry's own `vocabulary:`, else its file's; exactly one of the known vocabularies."""
    own = entry.get("vocabulary")
    if own is None and file_vocabulary is None:
        problems.append(
            f"no vocabulary: give the file a top-level 'vocabulary:' or the entry its own "
            f"(one of {', '.join(VOCABULARIES)})"
        )
    value = file_vocabulary if own is None else own
    if value is not None and value not in VOCABULARIES:
        where = "its own 'vocabulary:'" if own is not None else "the file's top-level 'vocabulary:'"
        problems.append(f"unknown vocabulary {value!r} ({where}); allowed: {', '.join(VOCABULARIES)}")
    return value
