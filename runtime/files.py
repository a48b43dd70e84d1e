"""Artifacts are never half-written: write to a temporary file beside the target, then rename it into place.

Folders of several files (model packages) are built in a staging folder beside the target and swapped in whole
(:func:`replace_folder`): on Linux with ``renameat2(RENAME_EXCHANGE)``, one atomic step, so a reader or a kill at any
moment sees the old folder or the new one, never a mix. Where the kernel or file system cannot exchange, the old
folder is renamed aside and the new one renamed in; a kill between the two renames leaves the old folder aside, and
:func:`clean_leftovers` (run by the next export) puts it back. Leftovers of killed writers (their process is gone) are
removed by the next writer of the same folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "IMAGE_SUFFIXES",
    "atomic_path",
    "write_json_atomic",
    "staging_folder",
    "replace_folder",
    "clean_leftovers",
    "restore_set_aside",
    "fault_point",
    "check_output_folder",
    "check_output_file",
    "check_replaceable_folder",
]

logger = logging.getLogger(__name__)

#: image files that folders are read for (swinpose-infer's inputs, the export's calibration folders)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so writers that pick a format by it still work); on
    success rename it to ``path``, on error remove it. The parent folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_output_folder(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a folder outputs can be written into (created if missing); InputError naming ``flag`` when it
    is a file or cannot be written. Every command runs it before its work, not after."""
    from runtime.errors import InputError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path} is a file; pass a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise InputError(f"{flag} {path} cannot be written ({e.strerror}); choose another {flag}") from e
    return path


def check_output_file(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a file that can be written (its folder created if missing); InputError naming ``flag`` when it
    is a folder or its folder cannot be written."""
    from runtime.errors import InputError

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{flag} {path} is a folder; pass a file name")
    check_output_folder(path.parent if str(path.parent) else Path("."), flag)
    return path


def check_replaceable_folder(out: str | Path, keep: Callable[[str], bool], flag: str, what: str) -> Path:
    """``out`` can be replaced whole by a new folder (:func:`replace_folder`): its parent is writable, and it is
    absent, or a writable folder whose entries are all ones ``keep`` accepts (what a writer of ``what`` puts there).
    InputError naming ``flag`` otherwise: a writer that replaces folders must not delete its user's files."""
    from runtime.errors import InputError

    out = Path(out)
    check_output_folder(out.parent if str(out.parent) else Path("."), f"{flag}'s parent folder")
    if out.exists():
        check_output_folder(out, flag)  # a file, or a read-only folder, is not replaced behind its owner's back
        other = sorted(p.name for p in out.iterdir() if not keep(p.name))
        if other:
            raise InputError(
                f"{flag} {out} holds files that are not {what}'s ({', '.join(other[:5])}); it is "
                f"replaced whole: pass an empty or new folder, or {what} to replace"
            )
    return out


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj))
    return Path(path)


_STAGING, _OLD = "swinpose-staging", "swinpose-old"
#: the environment variables of the kill tests (tests/test_robust_packages.py): the step to die at, and the fallback
FAULT_ENV, NO_EXCHANGE_ENV = "SWINPOSE_FAULT_AT", "SWINPOSE_NO_EXCHANGE"


def fault_point(step: str) -> None:
    """A named step of a multi-file write. With ``SWINPOSE_FAULT_AT=step`` in the environment the process kills
    itself there with SIGKILL, as a crash or ``kill -9`` would: how the tests prove that no moment is unsafe."""
    if os.environ.get(FAULT_ENV) == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


_RENAME_EXCHANGE = 2  # linux/fs.h


def _leftover_pattern(out: Path, kind: str) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(out.name)}\.{kind}-(\d+)-\w+$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _dead_leftovers(out: Path, kind: str) -> list[Path]:
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        return []
    pattern = _leftover_pattern(out, kind)
    return [e for e in parent.iterdir() if (m := pattern.match(e.name)) and not _alive(int(m[1]))]


def set_aside_folder(out: str | Path) -> Path | None:
    """Where ``out`` is missing because a writer was killed between the fallback's two renames, the folder that
    writer set aside (the newest such); None when ``out`` exists or nothing was set aside. Reads only."""
    out = Path(out)
    old = _dead_leftovers(out, _OLD)
    if out.exists() or not old:
        return None
    return max(old, key=lambda p: p.stat().st_mtime_ns)


def restore_set_aside(out: str | Path) -> Path | None:
    """If ``out`` is missing because a writer was killed between the fallback's two renames, rename the folder it
    set aside back to ``out`` and return it (None when there is nothing to restore)."""
    out = Path(out)
    newest = set_aside_folder(out)
    if newest is None:
        return None
    os.rename(newest, out)
    logger.warning("%s: put back the folder an interrupted write had set aside (%s)", out, newest.name)
    return newest


def clean_leftovers(out: str | Path) -> list[Path]:
    """Remove what killed writers of ``out`` left beside it (staging folders and set-aside old folders of processes
    that are gone), after :func:`restore_set_aside`. Returns what was removed."""
    out = Path(out)
    restore_set_aside(out)
    removed = _dead_leftovers(out, _STAGING) + _dead_leftovers(out, _OLD)
    for entry in removed:
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
    if removed:
        logger.info("%s: removed %d leftover(s) of interrupted writes", out, len(removed))
    return removed


def staging_folder(out: str | Path) -> Path:
    """A new empty folder beside ``out`` to build its replacement in (``.{name}.swinpose-staging-{pid}-{random}``,
    on the same file system, so that :func:`replace_folder` is a rename). Leftovers of killed writers go first."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(out)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.{_STAGING}-{os.getpid()}-", dir=out.parent))


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False where the platform cannot."""
    if os.environ.get(NO_EXCHANGE_ENV):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False  # this kernel or file system cannot exchange
    raise OSError(err, os.strerror(err), str(b))


def replace_folder(staging: str | Path, out: str | Path) -> Path:
    """Make the complete folder ``staging`` (from :func:`staging_folder`) the folder ``out``, replacing what was
    there in one atomic exchange where the system allows it (see the module's docstring), and remove the old one."""
    staging, out = Path(staging), Path(out)
    fault_point("before-replace")
    if not out.exists():
        os.rename(staging, out)
        fault_point("after-replace")
        return out
    if _exchange(staging, out):
        fault_point("after-replace")
        shutil.rmtree(staging, ignore_errors=True)  # it holds the old folder now
        return out
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.{_OLD}-{os.getpid()}-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    fault_point("between-renames")
    os.rename(staging, out)
    fault_point("after-replace")
    shutil.rmtree(old, ignore_errors=True)
    return out
