"""Artifacts are never half-written: write to a temporary file beside the target, then rename it into place."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["write_json_atomic"]


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` (creating its folder) through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)
    return path
