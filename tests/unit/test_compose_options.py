"""One class of compose options: the `compose:` section of a run configuration is what the composer takes, with the
keys users write (and only those), the dump the run's fingerprint was made from, and errors in the config's shape."""

from __future__ import annotations

import pytest

from pipeline.construct.compose import ComposeOptions, compose_instruction
from pipeline.construct.options import ComposeOptions as OptionsClass
from pipeline.construct.taxonomy import load_taxonomy
from pipeline.errors import CompositionError
from pipeline.models import Seed
from pipeline.run.config import ConfigError, parse_config

# The keys of the section's dump, in order: the config hash is made from it.
DUMPED = [
    "checkers",
    "judge_share",
    "and_size",
    "chain_steps",
    "multiway_share",
    "global_share",
    "renderings",
    "siblings",
    "vocabularies",
]


def test_the_config_section_is_the_composers_options() -> None:
    cfg = parse_config({"samples": 1, "compose": {"checkers": "code", "and_size": [2, 2], "renderings": {"prose": 1}}})
    assert type(cfg.compose) is ComposeOptions is OptionsClass
    assert cfg.compose == ComposeOptions(checkers="code", and_size=(2, 2), renderings={"prose": 1.0})
    seed = Seed(id="s", text="Describe a lighthouse.")
    ins = compose_instruction(seed, "And_1", load_taxonomy(), random_seed=3, options=cfg.compose)
    assert ins.rendering == "prose" and len(ins.plan.checks) >= 2


def test_the_section_dumps_every_key_but_the_folded_one() -> None:
    assert list(parse_config({"samples": 1}).model_dump()["compose"]) == DUMPED
    on = parse_config({"samples": 1, "compose": {"siblings": True, "drop_judge_specs": True}}).model_dump()["compose"]
    assert list(on) == DUMPED and on["checkers"] == "code" and on["siblings"] is True


@pytest.mark.parametrize("key", ["favour_dimension", "max_attempts", "_favour_dimension"])
def test_what_only_the_code_sets_is_no_config_key(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"compose\.{key}: unknown key"):
        parse_config({"samples": 1, "compose": {key: "Length"}})


def test_a_grid_cell_aims_the_options_without_changing_them() -> None:
    base = ComposeOptions(checkers="code")
    aimed = base.aimed_at("Length", {"numbered": 1})
    assert aimed.favour_dimension == "Length" and aimed.renderings == {"numbered": 1}
    assert base.favour_dimension is None and base.renderings == {"structured": 1.0, "prose": 1.0, "numbered": 1.0}
    assert aimed != base and aimed.model_dump() == {**base.model_dump(), "renderings": {"numbered": 1}}
    assert base.aimed_at("Length").renderings == base.renderings
    with pytest.raises(CompositionError, match="unknown rendering 'tabular'"):
        base.aimed_at("Length", {"tabular": 1})


@pytest.mark.parametrize(
    ("values", "config_line", "direct"),
    [
        ({"and_size": [1, 2]}, "compose: and_size must satisfy 2 <= lo <= hi, got (1, 2)", "and_size must satisfy"),
        ({"chain_steps": [2, 9]}, "compose: chain_steps must satisfy 2 <= lo <= hi <= 6", "chain_steps must satisfy"),
        ({"judge_share": 2}, "compose.judge_share: Input should be less than or equal to 1", "judge_share: Input"),
        ({"renderings": {"x": 1}}, "compose.renderings: unknown rendering 'x'", "renderings: unknown rendering 'x'"),
    ],
)
def test_a_bad_value_is_one_line_in_the_config_and_a_composition_error_from_the_cli(
    values: dict[str, object], config_line: str, direct: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"samples": 1, "compose": values})
    assert str(err.value).startswith(f"invalid configuration: <config>: {config_line}") and "\n" not in str(err.value)
    with pytest.raises(CompositionError, match=direct):
        ComposeOptions.of(**values)
