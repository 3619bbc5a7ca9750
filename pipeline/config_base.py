"""What every configuration model shares: strict keys, no booleans for numbers, the project root."""

from __future__ import annotations

import logging
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, model_validator

from pipeline.errors import UserInputError
from pipeline.project import ROOT as ROOT

DEFAULT_MODEL = "default"  # the bundled SmolLM2-135M-Instruct, prepared by `complexify model prepare`
log = logging.getLogger(__name__)


class ConfigError(UserInputError):
    """The run configuration is invalid; the message lists every problem with its YAML path."""


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def reject_bools_for_numbers(cls, data: Any) -> Any:
        """YAML's `true` must not pass as the number 1 (pydantic's lax mode would accept it)."""
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if isinstance(value, bool) and field is not None and not _allows_bool(field.annotation):
                    raise ValueError(
                        f"{name}: expected {_type_name(field.annotation)}, got the boolean {str(value).lower()}"
                    )
        return data


def _allows_bool(annotation: Any) -> bool:
    return annotation is bool or bool in get_args(annotation) or annotation is Any


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
