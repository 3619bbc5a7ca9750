"""A chat function for whole runs on a scripted model: the same question always gets the same answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from pipeline.models import Response
from pipeline.run.config import RoleConfig
from pipeline.run.stages import ChatFn


def answering_from(answers: Sequence[str]) -> ChatFn:
    """A chat function picking each answer from `answers` by a hash of the conversation and the sample index."""

    def chat(conversations: Sequence[list[dict[str, str]]], role: RoleConfig, n: int) -> list[list[Response]]:
        out = []
        for conv in conversations:
            text = json.dumps(conv, sort_keys=True)
            picks = [int(hashlib.sha256(f"{text}|{k}".encode()).hexdigest(), 16) % len(answers) for k in range(n)]
            out.append(
                [
                    Response(text=answers[p], candidate=k, model="scripted", completion_tokens=7)
                    for k, p in enumerate(picks)
                ]
            )
        return out

    return chat
