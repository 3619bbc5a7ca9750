"""Where a run's seeds come from and how they are selected: the `seeds` section of a run config."""

from __future__ import annotations

from pydantic import Field, model_validator

from pipeline.config_base import ConfigModel


class SeedSource(ConfigModel):
    """One place seeds come from: a local JSONL/CSV/Parquet file or a Hugging Face dataset."""

    path: str | None = None
    hf_dataset: str | None = None
    hf_config: str | None = None
    split: str = "train"
    columns: dict[str, str] = Field(
        default_factory=dict, description="our field -> source column (text, id, task_type, language, answer)"
    )
    limit: int | None = Field(default=None, ge=1, le=1_000_000_000)

    @model_validator(mode="after")
    def validate_one_source(self) -> SeedSource:
        if (self.path is None) == (self.hf_dataset is None):
            raise ValueError("give exactly one of 'path' or 'hf_dataset'")
        return self


class SeedsConfig(ConfigModel):
    sources: list[SeedSource] = Field(
        default_factory=lambda: [SeedSource(path="seeds/complexify-seeds.jsonl")], min_length=1
    )
    near_duplicate_threshold: float | None = Field(default=None, gt=0, le=1, description="cosine; None disables")
    select: int | None = Field(
        default=None, ge=1, le=1_000_000_000, description="keep this many seeds by k-center diversity"
    )
    decontaminate: list[str] = Field(default_factory=list, description="benchmark prompt files (JSONL/text)")
    max_seeds: int | None = Field(default=None, ge=1, le=1_000_000_000)
