"""Reading the model package's typed parts from JSON: one helper, so that every part names a bad field alike."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from runtime.errors import ConfigError

__all__ = ["fields_from_dict"]

T = TypeVar("T")


def fields_from_dict(cls: type[T], d: Any) -> T:
    """``cls(**d)`` for a frozen dataclass whose ``__post_init__`` validates; an object that is not a dict, or has
    unknown or missing fields, raises :class:`ConfigError` naming them."""
    if not isinstance(d, dict):
        raise ConfigError(f"must be an object, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ConfigError(f"has unknown fields {unknown} (known: {sorted(fields)})")
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING]
    missing = [n for n in required if n not in d and fields[n].default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"lacks {missing}")
    return cls(**d)
