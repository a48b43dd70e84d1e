"""Benchmark reports are markdown: printed, and written atomically where ``--out`` asks."""

from __future__ import annotations

from pathlib import Path

from runtime.files import atomic_path

__all__ = ["emit"]


def emit(lines: list[str], out: Path | None) -> None:
    """Print ``lines`` and, if ``out`` is given, write them there (temporary file, then rename)."""
    text = "\n".join(lines)
    print(text)
    if out:
        with atomic_path(out) as tmp:
            tmp.write_text(text + "\n")
