"""MMPose config files (``configs/.../td-hm_swin-b-p4-w7_8xb32-210e_coco-256x192.py``, 0.x ``swin_b_p4_w7_...py``),
read without running them.

An MMPose config is a Python file. mmengine executes it; we do not, since a config from the internet is code. The
file is parsed with :mod:`ast`, and only its module-level assignments of plain data are evaluated: literals,
``dict(...)``, ``list``/``tuple``/``range`` of those, names assigned earlier, subscripts (``codec['input_size']``),
arithmetic and string joins. Anything else (calls, f-strings, imports) becomes an :class:`Unresolved` value that
says where it came from; it is an error only when a setting we need is one.

``_base_`` files are merged the way mmengine merges them (the child's dicts update the base's, recursively, unless
they say ``_delete_=True``) when they exist at their relative paths; ``{{_base_.name}}`` references read the merged
bases. A missing base is logged, not an error: every setting swinpose needs from MMPose's Swin configs is in the
config itself, and the bases hold the runtime and the dataset's keypoint metadata.

:func:`mmpose_settings` turns the merged config into :class:`MMPoseSettings`: the input and heatmap size, the
normalisation and colour order, the box padding, the flip test and its heatmap shift, the keypoint count and the
backbone the config describes. What swinpose does not reproduce (UDP, DARK decoding, other codecs) is refused by
name, never approximated.
"""

from __future__ import annotations

import ast
import logging
import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.errors import ConfigError

__all__ = [
    "Unresolved",
    "read_mmpose_config",
    "parse_mmpose_config",
    "MMPoseSettings",
    "mmpose_settings",
    "load_mmpose_settings",
]

logger = logging.getLogger(__name__)

#: the longest sequence a config's ``[x] * n`` or ``"s" * n`` may build: a config is data, not a memory bomb
_MAX_ITEMS = 100_000
_BASE_REF = re.compile(r"\{\{\s*_base_\.([A-Za-z_][\w.]*)\s*\}\}")
_BASE_CALL = "__swinpose_base_ref__"
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}  # fmt: skip


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
        raise ConfigError(f"MMPose config {source} is not Python (line {e.lineno}: {e.msg}); pass an MMPose .py "
                          "config (a .json/.yml model index is not one)") from e  # fmt: skip
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
    base_node = next((n.value for n in names if isinstance(n.targets[0], ast.Name) and n.targets[0].id == "_base_"),
                     None)  # fmt: skip
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


@dataclass(frozen=True)
class MMPoseSettings:
    """What an MMPose config says about a Swin top-down model's inference. Sizes are (H, W), ours; MMPose
    writes them (W, H)."""

    source: str
    layout: str  #: "1.x" (codec, data_preprocessor, test_cfg) or "0.x" (data_cfg, NormalizeTensor)
    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    sigma: float
    color_order: str  #: "RGB" or "BGR", the order the network takes
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pixel_scale: float  #: 255.0 when mean/std are on the 0..255 scale (1.x), 1.0 on 0..1 (0.x)
    box_padding: float
    flip_test: bool
    shift_heatmap: bool
    num_keypoints: int | None
    backbone: dict[str, Any] = field(default_factory=dict)  #: embed_dims, depths, num_heads, window_size
    neck: bool = False
    keypoints: dict[str, Any] | None = None  #: KeypointSpec.to_dict from a resolved 0.x dataset_info

    def describe(self) -> str:
        h, w = self.input_size
        return (f"{h}×{w} input, {self.color_order}, mean {list(self.mean)} std {list(self.std)} "
                f"(0..{self.pixel_scale:g} scale), box padding {self.box_padding:g}, "
                f"flip test {'on' if self.flip_test else 'off'}"
                f"{' with heatmap shift' if self.shift_heatmap else ''}")  # fmt: skip


def _get(d: Any, dotted: str, default: Any = None) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return default
        d = d[part]
    return d


class _Reader:
    """Typed reads of config values, each failure naming the key, the file and the flag that settles it."""

    def __init__(self, cfg: dict[str, Any], source: str) -> None:
        self.cfg, self.source = cfg, source

    def fail(self, what: str, fix: str) -> ConfigError:
        return ConfigError(f"MMPose config {self.source}: {what}; {fix}")

    def value(self, dotted: str, default: Any = None, base: Any = None) -> Any:
        v = _get(self.cfg if base is None else base, dotted, default)
        if isinstance(v, Unresolved):
            raise self.fail(f"{dotted} is {v.why}", "write it as a plain value in the config")
        return v

    def size(self, dotted: str, value: Any, flag: str) -> tuple[int, int]:
        if value is None:
            raise self.fail(f"it sets no {dotted}", f"pass {flag}")
        if isinstance(value, Unresolved):
            raise self.fail(f"{dotted} is {value.why}", f"write it as a plain value, or pass {flag}")
        if not (isinstance(value, (list, tuple)) and len(value) == 2
                and all(type(v) is int and v > 0 for v in value)):  # fmt: skip
            raise self.fail(f"{dotted} is {value!r}, not (width, height) in pixels", f"fix it, or pass {flag}")
        return int(value[1]), int(value[0])  # MMPose's (W, H) → our (H, W)

    def number(self, dotted: str, value: Any, default: float, lo: float = 0.0) -> float:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= lo:
            raise self.fail(f"{dotted} is {value!r}, not a number above {lo:g}", "fix it in the config")
        return float(value)

    def triple(self, dotted: str, value: Any) -> tuple[float, float, float]:
        ok = isinstance(value, (list, tuple)) and len(value) == 3
        if not ok or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise self.fail(f"{dotted} is {value!r}, not three per-channel numbers", "fix it in the config")
        return float(value[0]), float(value[1]), float(value[2])

    def flag(self, dotted: str, value: Any, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(f"{dotted} is {value!r}, not True or False", "fix it in the config")
        return value


def _pipeline_step(cfg: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, Any] | None:
    """The first step whose type is one of ``kinds`` in the pipeline MMPose tests with (1.x's test_dataloader, 0.x's
    data.test), else in the val pipeline."""
    keys = ("test_dataloader.dataset.pipeline", "data.test.pipeline", "test_pipeline",
            "val_dataloader.dataset.pipeline", "data.val.pipeline", "val_pipeline")  # fmt: skip
    for key in keys:
        steps = _get(cfg, key)
        if isinstance(steps, list):
            for s in steps:
                if isinstance(s, dict) and s.get("type") in kinds:
                    return s
    return None


def _refuse(r: _Reader, condition: bool, what: str) -> None:
    if condition:
        raise r.fail(f"{what}, which swinpose's decoding does not reproduce",
                     "deploy a config with MSRAHeatmap decoding and no UDP (as MMPose's Swin configs are), or open an "
                     "issue with the config")  # fmt: skip


def mmpose_settings(cfg: dict[str, Any], source: str) -> MMPoseSettings:
    """The inference settings of a merged MMPose config (:func:`read_mmpose_config`)."""
    r = _Reader(cfg, source)
    model = r.value("model", {})
    if not isinstance(model, dict) or not model:
        raise r.fail("it has no model = dict(...)", "pass the top-down pose config the checkpoint was trained with")
    backbone = _get(model, "backbone", {})
    if not isinstance(backbone, dict) or backbone.get("type") != "SwinTransformer":
        kind = backbone.get("type") if isinstance(backbone, dict) else backbone
        raise r.fail(f"its backbone is {kind!r}, not SwinTransformer", "swinpose deploys MMPose's Swin pose models")
    bb = {k: backbone[k] for k in ("embed_dims", "depths", "num_heads", "window_size")
          if k in backbone and not isinstance(backbone[k], Unresolved)}  # fmt: skip
    if "head" in model:
        return _settings_1x(r, model, bb)
    if "keypoint_head" in model:
        return _settings_0x(r, model, bb)
    raise r.fail("its model has neither head (MMPose 1.x) nor keypoint_head (0.x)", "pass a top-down heatmap config")


def _settings_1x(r: _Reader, model: dict[str, Any], bb: dict[str, Any]) -> MMPoseSettings:
    head = model["head"]
    codec = _get(head, "decoder")
    codec = codec if isinstance(codec, dict) else r.value("codec")
    if not isinstance(codec, dict):
        raise r.fail("it has no codec (model.head.decoder or codec = dict(type='MSRAHeatmap', ...))",
                     "pass --input-size, or the config the checkpoint was trained with")  # fmt: skip
    _refuse(r, codec.get("type") != "MSRAHeatmap", f"its codec is {codec.get('type')!r}, not MSRAHeatmap")
    _refuse(r, bool(codec.get("unbiased")), "its MSRAHeatmap codec decodes with DARK (unbiased=True)")
    test_cfg = r.value("test_cfg", {}, model) or {}
    _refuse(r, test_cfg.get("flip_mode", "heatmap") != "heatmap", f"its flip_mode is {test_cfg.get('flip_mode')!r}")
    affine = _pipeline_step(r.cfg, ("TopdownAffine",)) or {}
    _refuse(r, bool(affine.get("use_udp")), "its TopdownAffine uses UDP (use_udp=True)")
    box = _pipeline_step(r.cfg, ("GetBBoxCenterScale",)) or {}
    pre = r.value("data_preprocessor", {}, model) or {}
    if pre.get("mean") is None or pre.get("std") is None:
        raise r.fail("model.data_preprocessor sets no mean and std", "add MMPose's mean=[123.675, 116.28, 103.53], "
                     "std=[58.395, 57.12, 57.375], bgr_to_rgb=True if that is how the model was trained")  # fmt: skip
    out_channels = head.get("out_channels")
    return MMPoseSettings(
        source=r.source,
        layout="1.x",
        input_size=r.size("codec.input_size", codec.get("input_size"), "--input-size HxW"),
        heatmap_size=r.size("codec.heatmap_size", codec.get("heatmap_size"), "--input-size HxW"),
        sigma=r.number("codec.sigma", codec.get("sigma"), 2.0),
        color_order="RGB" if r.flag("data_preprocessor.bgr_to_rgb", pre.get("bgr_to_rgb"), False) else "BGR",
        mean=r.triple("data_preprocessor.mean", pre["mean"]),
        std=r.triple("data_preprocessor.std", pre["std"]),
        pixel_scale=255.0,
        box_padding=r.number("GetBBoxCenterScale.padding", box.get("padding"), 1.25),
        flip_test=r.flag("test_cfg.flip_test", test_cfg.get("flip_test"), False),
        shift_heatmap=r.flag("test_cfg.shift_heatmap", test_cfg.get("shift_heatmap"), False),
        num_keypoints=out_channels if type(out_channels) is int else None,
        backbone=bb,
        neck=isinstance(model.get("neck"), dict),
    )


def _settings_0x(r: _Reader, model: dict[str, Any], bb: dict[str, Any]) -> MMPoseSettings:
    head = model["keypoint_head"]
    data_cfg = r.value("data_cfg", {}) or {}
    test_cfg = r.value("test_cfg", {}, model) or {}
    _refuse(r, test_cfg.get("target_type", "GaussianHeatmap") != "GaussianHeatmap",
            f"its target_type is {test_cfg.get('target_type')!r}")  # fmt: skip
    _refuse(r, bool(test_cfg.get("use_udp")), "its test_cfg uses UDP (use_udp=True)")
    _refuse(r, test_cfg.get("post_process", "default") != "default",
            f"its post_process is {test_cfg.get('post_process')!r} (swinpose reproduces 'default')")  # fmt: skip
    affine = _pipeline_step(r.cfg, ("TopDownAffine",)) or {}
    _refuse(r, bool(affine.get("use_udp")), "its TopDownAffine uses UDP (use_udp=True)")
    norm = _pipeline_step(r.cfg, ("NormalizeTensor",))
    if norm is None:
        raise r.fail("its test pipeline has no NormalizeTensor", "pass the config the checkpoint was trained with")
    box = _pipeline_step(r.cfg, ("TopDownGetBboxCenterScale",)) or {}
    load = _pipeline_step(r.cfg, ("LoadImageFromFile",)) or {}
    target = next((s for k in ("train_pipeline",) for s in (_get(r.cfg, k) or [])
                   if isinstance(s, dict) and s.get("type") == "TopDownGenerateTarget"), {})  # fmt: skip
    out_channels = head.get("out_channels")
    return MMPoseSettings(
        source=r.source,
        layout="0.x",
        input_size=r.size("data_cfg.image_size", data_cfg.get("image_size"), "--input-size HxW"),
        heatmap_size=r.size("data_cfg.heatmap_size", data_cfg.get("heatmap_size"), "--input-size HxW"),
        sigma=r.number("TopDownGenerateTarget.sigma", target.get("sigma"), 2.0),
        color_order="BGR" if load.get("channel_order", "rgb") == "bgr" else "RGB",
        mean=r.triple("NormalizeTensor.mean", norm.get("mean")),
        std=r.triple("NormalizeTensor.std", norm.get("std")),
        pixel_scale=1.0,
        box_padding=r.number("TopDownGetBboxCenterScale.padding", box.get("padding"), 1.25),
        flip_test=r.flag("test_cfg.flip_test", test_cfg.get("flip_test"), False),
        shift_heatmap=r.flag("test_cfg.shift_heatmap", test_cfg.get("shift_heatmap"), False),
        num_keypoints=out_channels if type(out_channels) is int else None,
        backbone=bb,
        neck=isinstance(model.get("neck"), dict),
        keypoints=_dataset_keypoints(r.cfg.get("dataset_info")),
    )


def _dataset_keypoints(info: Any) -> dict[str, Any] | None:
    """KeypointSpec.to_dict from a 0.x ``dataset_info`` (keypoint_info with swap names, skeleton_info, sigmas),
    or None when it is absent or not plain data."""
    try:
        kinfo = info["keypoint_info"]
        order = sorted(kinfo)
        names = [str(kinfo[i]["name"]) for i in order]
        index = {n: i for i, n in enumerate(names)}
        pairs = sorted({tuple(sorted((index[n], index[kinfo[i]["swap"]]))) for i, n in zip(order, names)
                        if kinfo[i].get("swap")})  # fmt: skip
        links = info.get("skeleton_info", {})
        skeleton = [[index[links[j]["link"][0]], index[links[j]["link"][1]]] for j in sorted(links)]
        sigmas = [float(s) for s in info.get("sigmas", [])]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None
    return {"names": names, "skeleton": skeleton, "flip_pairs": [list(p) for p in pairs], "oks_sigmas": sigmas}


def load_mmpose_settings(path: str | Path) -> MMPoseSettings:
    """:func:`mmpose_settings` of the config file at ``path``."""
    return mmpose_settings(read_mmpose_config(path), str(path))
