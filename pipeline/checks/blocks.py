"""Checkers: data in fenced blocks (CSV, JSON, YAML) and fenced code blocks.

A fenced block opens with three or more backticks (or tildes) at the start of a line (at most three spaces
before them); its language tag is the word after them (```json); it closes with a line of the same fence
character, at least as long. An unclosed fence is not a block.

Hardening against gamed answers (see `views`): blocks are read in the visible answer, so a block in a
reasoning block or an HTML comment earns nothing; the rules that name "the" ```json, ```csv or ```yaml
block require exactly one, so a response cannot offer several shapes and let one pass; JSON parses strictly
(no duplicate keys, no NaN or Infinity); every value, field and block needs content (a dash or an empty
string is not content).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from pipeline.checks import views
from pipeline.checks.counting import want_count
from pipeline.checks.ifeval_args import fail, want_str
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import short

_OPEN_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)[^`]*$")
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_YAML_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9_ -]*?)[ \t]*:[ \t]+(\S.*)$")
VALUE_TYPES = ("number", "string", "array", "boolean")


# --- Fenced blocks ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    lang: str  # the language tag, lowercased ("" when there is none)
    body: str


def fenced_blocks(text: str) -> tuple[list[Block], bool]:
    """The closed fenced blocks of text, and whether an unclosed fence was left at the end."""
    blocks: list[Block] = []
    fence: str | None = None
    lang = ""
    body: list[str] = []
    for line in text.split("\n"):
        if fence is None:
            m = _OPEN_FENCE.match(line)
            if m:
                fence, lang, body = m.group(1), m.group(2).lower(), []
            continue
        stripped = line.strip()
        if (
            stripped
            and set(stripped) == {fence[0]}
            and len(stripped) >= len(fence)
            and len(line) - len(line.lstrip()) <= 3
        ):
            blocks.append(Block(lang, "\n".join(body)))
            fence = None
        else:
            body.append(line)
    return blocks, fence is not None


def _the_block(response: str, tags: tuple[str, ...]) -> tuple[Block | None, str]:
    """The one closed fenced block tagged with one of `tags` in the visible answer, or None and why not."""
    blocks, _ = fenced_blocks(views.visible(response))
    mine = [b for b in blocks if b.lang in tags]
    if not mine:
        return None, f"no closed ```{tags[0]} fenced block found"
    if len(mine) > 1:
        return None, f"found {len(mine)} ```{tags[0]} blocks; the answer must hold exactly one"
    return mine[0], ""


@checker("code:block_count")
def check_code_blocks(response: str, *, num_blocks: int) -> CheckResult:
    """Exactly num_blocks closed fenced blocks, each with a language tag after its opening fence and
    content inside (two letters or digits); an unclosed fence fails."""
    want = want_count("code:block_count", "num_blocks", num_blocks)
    blocks, unclosed = fenced_blocks(views.visible(response))
    if unclosed:
        return CheckResult(False, "a code fence is never closed")
    untagged = sum(1 for b in blocks if not b.lang)
    if untagged:
        return CheckResult(False, f"{untagged} code block(s) have no language tag")
    if not all(views.has_content(b.body) for b in blocks):
        return CheckResult(False, "a code block is empty")
    tags = ", ".join(b.lang for b in blocks[:5])
    return CheckResult(len(blocks) == want, f"found {len(blocks)} tagged code block(s) ({tags}), need exactly {want}")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def _json_block(response: str) -> tuple[Any, str | None]:
    """The value of the one ```json block, parsed strictly; (None, why) when there is none or it is not JSON."""
    block, why = _the_block(response, ("json",))
    if block is None:
        return None, why
    try:
        return json.loads(block.body, object_pairs_hook=_no_duplicates, parse_constant=_no_constants), None
    except RecursionError:
        return None, "the JSON is nested too deeply to parse"
    except ValueError as exc:
        return None, f"the ```json block is not valid JSON ({str(exc).split(':')[0]})"


def _filled(value: Any) -> bool:
    """A JSON value with content: not null, not a blank string, not an empty list or object."""
    if value is None:
        return False
    if isinstance(value, str):
        return views.has_content(value, 1)
    if isinstance(value, list | dict):
        return bool(value) and all(_filled(v) for v in (value.values() if isinstance(value, dict) else value))
    return True


@checker("json:array_of_objects")
def check_json_array(response: str, *, num_items: int) -> CheckResult:
    """The one ```json block holds an array of exactly num_items distinct objects that share one set of keys,
    every value filled in."""
    want = want_count("json:array_of_objects", "num_items", num_items)
    value, why = _json_block(response)
    if why:
        return CheckResult(False, why)
    if not isinstance(value, list):
        return CheckResult(False, f"the JSON value is a {type(value).__name__}, not an array")
    if not all(isinstance(v, dict) and v for v in value):
        return CheckResult(False, "not every element of the array is a non-empty object")
    if len({frozenset(v) for v in value}) > 1:
        return CheckResult(False, "the objects do not all have the same keys")
    if not all(_filled(v) for v in value):
        return CheckResult(False, "some object has an empty value")
    if len({json.dumps(v, sort_keys=True).casefold() for v in value}) != len(value):
        return CheckResult(False, "an object is repeated")
    return CheckResult(len(value) == want, f"the array holds {len(value)} object(s), need exactly {want}")


def _is_type(value: Any, kind: str) -> bool:
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str) and views.has_content(value)
    if kind == "array":
        return isinstance(value, list) and bool(value) and all(_filled(v) for v in value)
    return isinstance(value, bool)


def _json_object(response: str) -> tuple[dict[str, Any] | None, str]:
    value, why = _json_block(response)
    if why:
        return None, why
    if not isinstance(value, dict):
        return None, f"the JSON value is a {type(value).__name__}, not an object"
    return value, ""


@checker("json:typed_value")
def check_json_typed(response: str, *, key: str, value_type: str) -> CheckResult:
    """The one ```json block holds an object whose `key` has a value of the given JSON type: a number (not a
    string of digits), a non-blank string, a non-empty array, or a boolean."""
    cid = "json:typed_value"
    want_str(cid, "key", key)
    if value_type not in VALUE_TYPES:
        raise fail(cid, f"'value_type' must be one of {list(VALUE_TYPES)}, got {value_type!r}")
    obj, why = _json_object(response)
    if obj is None:
        return CheckResult(False, why)
    if key not in obj:
        return CheckResult(False, f"the object has no key {key!r} (keys: {list(obj)[:6]})")
    if not _is_type(obj[key], value_type):
        return CheckResult(False, f"{key!r} holds {short(json.dumps(obj[key]))}, not a filled-in {value_type}")
    return CheckResult(True, f"{key!r} holds a {value_type}")


def _object_depth(value: Any) -> int:
    """Levels of non-empty objects nested in one another (arrays between them add no level)."""
    if isinstance(value, dict):
        return 1 + max((_object_depth(v) for v in value.values()), default=0) if value else 0
    if isinstance(value, list):
        return max((_object_depth(v) for v in value), default=0)
    return 0


@checker("json:nesting_depth")
def check_json_depth(response: str, *, depth: int) -> CheckResult:
    """The one ```json block holds objects nested at least `depth` levels deep (an object in an object ...),
    every object along the way non-empty and every value filled in."""
    want = want_count("json:nesting_depth", "depth", depth)
    value, why = _json_block(response)
    if why:
        return CheckResult(False, why)
    if not _filled(value):
        return CheckResult(False, "the JSON has an empty value or object")
    got = _object_depth(value)
    return CheckResult(got >= want, f"objects are nested {got} level(s) deep, need at least {want}")


@checker("json:key_array")
def check_json_key_array(response: str, *, key: str, num_items: int) -> CheckResult:
    """The one ```json block holds an object whose `key` is an array of exactly num_items distinct, filled-in
    elements."""
    cid = "json:key_array"
    want_str(cid, "key", key)
    want = want_count(cid, "num_items", num_items)
    obj, why = _json_object(response)
    if obj is None:
        return CheckResult(False, why)
    items = obj.get(key)
    if not isinstance(items, list):
        return CheckResult(False, f"{key!r} is missing or not an array")
    if not all(_filled(v) for v in items):
        return CheckResult(False, f"{key!r} has an empty element")
    if len({json.dumps(v, sort_keys=True).casefold() for v in items}) != len(items):
        return CheckResult(False, f"{key!r} repeats an element")
    return CheckResult(len(items) == want, f"{key!r} holds {len(items)} element(s), need exactly {want}")


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k, v in value.items() for k in (k, *_keys(v))]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []


@checker("json:snake_case_keys")
def check_json_snake(response: str, *, min_keys: int) -> CheckResult:
    """The one ```json block uses at least min_keys distinct keys, every key at every level in snake_case
    (lowercase words joined by underscores) and at least one made of two or more words; values filled in."""
    want = want_count("json:snake_case_keys", "min_keys", min_keys)
    value, why = _json_block(response)
    if why:
        return CheckResult(False, why)
    keys = _keys(value)
    bad = [k for k in keys if not _SNAKE.match(k)]
    if bad:
        return CheckResult(False, f"key(s) not in snake_case: {', '.join(map(repr, bad[:4]))}")
    if not _filled(value):
        return CheckResult(False, "the JSON has an empty value")
    if not any("_" in k for k in keys):
        return CheckResult(False, "no key joins two words with an underscore")
    n = len(set(keys))
    return CheckResult(n >= want, f"{n} distinct snake_case key(s), need at least {want}")


# --- CSV and YAML blocks ---------------------------------------------------------------------------


@checker("csv:fenced_block")
def check_csv_block(response: str, *, num_columns: int, num_rows: int) -> CheckResult:
    """The one ```csv block is comma-separated: a header of num_columns distinct names, then exactly num_rows
    distinct data rows of num_columns fields each, every field filled and no row repeating the header; blank lines
    are ignored."""
    cid = "csv:fenced_block"
    cols = want_count(cid, "num_columns", num_columns)
    rows_wanted = want_count(cid, "num_rows", num_rows)
    block, why = _the_block(response, ("csv",))
    if block is None:
        return CheckResult(False, why)
    try:
        rows = [r for r in csv.reader(block.body.splitlines()) if any(f.strip() for f in r)]
    except csv.Error as exc:
        return CheckResult(False, f"the CSV does not parse ({exc})")
    if not rows:
        return CheckResult(False, "the ```csv block is empty")
    header, data = [f.strip().casefold() for f in rows[0]], rows[1:]
    if len(header) != cols or len(set(header)) != cols or not all(views.has_content(f, 1) for f in header):
        return CheckResult(False, f"the header has {len(header)} field(s), need {cols} distinct column names")
    for k, row in enumerate(data, 1):
        if len(row) != cols:
            return CheckResult(False, f"data row {k} has {len(row)} field(s), need {cols}")
        if not all(views.has_content(f, 1) for f in row):
            return CheckResult(False, f"data row {k} has an empty field")
        if [f.strip().casefold() for f in row] == header:
            return CheckResult(False, f"data row {k} repeats the header")
    if len({tuple(f.strip().casefold() for f in row) for row in data}) != len(data):
        return CheckResult(False, "a data row is repeated")
    n = len(data)
    return CheckResult(n == rows_wanted, f"{cols} columns and {n} data row(s), need exactly {rows_wanted} rows")


@checker("yaml:key_value_block")
def check_yaml_block(response: str, *, num_keys: int) -> CheckResult:
    """The one ```yaml (or ```yml) block is exactly num_keys lines `key: value` at the left margin (comment
    lines aside), keys distinct and every value filled in, and it parses as YAML to those keys."""
    want = want_count("yaml:key_value_block", "num_keys", num_keys)
    block, why = _the_block(response, ("yaml", "yml"))
    if block is None:
        return CheckResult(False, why)
    keys: list[str] = []
    for line in block.body.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _YAML_LINE.match(line)
        if not m:
            return CheckResult(False, f"not a 'key: value' line: {short(line)}")
        if not views.has_content(m.group(2)):
            return CheckResult(False, f"the value of {m.group(1)!r} is empty")
        keys.append(m.group(1).strip())
    if len({k.casefold() for k in keys}) != len(keys):
        return CheckResult(False, "a key is repeated")
    try:
        parsed = yaml.safe_load(block.body)
    except yaml.YAMLError as exc:
        return CheckResult(False, f"the block is not valid YAML ({str(exc).splitlines()[0]})")
    if not isinstance(parsed, dict) or len(parsed) != len(keys):
        return CheckResult(False, "the block does not parse as a flat mapping of its key lines")
    if any(v is None or (isinstance(v, str) and not views.has_content(v)) for v in parsed.values()):
        return CheckResult(False, "a value is null or empty once parsed (null, ~, '')")
    return CheckResult(len(keys) == want, f"{len(keys)} key: value line(s), need exactly {want}")
