"""What every swinpose command line shares: the error → exit-code mapping (:func:`run_guarded`).

Exit codes: 0 ok, 1 user error (one clear line, no traceback), 2 usage (argparse).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, Callable

from runtime.errors import SwinPoseError

__all__ = ["run_guarded", "positive_int", "nonnegative_int", "positive_float", "nonnegative_float", "unit_interval"]


def run_guarded(prog: str, func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a CLI body; a :class:`SwinPoseError` becomes one line on stderr and exit code 1."""
    try:
        return func(args)
    except SwinPoseError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1


def _number(kind: type, low: float, inclusive: bool, high: float | None = None) -> Callable[[str], Any]:
    """An argparse ``type`` for a finite ``kind`` above ``low`` (or at it, ``inclusive``) and at most ``high``;
    usage error otherwise."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            raise argparse.ArgumentTypeError(f"{text} must be {'at least' if inclusive else 'above'} {low:g}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text} must be at most {high:g}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


#: argparse types of counts and sizes: ``--batch-size 0`` and ``--iters -1`` are usage errors, not crashes
positive_int, nonnegative_int, positive_float = _number(int, 0, False), _number(int, 0, True), _number(float, 0, False)
#: argparse types of thresholds: a non-negative number, and a score or IoU between 0 and 1
nonnegative_float, unit_interval = _number(float, 0, True), _number(float, 0, True, 1.0)
