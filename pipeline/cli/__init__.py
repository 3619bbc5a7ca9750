"""The `complexify` command."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipeline.errors import ComplexifyError, UserInputError
from pipeline.project import ROOT as PROJECT_ROOT
from pipeline.run.driver import DEFAULT_BATCH_DEADLINE_S

if TYPE_CHECKING:
    from pipeline.run.config import RunConfig

app = typer.Typer(
    name="complexify",
    help="Verifiable complex-instruction training data: compose, generate, verify, store, publish.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
taxonomy_app = typer.Typer(help="Inspect, validate and export the constraint taxonomy.", no_args_is_help=True)
app.add_typer(taxonomy_app, name="taxonomy")
__import__("pipeline.cli.llm", fromlist=["register"]).register(app)  # `model` and `workers` commands
__import__("pipeline.cli.store", fromlist=["register"]).register(app)  # `stats` command
__import__("pipeline.cli.plan", fromlist=["register"]).register(app)  # `plan` command
__import__("pipeline.cli.ifeval", fromlist=["register"]).register(app)  # `ifeval` command
__import__("pipeline.cli.bench", fromlist=["register"]).register(app)  # `bench` commands
__import__("pipeline.cli.train", fromlist=["register"]).register(app)  # `train-smoke` command

ROOT = PROJECT_ROOT
BUNDLED_SEEDS = ROOT / "seeds" / "complexify-seeds.jsonl"


class ExportFormat(StrEnum):
    json = "json"


class OutputFormat(StrEnum):
    jsonl = "jsonl"
    pretty = "pretty"


class CheckerMode(StrEnum):
    any = "any"
    code = "code"


EXIT_QUOTAS_NOT_MET = 3  # the run finished, but some quotas were not met (or it met its budget first)


def write_text_file(path: Path, text: str, *, what: str) -> None:
    """Write a user-named output file; a missing or read-only folder, or a folder in the way, is bad input."""
    if path.is_dir():
        raise UserInputError(f"{what} {path} is a folder; name a file")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"{what} {path}: cannot write ({exc.strerror}); choose a writable path") from None


def _err(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


@taxonomy_app.command("validate")
def taxonomy_validate(
    path: Annotated[Path | None, typer.Option(help="Taxonomy folder (default: the bundled one).")] = None,
) -> None:
    """Load the taxonomy, check every rule (each parameter value against its checker too), and report what it holds."""
    from collections import Counter

    from pipeline.construct.taxonomy import load_taxonomy

    tax = load_taxonomy(path, check_values=True)
    code = sum(s.is_code for s in tax.specs.values())
    typer.echo(
        f"taxonomy {tax.version} OK: {len(tax.types)} types, {len(tax.dimensions)} dimensions, "
        f"{len(tax.specs)} constraint specs ({code} code-checked, {len(tax.specs) - code} judge-checked), "
        f"{sum(1 for _, _, d in tax.graph.edges(data=True) if d['relation'] == 'conflicts_with') // 2} conflict pairs"
    )
    counts = Counter(s.vocabulary for s in tax.specs.values())
    typer.echo("vocabularies: " + ", ".join(f"{v} {n}" for v, n in sorted(counts.items())))


@taxonomy_app.command("show")
def taxonomy_show(
    path: Annotated[Path | None, typer.Option(help="Taxonomy folder (default: the bundled one).")] = None,
    dimension: Annotated[str | None, typer.Option(help="Only list specs of this dimension.")] = None,
) -> None:
    """Print types, dimensions and constraint specs as a tree."""
    from pipeline.construct.taxonomy import load_taxonomy

    tax = load_taxonomy(path)
    if dimension is not None and dimension not in tax.dimensions:
        raise UserInputError(f"unknown dimension {dimension!r}; known: {', '.join(tax.dimensions)}")
    for t in tax.types:
        dims = [d for d, ty in tax.dimensions.items() if ty == t and (dimension is None or d == dimension)]
        if not dims:
            continue
        typer.echo(f"{t}")
        for d in dims:
            specs = tax.specs_in(d)
            typer.echo(f"  {d} ({len(specs)})")
            for s in sorted(specs, key=lambda s: s.id):
                binding = "code" if s.is_code else "judge"
                typer.echo(f"    {s.id:<48} {binding:<5} {s.vocabulary:<12} {s.description[:60]}")


@taxonomy_app.command("export")
def taxonomy_export(
    format: Annotated[ExportFormat, typer.Option("--format", help="Output format.")] = ExportFormat.json,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    path: Annotated[Path | None, typer.Option(help="Taxonomy folder (default: the bundled one).")] = None,
) -> None:
    """Export the graph (nodes with attributes, edges) as JSON for other tools."""
    from pipeline.construct.taxonomy import load_taxonomy

    text = json.dumps(load_taxonomy(path).export(), indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
    else:
        write_text_file(output, text + "\n", what="-o")
        typer.echo(f"wrote {output}", err=True)


def _seeds_for_compose(seed_text: str | None, seeds_file: Path | None) -> list:
    from pipeline.models import Seed

    if seed_text is not None:
        if not seed_text.strip():
            raise UserInputError("--seed-text is empty; give the task text to compose around")
        return [Seed(id="cli-seed", text=seed_text.strip(), source="cli")]
    path = seeds_file or BUNDLED_SEEDS
    if not path.exists():
        raise UserInputError(f"seed file or folder {path} not found; pass --seeds FILE.jsonl|DIR or --seed-text TEXT")
    from pipeline.seeding.load import load_seed_file
    from pipeline.seeding.select import drop_empty

    seeds, blank = drop_empty(load_seed_file(path))
    if blank:
        typer.echo(
            f"warning: skipped {len(blank)} seed(s) with blank text in {path} (e.g. {blank[0].seed_id})", err=True
        )
    if not seeds:
        raise UserInputError(f"{path} holds no seed with text; fill in the 'text' field")
    return seeds


@app.command("compose")
def compose(
    category: Annotated[
        str | None, typer.Option(help="Category, e.g. Single, And_1, Chain_2, Selection_3, Selection_and_Chain_2.")
    ] = None,
    mix: Annotated[
        str | None,
        typer.Option(help="Category mix instead of one category, e.g. 'And_1=2,Chain_2=1' ('default' = built-in)."),
    ] = None,
    n: Annotated[int, typer.Option("-n", help="How many instructions.", min=1)] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same output).")] = 0,
    seed_text: Annotated[
        str | None, typer.Option(help="Compose around this task text instead of the bundled seeds.")
    ] = None,
    seeds: Annotated[Path | None, typer.Option(help="Seed file (JSONL, CSV or Parquet) or a folder of them.")] = None,
    format: Annotated[
        OutputFormat, typer.Option("--format", help="jsonl (one Instruction per line) or pretty.")
    ] = OutputFormat.pretty,
    checkers: Annotated[
        CheckerMode, typer.Option(help="'code' keeps only code-checkable constraints.")
    ] = CheckerMode.any,
    and_size: Annotated[tuple[int, int], typer.Option(help="Constraints per And node: LO HI.")] = (2, 3),
    renderings: Annotated[
        str,
        typer.Option(
            help="Rendering weights, e.g. 'prose=1,numbered=2' or 'structured' ('default' = all three equally)."
        ),
    ] = "default",
    vocabularies: Annotated[
        str,
        typer.Option(
            help="Taxonomy vocabularies to compose from, e.g. 'ifeval,complexify' ('default' = all but the held-out "
            "ifbench)."
        ),
    ] = "default",
    siblings: Annotated[
        bool,
        typer.Option("--siblings", help="Print each instruction's counterfactual sibling group (Selection/Chain)."),
    ] = False,
    dimension: Annotated[
        str | None, typer.Option(help="Put a constraint of this dimension on the answer's path, as for a grid cell.")
    ] = None,
) -> None:
    """Compose instructions with their verification plans and print them."""
    from pipeline.construct.compose import DEFAULT_MIX, ComposeOptions, iter_compose, parse_category
    from pipeline.construct.options import DEFAULT_VOCABULARIES, describe_vocabularies, held_out_warnings
    from pipeline.construct.renderings import DEFAULT_RENDERINGS
    from pipeline.construct.taxonomy import load_taxonomy

    if (category is None) == (mix is None):
        raise UserInputError("give exactly one of --category CAT or --mix 'CAT=W,...'")
    weights = {category: 1.0} if category is not None else _parse_mix(mix or "")
    for cat in weights:
        parse_category(cat)
    if siblings and category is not None and not parse_category(category).required:
        raise UserInputError(
            f"--siblings needs a category with a Selection or a Chain, got {category}; e.g. --category Selection_1"
        )
    layouts = _parse_mix(renderings, "--renderings", "structured=1,prose=1,numbered=1") or dict(DEFAULT_RENDERINGS)
    vocab = list(DEFAULT_VOCABULARIES) if vocabularies == "default" else [v.strip() for v in vocabularies.split(",")]
    opts = ComposeOptions.of(
        checkers=checkers.value, and_size=and_size, renderings=layouts, vocabularies=vocab
    ).aimed_at(dimension)
    for line in [*held_out_warnings(opts.vocabularies), describe_vocabularies(opts.vocabularies)]:
        typer.echo(line, err=True)
    tax = load_taxonomy()
    known = sorted({s.dimension for s in tax.specs.values()})
    if dimension is not None and dimension not in known:
        raise UserInputError(f"--dimension {dimension!r} is not a taxonomy dimension; known: {', '.join(known)}")
    pool = _seeds_for_compose(seed_text, seeds)
    for ins in iter_compose(pool, n, tax, mix=weights if weights else DEFAULT_MIX, random_seed=seed, options=opts):
        if siblings:
            _echo_siblings(
                ins, tax, jsonl=format is OutputFormat.jsonl, seed=next((s for s in pool if s.id == ins.seed_id), None)
            )
            continue
        if format is OutputFormat.jsonl:
            typer.echo(ins.model_dump_json())
        else:
            typer.echo(_pretty(ins))


@app.command("run")
def run(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Run configuration (YAML), e.g. configs/default.yaml.")
    ],
    output_dir: Annotated[str | None, typer.Option(help="Write here instead of the config's output_dir.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    runners: Annotated[
        bool,
        typer.Option(
            "--runners", help="Coordinate: hand batches to `complexify runner` processes (needs PREFECT_API_URL)."
        ),
    ] = False,
    batch_deadline: Annotated[
        float, typer.Option(help="With --runners: seconds before a batch not yet finished is handed out again.", min=1)
    ] = DEFAULT_BATCH_DEADLINE_S,
    api_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the Prefect API of PREFECT_API_URL, if set, to answer.", min=0)
    ] = 30.0,
) -> None:
    """Run the generation flow once, locally: seeds -> compose -> rewrite -> respond -> verify -> gate -> store."""
    output_dir = cwd_path(output_dir)
    cfg = checked_config(config, output_dir, before_start=True)  # fail fast on bad input, before Prefect starts
    from flows.runner import check_api_server, require_api_server

    if runners:
        require_api_server("run --runners")
    check_api_server(api_timeout)
    from pipeline.construct.options import describe_vocabularies, held_out_warnings

    for line in [*held_out_warnings(cfg.compose.vocabularies), describe_vocabularies(cfg.compose.vocabularies)]:
        typer.echo(line, err=True)  # what the checks passed with, before Prefect and the workers take a while
    if not runners:  # local workers load while Prefect starts (a minute on a small CPU machine, half of it saved)
        from pipeline.run.serving import prestart_local_workers

        prestart_local_workers(cfg)
    from flows.generate import generate

    summary = generate(
        config_path=str(config),
        output_dir=output_dir,
        show_progress=progress and sys.stderr.isatty(),
        runners=runners,
        batch_deadline_s=batch_deadline,
    )
    typer.echo(f"kept {summary['kept']} of {summary['target']} samples in {summary['output_dir']}")
    if summary.get("stopped_by") and summary["kept"] < summary["target"]:
        typer.echo(
            f"stopped: {summary['stopped_by']}; the kept samples are stored, rerun with a larger budget to go on "
            "(exit code 3)",
            err=True,
        )
        raise typer.Exit(EXIT_QUOTAS_NOT_MET)
    if summary["kept"] < summary["target"]:
        typer.echo(
            "not met: some category quotas were not met within attempts_factor (see the summary above); "
            "the kept samples are stored (exit code 3)",
            err=True,
        )
        raise typer.Exit(EXIT_QUOTAS_NOT_MET)


def cwd_path(path: str | None) -> str | None:
    """A folder given on the command line: relative to the current folder (a config's paths are relative to the
    project root instead, `RunConfig.resolve`)."""
    return None if path is None else str(Path(path).absolute())


def checked_config(config: Path, output_dir: str | None, *, before_start: bool = False) -> RunConfig:
    """The run's config with `output_dir` applied, after the checks that need no model (`pipeline.run.preflight`);
    `before_start`: also the seed files, the request cache and the run lock (`preflight.check_before_start`)."""
    from pipeline.run.config import load_config
    from pipeline.run.preflight import check_before_start, preflight

    cfg = load_config(config)
    if output_dir is not None:
        cfg = cfg.model_copy(update={"output_dir": output_dir})
    try:
        check_before_start(cfg) if before_start else preflight(cfg)
    except UserInputError as exc:
        raise UserInputError(f"{config}: {exc}") from None
    return cfg


@app.command("runner")
def runner(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The run's configuration (YAML), as given to `run --runners`.")
    ],
    output_dir: Annotated[str | None, typer.Option(help="The run's output root, if `run` was given one.")] = None,
    limit: Annotated[int, typer.Option(help="Batches this runner processes at once.", min=1)] = 2,
    api_timeout: Annotated[
        float,
        typer.Option(help="Seconds to wait for the Prefect API (PREFECT_API_URL) to answer before giving up.", min=0),
    ] = 30.0,
) -> None:
    """Process batches of the run of this config for its coordinator (`run --runners`) until stopped."""
    cfg = checked_config(config, cwd_path(output_dir))
    from flows.runner import serve_batches

    serve_batches(cfg, limit=limit, log=lambda message: typer.echo(message, err=True), api_timeout_s=api_timeout)


@app.command("publish")
def publish(
    repo_id: Annotated[str, typer.Option("--repo-id", help="Hub dataset repo, ORG/NAME.")],
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Publish the run this config produced.")
    ] = None,
    root: Annotated[Path | None, typer.Option(help="Output root (with --run), instead of --config.")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Run fingerprint (or a prefix) under --root.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to build the dataset folder.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Build the folder only; do not upload.")] = False,
    private: Annotated[bool, typer.Option("--private", help="Create the repo as private.")] = False,
) -> None:
    """Build the Hub folder (sft, rl, preference configs + dataset card) from a run, then push it."""
    from pipeline.publish.dataset import publish_run
    from pipeline.run.config import load_config
    from pipeline.run.identity import run_fingerprint

    if config is not None:
        cfg = load_config(config)
        root, run_id = cfg.resolve(cfg.output_dir), run_fingerprint(cfg)
    elif root is None or run_id is None:
        raise UserInputError("give --config FILE, or --root DIR with --run FINGERPRINT")
    result = publish_run(root, run_id, repo_id, out=out, dry_run=dry_run, private=private)
    counts = ", ".join(f"{k}: {v} rows" for k, v in result.built.counts.items())
    typer.echo(f"built {result.built.folder} ({counts})")
    screen = result.built.screen
    if screen is not None:
        from pipeline.publish.screen import SCREEN_FILE

        dropped = ", ".join(f"{k}: {n}" for k in screen.screened if (n := screen.dropped_in(k)))
        typer.echo(
            f"hack screen: {len(screen.dropped)} rows dropped ({dropped}); their reasons are in "
            f"{result.built.folder / SCREEN_FILE}"
            if screen.dropped
            else "hack screen: no row dropped"
        )
    if result.pushed is None:
        typer.echo("dry run: nothing uploaded")
    elif result.pushed == "unchanged":
        typer.echo(f"{repo_id} already holds this data: nothing uploaded")
    else:
        typer.echo(f"pushed to {repo_id} ({result.pushed})")


def _parse_mix(text: str, option: str = "--mix", example: str = "And_1=2,Chain_2=1") -> dict[str, float]:
    """'And_1=2,Chain_2=1' -> weights; 'default' -> {} (the built-in mix). Also parses other NAME=WEIGHT options."""
    if text.strip() == "default":
        return {}
    out: dict[str, float] = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        name, sep, weight = item.partition("=")
        try:
            value = float(weight) if sep else 1.0
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise UserInputError(f"{option}: weight of {name.strip()!r} must be a finite number, got {weight!r}")
        out[name.strip()] = value
    if not out:
        raise UserInputError(f"{option} is empty; write e.g. '{example}'")
    if not math.isfinite(sum(out.values())):  # each finite, the sum not (1e308 + 1e308): only the ratios count
        raise UserInputError(
            f"{option}: the weights sum to more than the largest number; divide them all by the same number"
        )
    return out


def _echo_siblings(ins: Any, tax: Any, *, jsonl: bool, seed: Any = None) -> None:
    """Print the sibling group of `ins` (jsonl: one member per line); alone, with a note, when it has none."""
    from pipeline.construct.siblings import make_siblings, sibling_kind, variant_label

    group = make_siblings(ins, tax, seed=seed)
    if not group:
        typer.echo(
            f"note: {ins.id} ({ins.category}) has no Selection or changeable Chain step: printed without siblings",
            err=True,
        )
    for k, member in enumerate(group or [ins]):
        if jsonl:
            typer.echo(member.model_dump_json())
            continue
        if group and k == 0:
            labels = " | ".join(variant_label(m, group) for m in group)
            typer.echo(f"sibling group {member.sibling_group}: {len(group)} {sibling_kind(ins)} siblings ({labels})")
        typer.echo(
            _pretty(member)
            if not group
            else f"{_pretty(member)}\n  sibling {k + 1}/{len(group)}: {variant_label(member, group)}"
        )


def _pretty(ins: Any) -> str:
    lines = [
        "=" * 100,
        f"{ins.id}  category={ins.category}  depth={ins.depth}  "
        f"composition={','.join(ins.composition) or '-'}  seed={ins.seed_id}  rendering={ins.rendering}",
        "-" * 100,
        ins.prompt,
        "-" * 100,
        "verification plan:",
    ]
    for c in ins.plan.checks:
        what = (
            f"{c.checker} {json.dumps(c.kwargs, ensure_ascii=False)}" if c.kind == "code" else f"judge: {c.question}"
        )
        dep = f" after {','.join(c.depends_on)}" if c.depends_on else ""
        lines.append(f"  {c.id:<4} [{c.scope}]{dep}  {what[:160]}")
    kinds = Counter(c.kind for c in ins.plan.checks)
    lines.append(f"  ({kinds['code']} code checks, {kinds['judge']} judge checks)")
    return "\n".join(lines)


# Quiet, offline-friendly defaults for Prefect; a busy machine needs longer than 20 s for the temporary server.
PREFECT_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


def main() -> None:
    """Entry point: run the app; library errors become a message and an exit code."""
    import os

    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    try:
        code = app(standalone_mode=False)  # click returns typer.Exit codes instead of raising them here
    except UserInputError as exc:
        _err(str(exc))
        sys.exit(2)
    except ComplexifyError as exc:
        _err(str(exc))
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _err("aborted")
        sys.exit(130)
    except Exception as exc:
        # usage errors (typer's bundled click) know how to print themselves and carry their exit code
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
