"""Reasoning and answer of a model output, in every common format; one linear pass, no dependencies.

This is the one split every reader of model output uses: the reward functions, the hardened checkers'
views (`pipeline.checks.views`), and the parsing of servers' outputs. Formats, with tags matched
in any case:

- Reasoning blocks, nested or not; every opening tag opens one level and every closing tag closes one,
  whatever its family: ``<think>``, ``<thinking>`` and ``<reasoning>`` (whitespace inside the angle
  brackets allowed, ``<think >``), Seed-OSS's ``<seed:think>``, Mistral's ``[THINK]`` (upper case only,
  as the model writes it: ``[think]`` is an ordinary placeholder), Kimi's ``◁think▷`` and the
  ``<|begin_of_thought|>`` / ``<|end_of_thought|>`` pair (Sky-T1, Bespoke, OpenThoughts). The answer is
  the text after the last complete outermost block; text before a block is reasoning too.
- A closing tag with no block open: the chat template opened the block, so everything before it is
  reasoning (DeepSeek-R1 style ``...</think>ANSWER``). With several, the **last** one wins: anything
  before a closing tag may be reasoning, and reasoning must never be scored as answer text.
- An opening tag that is never closed (generation cut by ``max_tokens``): the rest of the output is
  reasoning, so the answer ends there (``<think>unfinished`` has an empty answer).
- A solution block, ``<|begin_of_solution|>ANSWER<|end_of_solution|>``: the answer is its content (the
  last block's; an unclosed one runs to the end), and text around it is reasoning.
- gpt-oss harmony channels: the answer is the message of the last ``final`` channel
  (``<|channel|>analysis<|message|>...<|end|><|channel|>final<|message|>ANSWER``); every other message is
  reasoning; harmony output without a final channel has an empty answer.

Every pattern is a literal or a bounded, possessive scan, so a degenerate rollout cannot stall a trainer.
"""

from __future__ import annotations

import re

_TAGS = re.IGNORECASE | re.ASCII
# One alternative per family; a group holds "/" (or "end") exactly when the tag closes a block.
REASONING_TAG = re.compile(
    r"<\s*+(/?)\s*+(?:seed:)?(?:think|thinking|reasoning)\s*+>"
    r"|(?-i:\[(/?)THINK\])"
    r"|\u25c1(/?)think\u25b7"
    r"|<\|(begin|end)_of_thought\|>",
    _TAGS,
)
_SOLUTION_TAG = re.compile(r"<\|(begin|end)_of_solution\|>", _TAGS)
_CHANNEL_RE = re.compile(r"<\|channel\|>", _TAGS)
# A harmony message header: `<|channel|>NAME[ extra][<|constrain|>FORMAT]<|message|>`.
_HEADER_RE = re.compile(r"<\|channel\|>([^<]*+)(?:<\|constrain\|>[^<]*+)?<\|message\|>", _TAGS)
_FINAL_RE = re.compile(r"\s*final(?:\s|$)", _TAGS)
_MESSAGE_END_RE = re.compile(r"<\|(?:end|return|call|start|channel)\|>", _TAGS)
_HARMONY_TOKEN = re.compile(r"<\|[a-z_]+\|>[^<]*+(?=<\|message\|>)|<\|[a-z_]+\|>", _TAGS)


def _closes(tag: re.Match[str]) -> bool:
    """Whether a REASONING_TAG match closes a block."""
    return bool(tag.group(1) or tag.group(2) or tag.group(3)) or (tag.group(4) or "").lower() == "end"


def _joined(*parts: str) -> str:
    """The non-blank parts, a blank line apart."""
    return "\n\n".join(p for p in parts if p.strip())


def split_tagged(text: str) -> tuple[str | None, str]:
    """(reasoning, answer) of tag-delimited output, both unstripped; `(None, text)` when it has no reasoning tag."""
    depth, start, outer_open, tagged = 0, 0, 0, False
    for tag in REASONING_TAG.finditer(text):
        tagged = True
        if not _closes(tag):
            if depth == 0:
                outer_open = tag.start()
            depth += 1
        else:
            depth = max(depth - 1, 0)
            if depth == 0:
                start = tag.end()
    if tagged:
        end = outer_open if depth else len(text)
        reasoning = REASONING_TAG.sub("", text[:start] + (text[end:] if depth else ""))
        answer = text[start:end]
    else:
        reasoning, answer = None, text
    solution = _split_solution(answer)
    if solution is None:
        return reasoning, answer
    around, answer = solution
    return _joined(reasoning or "", around), answer


def _split_solution(text: str) -> tuple[str, str] | None:
    """(text around, content) of the solution block in text; None when text has no solution tag.

    The content runs from the last opening tag (or the start) to the first closing tag after it (or the end).
    """
    begin: re.Match[str] | None = None
    close: re.Match[str] | None = None
    tagged = False
    for tag in _SOLUTION_TAG.finditer(text):
        tagged = True
        if tag.group(1).lower() == "begin":
            begin, close = tag, None
        elif close is None:
            close = tag
    if not tagged:
        return None
    before = text[: begin.start()] if begin is not None else ""
    after = text[close.end() :] if close is not None else ""
    content = text[begin.end() if begin is not None else 0 : close.start() if close is not None else len(text)]
    return _SOLUTION_TAG.sub("", _joined(before, after)), content


def _split_harmony(text: str) -> tuple[str, str] | None:
    """(reasoning, answer) of harmony-format output: every non-final message, and the last final one."""
    if _CHANNEL_RE.search(text) is None:
        return None
    messages: list[tuple[bool, str]] = []
    for header in _HEADER_RE.finditer(text):
        end = _MESSAGE_END_RE.search(text, header.end())
        messages.append(
            (_FINAL_RE.match(header.group(1)) is not None, text[header.end() : end.start() if end else len(text)])
        )
    last_final = max((i for i, (final, _) in enumerate(messages) if final), default=None)
    if not messages:  # channel markers without a well-formed message: all of it is reasoning, none of it answer
        return _HARMONY_TOKEN.sub("", text).strip(), ""
    reasoning = "\n\n".join(body.strip() for i, (_, body) in enumerate(messages) if i != last_final)
    return reasoning, messages[last_final][1] if last_final is not None else ""


def split_reasoning(text: str) -> tuple[str | None, str]:
    """`(reasoning, answer)` of a model output; `(None, text)` unchanged when it has no reasoning marker.

    Both parts are stripped of surrounding whitespace when a marker was found; the answer holds no marker.
    """
    harmony = _split_harmony(text)
    if harmony is not None:
        channel_reasoning, final = harmony
        tagged_reasoning, answer = split_tagged(final)
        parts = [p.strip() for p in (channel_reasoning, tagged_reasoning) if p and p.strip()]
        return "\n\n".join(parts), answer.strip()
    reasoning, answer = split_tagged(text)
    if reasoning is None:
        return None, text
    return reasoning.strip(), answer.strip()


def strip_reasoning(text: str) -> str:
    """The answer part of a model output (see the module docstring); text without markers is returned unchanged."""
    return split_reasoning(text)[1]
