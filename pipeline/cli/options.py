"""Command-line options that several verbs take to answer prompts on an endpoint, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

MaxTokens = Annotated[int, typer.Option(help="Answer length limit in tokens.", min=1)]
Temperature = Annotated[float, typer.Option(help="Sampling temperature (0: greedy).", min=0.0, max=2.0)]
Concurrency = Annotated[
    int,
    typer.Option(help="Most requests in flight per endpoint (the engine adapts below it to the server).", min=1),
]
RequestTimeout = Annotated[
    float | None,
    typer.Option(
        help="Give a request up when nothing arrives from its endpoint for this many seconds (default 120).",
        min=0.001,
    ),
]
UseCache = Annotated[bool, typer.Option(help="Use the request cache (a rerun does not ask again).")]
