"""Response markers: how a response labels its Chain parts and Selection cases, and how spans are cut out.

A composed instruction asks the response to start every Chain part with a heading line `### Part 2`
(nested parts: `### Part 2.1`) and to name the Selection case it follows with `### Case B`. Each
check then runs on its own span: the text of one part (or the whole response), marker lines removed.
"""

from __future__ import annotations

import re

MARKER_RE = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*)?(part|case)[ \t]+([0-9]+(?:\.[0-9]+)*|[a-z])"
    r"(?:\*\*)?[ \t]*:?[ \t]*(?:\*\*)?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
RESPONSE = "response"
RAW_PREFIX = "raw:"


def part_marker(part_id: str) -> str:
    """The heading line that opens part `part_id` ("2.1" -> "### Part 2.1")."""
    return f"### Part {part_id}"


def case_marker(label: str) -> str:
    """The heading line that names the followed Selection case ("B" -> "### Case B")."""
    return f"### Case {label}"


def part_scope(parent_scope: str, index: int) -> str:
    """Scope of the `index`-th (1-based) step of a Chain whose output lives in `parent_scope`."""
    if parent_scope == RESPONSE:
        return f"part:{index}"
    return f"{parent_scope}.{index}"


def part_id(scope: str) -> str | None:
    return scope.removeprefix("part:") if scope.startswith("part:") else None


def markers(text: str) -> list[tuple[str, str, int, int]]:
    """All marker lines as (kind, label, start, end) with kind 'part' or 'case' and labels normalised."""
    out = []
    for m in MARKER_RE.finditer(text):
        label = m.group(2)
        out.append((m.group(1).lower(), label.upper() if label.isalpha() else label, m.start(), m.end()))
    return out


def strip_markers(text: str) -> str:
    """Remove marker lines and surrounding blank space."""
    return re.sub(r"\n{3,}", "\n\n", MARKER_RE.sub("", text)).strip()


def extract_span(response: str, scope: str) -> str | None:
    """Text a check sees for `scope`: "response", "part:2.1", optionally prefixed "raw:" to keep markers.

    Returns None when the part is missing. A part runs from its marker to the next part marker that is
    not one of its sub-parts.
    """
    raw = scope.startswith(RAW_PREFIX)
    scope = scope.removeprefix(RAW_PREFIX)
    if scope == RESPONSE:
        text = response
    else:
        pid = part_id(scope)
        if pid is None:
            raise ValueError(f"unknown scope {scope!r}: expected 'response' or 'part:<n>[.<n>...]'")
        found = [m for m in markers(response) if m[0] == "part"]
        start = next((i for i, m in enumerate(found) if m[1] == pid), None)
        if start is None:
            return None
        end = len(response)
        for m in found[start + 1 :]:
            if not m[1].startswith(pid + "."):
                end = m[2]
                break
        text = response[found[start][3] : end]
    return text.strip() if raw else strip_markers(text)
