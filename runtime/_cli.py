"""What every swinpose command line shares: error → exit-code mapping, and the placeholder for planned tools.

Exit codes: 0 ok, 1 user error (one clear line, no traceback), 2 usage (argparse).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from runtime.errors import SwinPoseError

__all__ = ["run_guarded", "planned_tool"]


def run_guarded(prog: str, func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a CLI body; a :class:`SwinPoseError` becomes one line on stderr and exit code 1."""
    try:
        return func(args)
    except SwinPoseError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1


def planned_tool(prog: str, summary: str, argv: list[str] | None) -> int:
    """Body of a console script that is declared but not shipped yet: ``--help`` works, running says so."""
    parser = argparse.ArgumentParser(prog=prog, description=f"{summary} (not shipped in this version yet)")
    parser.parse_known_args(argv)
    print(
        f"{prog}: error: not shipped in this version of swinpose yet ({summary}). "
        "Today's entry points: `python -m swinpose.cli.demo` and the swinpose Python API.",
        file=sys.stderr,
    )
    return 1
