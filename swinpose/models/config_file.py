"""mmengine-style config files (MMPose's ``configs/...py``) read without running them.

An MMPose config is a Python file. mmengine executes it; we do not, since a config from the internet is code. The
file is parsed with :mod:`ast`, and only its module-level assignments of plain data are evaluated: literals,
``dict(...)``, ``list``/``tuple``/``range`` of those, names assigned earlier, subscripts (``codec['input_size']``),
arithmetic and string joins. Anything else (calls, f-strings, imports) becomes an :class:`Unresolved` value that
says where it came from; it is an error only when a setting we need is one.

``_base_`` files are merged the way mmengine merges them (the child's dicts update the base's, recursively, unless
they say ``_delete_=True``) when they exist at their relative paths; ``{{_base_.name}}`` references read the merged
bases. A missing base is logged, not an error: every setting swinpose needs from MMPose's Swin configs is in the
config itself, and the bases hold the runtime and the dataset's keypoint metadata.

:mod:`swinpose.models.mmpose_config` reads MMPose's settings from the result.
"""

from __future__ import annotations

import ast
import logging
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.errors import ConfigError

__all__ = ["Unresolved", "read_mmpose_config", "parse_mmpose_config"]

logger = logging.getLogger(__name__)

#: the longest sequence a config's ``[x] * n`` or ``"s" * n`` may build: a config is data, not a memory bomb
_MAX_ITEMS = 100_000
_BASE_REF = re.compile(r"\{\{\s*_base_\.([A-Za-z_][\w.]*)\s*\}\}")
_BASE_CALL = "__swinpose_base_ref__"
_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


@dataclass(frozen=True)
class Unresolved:
    """A config value that is not plain data (a call, an f-string, an import); ``why`` says which and where."""

    why: str


def _evaluate(node: ast.AST, env: dict[str, Any], bases: dict[str, Any], where: str) -> Any:
    """The plain-data value of an expression, or an Unresolved."""

    def ev(n: ast.AST) -> Any:
        return _evaluate(n, env, bases, where)

    line = f"{where}:{getattr(node, 'lineno', '?')}"
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [ev(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        out: dict[Any, Any] = {}
        for k, v in zip(node.keys, node.values):
            value = ev(v)
            if k is None:  # {**other}
                if not isinstance(value, dict):
                    return Unresolved(f"'**' of a value that is not a dict at {line}")
                out.update(value)
            else:
                key = ev(k)
                if isinstance(key, (Unresolved, dict, list)):
                    return Unresolved(f"a dict key that is not plain data at {line}")
                out[key] = value
        return out
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        return Unresolved(f"the name {node.id!r}, which this file does not assign, at {line}")
    if isinstance(node, ast.Subscript):
        value, index = ev(node.value), ev(node.slice)
        if isinstance(value, Unresolved) or isinstance(index, Unresolved):
            return value if isinstance(value, Unresolved) else index
        try:
            return value[index]
        except (KeyError, IndexError, TypeError):
            return Unresolved(f"a subscript [{index!r}] that does not exist at {line}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = ev(node.operand)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
        return Unresolved(f"a sign on a value that is not a number at {line}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a, b = ev(node.left), ev(node.right)
        if isinstance(a, Unresolved) or isinstance(b, Unresolved):
            return a if isinstance(a, Unresolved) else b
        if not all(isinstance(x, (int, float, str, list, tuple)) and not isinstance(x, bool) for x in (a, b)):
            return Unresolved(f"arithmetic on values that are not numbers or strings at {line}")
        if isinstance(node.op, ast.Mult) and any(isinstance(x, (str, list, tuple)) for x in (a, b)):
            count = b if isinstance(a, (str, list, tuple)) else a
            if not isinstance(count, int) or count * len(a if isinstance(a, (str, list, tuple)) else b) > _MAX_ITEMS:
                return Unresolved(f"a repetition of over {_MAX_ITEMS} items at {line}")
        try:
            return _BINOPS[type(node.op)](a, b)
        except (TypeError, ZeroDivisionError):
            return Unresolved(f"arithmetic that fails at {line}")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        args = [ev(a) for a in node.args]
        kwargs = {k.arg: ev(k.value) for k in node.keywords if k.arg is not None}
        spreads = [ev(k.value) for k in node.keywords if k.arg is None]
        bad = [v for v in (*args, *kwargs.values(), *spreads) if isinstance(v, Unresolved)]
        if name == _BASE_CALL and len(args) == 1:
            return _lookup(bases, str(args[0]), line)
        if name == "dict" and not args and all(isinstance(s, dict) for s in spreads):
            out = {}
            for s in spreads:
                out.update(s)
            out.update(kwargs)  # unresolved values stay inside, as values
            return out
        if bad:
            return bad[0]
        if name in ("list", "tuple") and len(args) == 1 and not kwargs and isinstance(args[0], (list, tuple, range)):
            return list(args[0]) if name == "list" else tuple(args[0])
        if name == "range" and not kwargs and 1 <= len(args) <= 3 and all(type(a) is int for a in args):
            return range(*args)
        return Unresolved(f"a call of {name}() at {line}, which swinpose does not run")
    return Unresolved(f"a {type(node).__name__} expression at {line}, which swinpose does not evaluate")


def _lookup(bases: dict[str, Any], dotted: str, line: str) -> Any:
    value: Any = bases
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return Unresolved(f"{{{{_base_.{dotted}}}}} at {line}, which no base file found here defines")
        value = value[part]
    return value


def _merge(base: Any, child: Any) -> Any:
    """mmengine's merge: a child dict updates the base dict key by key, recursively, unless it has
    ``_delete_=True``; any other child value replaces the base's."""
    if not isinstance(child, dict) or not isinstance(base, dict) or child.get("_delete_") is True:
        return {k: v for k, v in child.items() if k != "_delete_"} if isinstance(child, dict) else child
    out = dict(base)
    for k, v in child.items():
        out[k] = _merge(base[k], v) if k in base else _merge(None, v)
    return out


def read_mmpose_config(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The module-level plain-data assignments of an MMPose config, merged onto its ``_base_`` files (those that
    exist). Raises ConfigError for a file that is missing, not Python, or that includes itself."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"MMPose config {path} does not exist; pass the .py config the checkpoint was trained with")
    if path.resolve() in _seen:
        raise ConfigError(f"MMPose config {path} includes itself through _base_ ({' → '.join(map(str, _seen))})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"MMPose config {path} cannot be read: {e}") from e
    return parse_mmpose_config(text, str(path), path.parent, (*_seen, path.resolve()))


def parse_mmpose_config(
    text: str, source: str, folder: Path | None = None, _seen: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """:func:`read_mmpose_config` of a config's text (e.g. the ``meta["cfg"]`` that mmengine's Runner saves in
    its checkpoints); ``_base_`` files are looked up in ``folder`` (none when it is None)."""
    text = _BASE_REF.sub(lambda m: f'{_BASE_CALL}("{m[1]}")', text)  # mmengine's {{_base_.x}} is not Python
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as e:
        raise ConfigError(
            f"MMPose config {source} is not Python (line {e.lineno}: {e.msg}); pass an MMPose .py "
            "config (a .json/.yml model index is not one)"
        ) from e
    except (ValueError, RecursionError, MemoryError) as e:  # null bytes; nesting deeper than Python parses
        raise ConfigError(f"MMPose config {source} cannot be parsed ({type(e).__name__}); it is not a config") from e
    try:
        return _assignments(tree, source, folder, _seen)
    except RecursionError as e:
        raise ConfigError(f"MMPose config {source} nests its values too deeply to read") from e


def _assignments(tree: ast.Module, source: str, folder: Path | None, _seen: tuple[Path, ...]) -> dict[str, Any]:
    """The module's plain-data assignments, merged onto its bases (see :func:`parse_mmpose_config`)."""
    name = Path(source).name
    names = [n for n in tree.body if isinstance(n, ast.Assign) and len(n.targets) == 1]
    base_node = next(
        (n.value for n in names if isinstance(n.targets[0], ast.Name) and n.targets[0].id == "_base_"), None
    )
    bases: dict[str, Any] = {}
    if base_node is not None:
        listed = _evaluate(base_node, {}, {}, name)
        for rel in [listed] if isinstance(listed, str) else listed if isinstance(listed, (list, tuple)) else []:
            if not isinstance(rel, str):
                continue
            base_path = folder / rel if folder is not None else None
            if base_path is not None and base_path.is_file():
                bases = _merge(bases, read_mmpose_config(base_path, _seen))
            else:
                logger.info("%s: its base %s is not here; reading the config's own settings only", name, rel)
    env: dict[str, Any] = {}
    for node in names:
        target = node.targets[0]
        if isinstance(target, ast.Name) and target.id != "_base_":
            env[target.id] = _evaluate(node.value, env, bases, name)
    return _merge(bases, env)
