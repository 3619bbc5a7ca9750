"""Reasoning and answer of a model output, in every common format; one linear pass, no dependencies.

Formats, with tags matched in any case:

- ``<think>``, ``<thinking>`` or ``<reasoning>`` blocks, nested or not (any of the names closes one
  level): the answer is the text after the last complete outermost block; text before a block is
  reasoning too.
- A closing tag with no block open: the chat template opened the block, so everything before it is
  reasoning (DeepSeek-R1 style ``...</think>ANSWER``). With several, the **last** one wins: anything
  before a closing tag may be reasoning, and reasoning must never be scored as answer text.
- An opening tag that is never closed (generation cut by ``max_tokens``): the rest of the output is
  reasoning, so the answer ends there (``<think>unfinished`` has an empty answer).
- gpt-oss harmony channels: the answer is the message of the last ``final`` channel
  (``<|channel|>analysis<|message|>...<|end|><|channel|>final<|message|>ANSWER``); every other message is
  reasoning; harmony output without a final channel has an empty answer.

Every pattern is a literal or a bounded, possessive scan, so a degenerate rollout cannot stall a trainer.
"""

from __future__ import annotations

import re

_TAGS = re.IGNORECASE | re.ASCII
REASONING_TAG = re.compile(r"<(/?)(?:think|thinking|reasoning)>", _TAGS)
_CHANNEL_RE = re.compile(r"<\|channel\|>", _TAGS)
# A harmony message header: `<|channel|>NAME[ extra][<|constrain|>FORMAT]<|message|>`.
_HEADER_RE = re.compile(r"<\|channel\|>([^<]*+)(?:<\|constrain\|>[^<]*+)?<\|message\|>", _TAGS)
_FINAL_RE = re.compile(r"\s*final(?:\s|$)", _TAGS)
_MESSAGE_END_RE = re.compile(r"<\|(?:end|return|call|start|channel)\|>", _TAGS)
_HARMONY_TOKEN = re.compile(r"<\|[a-z_]+\|>[^<]*+(?=<\|message\|>)|<\|[a-z_]+\|>", _TAGS)


def split_tagged(text: str) -> tuple[str | None, str]:
    """(reasoning, answer) of tag-delimited output, both unstripped; `(None, text)` when it has no reasoning tag."""
    depth, start, outer_open, tagged = 0, 0, 0, False
    for tag in REASONING_TAG.finditer(text):
        tagged = True
        if not tag.group(1):
            if depth == 0:
                outer_open = tag.start()
            depth += 1
        else:
            depth = max(depth - 1, 0)
            if depth == 0:
                start = tag.end()
    if not tagged:
        return None, text
    end = outer_open if depth else len(text)
    reasoning = text[:start] + (text[end:] if depth else "")
    return REASONING_TAG.sub("", reasoning), text[start:end]


def _split_harmony(text: str) -> tuple[str, str] | None:
    """(reasoning, answer) of harmony-format output: every non-final message, and the last final one."""
    if _CHANNEL_RE.search(text) is None:
        return None
    messages: list[tuple[bool, str]] = []
    for header in _HEADER_RE.finditer(text):
        end = _MESSAGE_END_RE.search(text, header.end())
        messages.append((_FINAL_RE.match(header.group(1)) is not None, text[header.end() : end.start() if end else len(text)]))
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


def wrap_reasoning(reasoning: str, answer: str, style: str = "think") -> str:
    """Model output in one of the formats above: the inverse of `split_reasoning` (used by tests and publishing)."""
    if style in ("think", "thinking", "reasoning"):
        return f"<{style}>\n{reasoning}\n</{style}>\n\n{answer}"
    if style == "template_opened":  # the chat template printed the opening tag, the model wrote the rest
        return f"{reasoning}\n</think>\n\n{answer}"
    if style == "harmony":
        return (
            f"<|channel|>analysis<|message|>{reasoning}<|end|>"
            f"<|start|>assistant<|channel|>final<|message|>{answer}<|return|>"
        )
    raise ValueError(f"unknown reasoning style {style!r}: use think, thinking, reasoning, template_opened or harmony")


REASONING_STYLES = ("think", "thinking", "reasoning", "template_opened", "harmony")
