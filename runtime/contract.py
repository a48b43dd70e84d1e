"""Reading the packages' typed parts from JSON: one helper and one set of field checks, so that every part names a
bad field alike. Each check returns the value in its canonical type or raises :class:`ConfigError` naming the
field and what it must be."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection
from typing import Any, TypeVar

import numpy as np

from runtime.errors import ConfigError

__all__ = [
    "fields_from_dict",
    "check_int",
    "check_str",
    "check_floats",
    "check_size",
    "check_positive",
    "check_choice",
]

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


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_sequence(value: Any, n: int) -> bool:
    return not isinstance(value, (str, bytes)) and hasattr(value, "__len__") and len(value) == n


def check_int(value: Any, field: str, low: int | None = None) -> int:
    """An integer (not a bool), at least ``low`` where given."""
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
        raise ConfigError(f"{field} must be an integer{'' if low is None else f' >= {low}'}, got {value!r}")
    return value


def check_str(value: Any, field: str, optional: bool = False) -> str | None:
    """A non-empty string (or None where ``optional``)."""
    if (value is None and optional) or (isinstance(value, str) and value):
        return value
    raise ConfigError(f"{field} must be a non-empty string{' or null' if optional else ''}, got {value!r}")


def check_floats(value: Any, n: int, field: str) -> tuple[float, ...]:
    """``n`` finite numbers, as floats."""
    if not _is_sequence(value, n):
        raise ConfigError(f"{field} must be {n} numbers, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(v):
            raise ConfigError(f"{field} must be {n} finite numbers, got {value!r}")
        out.append(float(v))
    return tuple(out)


def check_size(value: Any, field: str, positive: bool = True) -> tuple[int, int]:
    """Two integers (H, W), positive where ``positive``."""
    if not _is_sequence(value, 2) or not all(_is_int(v) and (v > 0 or not positive) for v in value):
        raise ConfigError(f"{field} must be two {'positive ' if positive else ''}integers (H, W), got {value!r}")
    return int(value[0]), int(value[1])


def check_positive(value: Any, field: str) -> float:
    """A finite number above 0, as a float."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating, np.integer))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ConfigError(f"{field} must be a positive number, got {value!r}")
    return float(value)


def check_choice(value: Any, field: str, choices: Collection[Any]) -> Any:
    """One of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{field} must be one of {choices}, got {value!r}")
    return value
