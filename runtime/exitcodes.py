"""What every swinpose command line shares: the error → exit-code mapping (:func:`run_guarded`).

Exit codes: 0 ok, 1 user error (one clear line, no traceback), 2 usage (argparse).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from runtime.errors import SwinPoseError

__all__ = ["run_guarded"]


def run_guarded(prog: str, func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a CLI body; a :class:`SwinPoseError` becomes one line on stderr and exit code 1."""
    try:
        return func(args)
    except SwinPoseError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
