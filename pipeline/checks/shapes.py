"""Checkers: the shape of an answer (lists, sections, ordering, conditional formatting, blockquotes).

The units are defined on lines, so an instruction can state them exactly:

- a list item is a line starting with `-`, `*` or `+` (a bullet) or with `1.` / `1)` (a numbered item) and
  a space; a checkbox item is a bullet followed by `[ ]` or `[x]`; lines such as `* * *` are rules, not items;
- a list is read as markdown renders it: a line of text right after an item continues the item, and a
  list ends at a heading, quote, rule or unindented text after a blank line; a top-level item of the other
  kind (bullet or numbered) starts a new list; its top level is its least indented items, and an item
  indented under another is one level deeper (levels come from the nesting, not from the raw amount of
  indentation);
- a heading is a line with 1-6 `#` and a space; its section is the text up to the next heading;
- a paragraph is a block of lines between blank lines.

Hardening against gamed answers (see `views`): structure is read in the visible answer outside fenced code
blocks, so reasoning, HTML comments and code earn nothing; items, headings and sections need real content
(two letters or digits); a rule over "every" item or paragraph applies to all of them, so adding a second
list cannot hide a broken first one; a condition that triggers a format (a word that is mentioned) is read
through look-alike letters, so a disguised mention still triggers it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from itertools import pairwise

from pipeline.checks import views
from pipeline.checks.counting import want_count
from pipeline.checks.ifeval_args import fail, want_str, want_str_list
from pipeline.checks.registry import CheckResult, checker
from pipeline.checks.rules import keyword_pattern, short

_ITEM = re.compile(r"^([ \t]*)([-*+]|\d{1,9}[.)])[ \t]+(\S.*)$")
_RULE = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_CHECKBOX = re.compile(r"^\[([ xX])\][ \t]+(\S.*)$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_NUMBERED_TITLE = re.compile(r"^(\d{1,3})[.):][ \t]+(\S.*)$")
_BOLD_TERM = re.compile(r"^(?:\*\*|__)(?=\S)([^*_\n]+?)(:?)(?:\*\*|__)[ \t]*(:?)[ \t]*(.*)$")
_YEAR_LEAD = re.compile(r"^[*_]{0,2}(\d{4})[*_]{0,2}\s*(?:[:\u2013\u2014-]|\s)\s*(\S.*)$")
_WHOLE_BOLD = re.compile(r"^(\*\*|__)(?=\S)(.+)(?<=\S)\1$", re.DOTALL)
_ITALIC = re.compile(
    r"(?<![*\w])\*(?![\s*])([^*\n]+?)(?<![\s*])\*(?![*\w])|(?<![_\w])_(?![\s_])([^_\n]+?)(?<![\s_])_(?![_\w])"
)
ENDINGS = (".", ";")


def _lines(response: str) -> list[str]:
    """The lines markdown structure is read from: visible answer, fenced blocks blanked out."""
    return views.unfenced(views.visible(response)).split("\n")


# --- Lists -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    line: int
    level: int  # 1 = top level of its list
    marker: str
    text: str

    @property
    def numbered(self) -> bool:
        return self.marker[0].isdigit()


def lists(response: str) -> list[list[Item]]:
    """The lists of the visible answer (outside code blocks), each as its items in order.

    As markdown renders them: a line of text right after an item (or indented after a blank line) continues
    that item; a heading, quote, rule or unindented text after a blank line ends the list; a top-level item of
    the other kind (bullet after numbered or the reverse) starts a new list.
    """
    found: list[list[Item]] = []
    current: list[Item] = []
    indents: list[int] = []
    blank_before = False
    for i, line in enumerate(_lines(response)):
        stripped = line.strip()
        m = _ITEM.match(line)
        if m and not _RULE.match(line):
            indent = len(m.group(1).expandtabs(4))
            if current and indent <= indents[0] and m.group(2)[0].isdigit() != current[0].numbered:
                found.append(current)
                current, indents = [], []
            while indents and indent < indents[-1]:
                indents.pop()
            if not indents or indent > indents[-1]:
                indents.append(indent)
            current.append(Item(i, len(indents), m.group(2), stripped[len(m.group(2)) :].strip()))
        elif stripped and current and _continues(line, blank_before):
            current[-1] = replace(current[-1], text=f"{current[-1].text} {stripped}")
        elif stripped:
            if current:
                found.append(current)
            current, indents = [], []
        blank_before = not stripped
    if current:
        found.append(current)
    return found


def _continues(line: str, blank_before: bool) -> bool:
    """Whether a text line goes on with the list item above it (lazy or indented continuation)."""
    if _HEADING.match(line) or _RULE.match(line) or line.lstrip().startswith(">"):
        return False
    return not blank_before or line[:1] in " \t"


def _top(items: list[Item]) -> list[Item]:
    return [it for it in items if it.level == 1]


def _empty_item_failure(all_lists: list[list[Item]]) -> CheckResult | None:
    """The failure of a list check whose lists hold an item without content, else None."""
    empty = next((it for items in all_lists for it in items if not views.has_content(it.text)), None)
    if empty is None:
        return None
    return CheckResult(False, f"an item has no content: {short(empty.marker + ' ' + empty.text)}")


@checker("list:nesting_depth")
def check_nesting_depth(response: str, *, depth: int) -> CheckResult:
    """A list nested exactly `depth` levels deep: some item sits `depth` levels down (each level indented
    under an item of the level above) and none deeper; every item has content."""
    want = want_count("list:nesting_depth", "depth", depth)
    found = lists(response)
    if not found:
        return CheckResult(False, "no list found")
    if failure := _empty_item_failure(found):
        return failure
    deepest = max(it.level for items in found for it in items)
    return CheckResult(deepest == want, f"the deepest item is at level {deepest}, need exactly {want}")


@checker("list:uniform_lists")
def check_uniform_lists(response: str, *, num_lists: int, num_items: int) -> CheckResult:
    """Exactly num_lists lists, separated by text, each with exactly num_items distinct top-level items with
    content."""
    cid = "list:uniform_lists"
    n_lists = want_count(cid, "num_lists", num_lists)
    n_items = want_count(cid, "num_items", num_items)
    found = lists(response)
    if failure := _empty_item_failure(found):
        return failure
    if len(found) != n_lists:
        return CheckResult(False, f"found {len(found)} separate list(s), need exactly {n_lists}")
    sizes = [len(_top(items)) for items in found]
    if any(s != n_items for s in sizes):
        return CheckResult(False, f"the lists have {sizes} top-level items, need {n_items} each")
    if any(len({_item_key(it.text) for it in _top(items)}) != n_items for items in found):
        return CheckResult(False, "a list repeats an item")
    return CheckResult(True, f"{n_lists} lists of {n_items} items each")


@checker("list:item_endings")
def check_item_endings(response: str, *, mark: str) -> CheckResult:
    """At least 3 list items, and every item (at any level) ends with `mark` (closing bold/italic marks after
    it allowed)."""
    if mark not in ENDINGS:
        raise fail("list:item_endings", f"'mark' must be one of {list(ENDINGS)}, got {mark!r}")
    items = [it for items in lists(response) for it in items]
    if len(items) < 3:
        return CheckResult(False, f"found {len(items)} list item(s), need at least 3")
    for it in items:
        body = it.text.rstrip("*_ \t")
        if not views.has_content(body) or not body.endswith(mark) or body.endswith(mark * 2):
            return CheckResult(False, f"an item does not end with {mark!r}: {short(it.text)}")
    return CheckResult(True, f"all {len(items)} items end with {mark!r}")


def _item_key(text: str) -> str:
    return " ".join(views.WORD.findall(views.fold(text).casefold()))


@checker("list:alphabetical_items")
def check_alphabetical(response: str, *, min_items: int) -> CheckResult:
    """Every list's top-level items are in strictly alphabetical order of their text (case-insensitive,
    markdown marks ignored), and some list has at least min_items items."""
    want = want_count("list:alphabetical_items", "min_items", min_items)
    found = lists(response)
    if failure := _empty_item_failure(found):
        return failure
    for items in found:
        keys = [_item_key(it.text) for it in _top(items)]
        for a, b, it in zip(keys, keys[1:], _top(items)[1:], strict=False):
            if not a < b:
                return CheckResult(False, f"{short(it.text)} is out of alphabetical order")
    longest = max((len(_top(items)) for items in found), default=0)
    return CheckResult(longest >= want, f"the longest sorted list has {longest} item(s), need at least {want}")


@checker("list:task_checkboxes")
def check_checkboxes(response: str, *, num_items: int) -> CheckResult:
    """Exactly num_items checkbox items (`- [ ] task` or `- [x] task`) with distinct tasks, at least one
    ticked and at least one not."""
    want = want_count("list:task_checkboxes", "num_items", num_items)
    boxes: list[bool] = []
    tasks: list[str] = []
    for items in lists(response):
        for it in items:
            m = _CHECKBOX.match(it.text)
            if m and not it.numbered:
                if not views.has_content(m.group(2)):
                    return CheckResult(False, f"a checkbox item has no text: {short(it.text)}")
                boxes.append(m.group(1) != " ")
                tasks.append(_item_key(m.group(2)))
    if len(boxes) != want:
        return CheckResult(False, f"found {len(boxes)} checkbox item(s), need exactly {want}")
    if len(set(tasks)) != len(tasks):
        return CheckResult(False, "a task is repeated")
    if all(boxes) or not any(boxes):
        return CheckResult(False, "need at least one ticked [x] and one open [ ] item")
    return CheckResult(True, f"{want} checkbox items, {sum(boxes)} ticked")


@checker("list:bold_term_items")
def check_bold_terms(response: str, *, min_items: int) -> CheckResult:
    """At least min_items top-level list items, and every top-level item starts with a bold term and a colon
    (`**Term**:` or `**Term:**`) followed by an explanation of at least two words; no term twice."""
    want = want_count("list:bold_term_items", "min_items", min_items)
    items = [it for items in lists(response) for it in _top(items)]
    terms: set[str] = set()
    for it in items:
        m = _BOLD_TERM.match(it.text)
        if not m or not views.has_content(m.group(1)) or not (m.group(2) or m.group(3)):
            return CheckResult(False, f"item does not start with '**Term**:': {short(it.text)}")
        if views.word_count(m.group(4)) < 2:
            return CheckResult(False, f"the term {short(m.group(1))} has no explanation after it")
        if _item_key(m.group(1)) in terms:
            return CheckResult(False, f"the term {short(m.group(1))} is repeated")
        terms.add(_item_key(m.group(1)))
    return CheckResult(len(items) >= want, f"{len(items)} bold-term item(s), need at least {want}")


@checker("order:year_timeline")
def check_year_timeline(response: str, *, num_items: int) -> CheckResult:
    """Some list has at least num_items top-level items that all start with a four-digit year (bold allowed,
    then a colon, dash or space, then text), and in every such list the years strictly increase."""
    want = want_count("order:year_timeline", "num_items", num_items)
    best = 0
    for items in lists(response):
        top = _top(items)
        leads = [_YEAR_LEAD.match(it.text) for it in top]
        if not all(leads):
            continue
        years = [int(m.group(1)) for m in leads if m]
        if not all(views.has_content(m.group(2)) for m in leads if m):
            return CheckResult(False, "a year has no event after it")
        if any(b <= a for a, b in pairwise(years)):
            return CheckResult(False, f"the years {years[:8]} do not strictly increase")
        best = max(best, len(years))
    return CheckResult(best >= want, f"the longest year-by-year list has {best} item(s), need at least {want}")


@checker("cond:numbered_when_long")
def check_numbered_when_long(response: str, *, threshold: int) -> CheckResult:
    """At least one list; every list with more than `threshold` top-level items numbers them 1, 2, 3, ... and
    every list with `threshold` or fewer uses bullets; every item has content."""
    limit = want_count("cond:numbered_when_long", "threshold", threshold)
    found = lists(response)
    if not found:
        return CheckResult(False, "no list found")
    if failure := _empty_item_failure(found):
        return failure
    for items in found:
        top = _top(items)
        if len(top) > limit:
            numbers = [int(it.marker[:-1]) if it.numbered else None for it in top]
            if numbers != list(range(1, len(top) + 1)):
                return CheckResult(False, f"a list of {len(top)} items (more than {limit}) is not numbered 1, 2, ...")
        elif any(it.numbered for it in top):
            return CheckResult(False, f"a list of {len(top)} item(s) ({limit} or fewer) is numbered, not bulleted")
    return CheckResult(True, f"{len(found)} list(s), numbered exactly when longer than {limit} items")


# --- Sections --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Section:
    level: int
    title: str
    body: str  # the text up to the next heading


def sections(response: str) -> tuple[str, list[Section]]:
    """The text before the first heading, and each heading with its section."""
    lead: list[str] = []
    out: list[tuple[int, str, list[str]]] = []
    for line in _lines(response):
        m = _HEADING.match(line)
        if m:
            out.append((len(m.group(1)), m.group(2).strip(), []))
        elif out:
            out[-1][2].append(line)
        else:
            lead.append(line)
    return "\n".join(lead), [Section(lv, t, "\n".join(b).strip()) for lv, t, b in out]


def _containers(found: list[Section]) -> set[int]:
    """Indexes of headings whose section is empty and that are followed by a deeper heading (a title over
    subsections): rules about each section's content skip them."""
    return {k for k, s in enumerate(found[:-1]) if not s.body and found[k + 1].level > s.level}


def _title(text: str) -> str:
    return " ".join(views.WORD.findall(text.casefold()))


@checker("sections:numbered_headings")
def check_numbered_headings(response: str, *, num_sections: int) -> CheckResult:
    """Exactly num_sections markdown headings, numbered in their text 1, 2, 3, ... in order (`## 1. Title`,
    `1)` or `1:` too), each with a title after its number and content in its section."""
    want = want_count("sections:numbered_headings", "num_sections", num_sections)
    _, found = sections(response)
    if len(found) != want:
        return CheckResult(False, f"found {len(found)} heading(s), need exactly {want}")
    for k, s in enumerate(found, 1):
        m = _NUMBERED_TITLE.match(s.title.strip("*_ "))
        if not m or int(m.group(1)) != k or not views.has_content(m.group(2)):
            return CheckResult(False, f"heading {k} is not numbered {k} with a title: {short(s.title)}")
        if not views.has_content(s.body):
            return CheckResult(False, f"section {k} is empty")
    return CheckResult(True, f"{want} headings numbered 1 to {want}")


@checker("sections:given_order")
def check_given_order(response: str, *, titles: list[str]) -> CheckResult:
    """Each given title heads exactly one section (a heading whose text is the title, case-insensitive,
    optionally after a number such as `1.`), in the given order, each with content; other headings may
    come between them."""
    names = want_str_list("sections:given_order", "titles", titles)
    wanted = [_title(t) for t in names]
    _, found = sections(response)
    seen: list[tuple[int, Section]] = []
    for s in found:
        title = s.title.strip("*_ ")
        m = _NUMBERED_TITLE.match(title)
        key = _title(m.group(2) if m else title)
        if key in wanted:
            seen.append((wanted.index(key), s))
    order = [k for k, _ in seen]
    if sorted(set(order)) != list(range(len(wanted))) or len(order) != len(wanted):
        missing = [names[k] for k in range(len(wanted)) if order.count(k) != 1]
        return CheckResult(False, f"need exactly one heading for each of {missing}")
    if order != sorted(order):
        return CheckResult(False, f"the headings come as {[names[k] for k in order]}, need {names}")
    empty = [names[k] for k, s in seen if not views.has_content(s.body)]
    if empty:
        return CheckResult(False, f"section(s) {empty} are empty")
    return CheckResult(True, f"sections {names} in order")


@checker("sections:title_and_subsections")
def check_title_and_subsections(response: str, *, num_subsections: int) -> CheckResult:
    """The text opens with a single level-1 heading (`# Title`), followed by at least num_subsections
    level-2 headings (`## ...`), each with content; no other level-1 heading and no heading deeper than 2."""
    want = want_count("sections:title_and_subsections", "num_subsections", num_subsections)
    lead, found = sections(response)
    if views.has_content(lead) or not found or found[0].level != 1 or not views.has_content(found[0].title):
        return CheckResult(False, "the text does not open with a '# Title' heading")
    rest = found[1:]
    if any(s.level != 2 for s in rest):
        bad = next(s for s in rest if s.level != 2)
        return CheckResult(False, f"heading {short(bad.title)} is level {bad.level}; only one '#' title, then '##'")
    empty = [s.title for s in rest if not views.has_content(s.title, 1) or not views.has_content(s.body)]
    if empty:
        return CheckResult(False, f"subsection {short(empty[0])} has no title or no content")
    return CheckResult(len(rest) >= want, f"a title and {len(rest)} '##' subsection(s), need at least {want}")


def _paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n[ \t]*\n", text) if views.has_content(p)]


@checker("sections:equal_paragraphs")
def check_equal_paragraphs(response: str, *, num_paragraphs: int) -> CheckResult:
    """At least 2 headings, and the section under every heading (a title directly over subsections aside)
    has exactly num_paragraphs paragraphs (blocks between blank lines)."""
    want = want_count("sections:equal_paragraphs", "num_paragraphs", num_paragraphs)
    _, found = sections(response)
    if len(found) < 2:
        return CheckResult(False, f"found {len(found)} heading(s), need at least 2")
    skip = _containers(found)
    for k, s in enumerate(found):
        if k in skip:
            continue
        n = len(_paragraphs(s.body))
        if n != want:
            return CheckResult(False, f"section {short(s.title)} has {n} paragraph(s), need exactly {want}")
    return CheckResult(True, f"every section has {want} paragraph(s)")


@checker("sections:list_under_each_heading")
def check_list_under_headings(response: str, *, num_sections: int) -> CheckResult:
    """At least num_sections headings, and the section under every heading (a title directly over subsections
    aside) holds a list of at least 2 items with content."""
    want = want_count("sections:list_under_each_heading", "num_sections", num_sections)
    _, found = sections(response)
    if len(found) < want:
        return CheckResult(False, f"found {len(found)} heading(s), need at least {want}")
    skip = _containers(found)
    for k, s in enumerate(found):
        if k in skip:
            continue
        items = [it for items in lists(s.body) for it in _top(items)]
        if len(items) < 2 or not all(views.has_content(it.text) for it in items):
            return CheckResult(False, f"section {short(s.title)} has no list of 2 or more filled items")
    return CheckResult(True, f"all {len(found)} sections hold a list")


# --- Conditional formatting and quotes -------------------------------------------------------------


@checker("cond:bold_paragraphs")
def check_bold_paragraphs(response: str, *, word: str) -> CheckResult:
    """Every paragraph (a prose block between blank lines; headings, list items, tables and quotes are not
    paragraphs) that mentions `word` is wholly in bold, and every other paragraph has no bold wrapping; at
    least one paragraph of each kind. A mention counts through look-alike letters and in any inflection."""
    want_str("cond:bold_paragraphs", "word", word)
    pattern = keyword_pattern(word, inflected=True)
    text = views.unfenced(views.visible(response))
    mention = plain = 0
    for block in re.split(r"\n[ \t]*\n", text):
        body = block.strip()
        if not views.has_content(body) or body[0] in "#|>" or _ITEM.match(body.split("\n")[0]):
            continue
        wholly = _WHOLE_BOLD.match(body)
        if pattern.search(views.fold(body)):
            mention += 1
            if not wholly or not views.has_content(wholly.group(2)):
                return CheckResult(False, f"a paragraph mentions {word!r} but is not wholly bold: {short(body)}")
        elif wholly or body.startswith("**"):
            return CheckResult(False, f"a paragraph without {word!r} is bold: {short(body)}")
        else:
            plain += 1
    if not mention or not plain:
        return CheckResult(False, f"need paragraphs with and without {word!r}; found {mention} with, {plain} without")
    return CheckResult(True, f"{mention} paragraph(s) about {word!r} in bold, {plain} other(s) plain")


@checker("cond:italic_questions")
def check_italic_questions(response: str, *, min_questions: int) -> CheckResult:
    """At least min_questions questions, every question mark inside an italic span (`*...?*` or `_..._`),
    and every italic span a question (it ends with a question mark)."""
    want = want_count("cond:italic_questions", "min_questions", min_questions)
    text = views.unfenced(views.visible(response))
    asked = 0
    pos = 0
    for m in _ITALIC.finditer(text):
        if "?" in views.fold_punctuation(views.fold(text[pos : m.start()])):
            return CheckResult(False, f"a question mark outside italics near {short(text[pos : m.start()][-30:])}")
        inner = (m.group(1) or m.group(2)).rstrip("\"'”’)")
        if not inner.endswith("?") or not views.has_content(inner):
            return CheckResult(False, f"italic text that is not a question: {short(m.group())}")
        asked += 1
        pos = m.end()
    if "?" in views.fold_punctuation(views.fold(text[pos:])):
        return CheckResult(False, f"a question mark outside italics in {short(text[pos:])}")
    return CheckResult(asked >= want, f"{asked} italic question(s), need at least {want}")


@checker("markdown:blockquote_count")
def check_blockquotes(response: str, *, num_quotes: int) -> CheckResult:
    """Exactly num_quotes blockquotes, each with at least two words of content. A quote is a run of lines
    starting with `>`; a line of text right after one (no blank line between) continues it, as markdown renders
    it, unless it is a heading, a list item or a rule."""
    want = want_count("markdown:blockquote_count", "num_quotes", num_quotes)
    quotes: list[list[str]] = []
    inside = False
    for line in _lines(response):
        stripped = line.lstrip()
        if stripped.startswith(">") and len(line) - len(stripped) <= 3:
            if not inside:
                quotes.append([])
            quotes[-1].append(stripped.lstrip("> \t"))
            inside = True
        elif inside and stripped and not (_HEADING.match(line) or _ITEM.match(line) or _RULE.match(line)):
            quotes[-1].append(stripped)  # a lazy continuation line
        else:
            inside = False
    thin = [q for q in quotes if views.word_count(" ".join(q)) < 2]
    if thin:
        return CheckResult(False, f"a blockquote has no real content: {short(' '.join(thin[0]))}")
    return CheckResult(len(quotes) == want, f"found {len(quotes)} blockquote(s), need exactly {want}")
