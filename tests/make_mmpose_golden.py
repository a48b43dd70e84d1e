"""Make tests/data/mmpose/: MMPose-format checkpoints of the six Swin pose architectures MMPose publishes, built *in
MMPose itself* at seeded random weights, and MMPose's outputs on fixed inputs. The tests then need no MMPose.

Run it in a throwaway venv (MMPose needs numpy < 2 and cannot live beside swinpose's stack):

    python3.11 -m venv /tmp/mmp && /tmp/mmp/bin/pip install torch==2.13.0
    /tmp/mmp/bin/pip install mmcv-lite==2.1.0 mmengine==0.10.7 six json_tricks munkres scipy "numpy<2" \\
        "setuptools<70" xtcocotools opencv-python-headless==4.10.0.84
    /tmp/mmp/bin/pip install --no-deps mmpose==1.3.2
    /tmp/mmp/bin/python tests/make_mmpose_golden.py --out tests/data/mmpose

Each architecture keeps what decides MMPose's code paths: the input size, the window (7 or 12, as each config says:
Swin-B 384×288 has 12, Swin-L 384×288 7; hence the padded grids and shifts of every stage), the head (three 4×4
stride-2 deconvs with BN and ReLU, or the FPN with 3×3 output convs and a 1×1 head on level 0). Only the widths and
depths are cut (embed 8, 2 blocks a stage, 16 head/neck channels), so that the files stay small. For each it writes:

- ``{name}.1x.pth``: mmengine's layout, ``{"meta": {..., "dataset_meta": {numpy arrays}}, "state_dict":
  {backbone.*, neck.*, head.*}}``; ``{name}.0x.pth``: MMPose 0.x's, ``keypoint_head.*`` and a config string in meta;
- ``{name}.pipeline.npz`` (two of them): MMPose's whole top-down pipeline on the COCO sample photos (below);
- ``{name}.config.py``: MMPose's config of the architecture (``tests/data/mmpose/configs``, copied from the MMPose
  repository) as mmengine's ``Config.dump`` writes it after cutting the widths; the 1.x checkpoints of the five
  1.x configs carry it as ``meta["cfg"]``, as mmengine's Runner saves it (the FPN model's config is 0.x's);
- ``{name}.heatmaps.npy``: MMPose's heatmaps (1×17×h×w float32) for the input ``np.random.default_rng(SEED)
  .standard_normal((1, 3, H, W)).astype(np.float32)``.

And once: ``warp.json`` (MMPose's ``get_warp_matrix`` for boxes through its ``bbox_xyxy2cs``) and ``decode.npz``
(``MSRAHeatmap.decode`` of 17×16×12 heatmaps, stride 4, and MMPose's heatmap flip with and without
``shift_heatmap``). ``SOURCE`` records the
versions and this command.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

SEED = 2026
#: name → the architecture MMPose's config builds, at cut widths
ARCHS = {
    "swin_t_256x192": dict(
        size=(256, 192),
        embed=8,
        heads=(1, 1, 2, 4),
        window=7,
        fpn=False,
        config="td-hm_swin-t-p4-w7_8xb32-210e_coco-256x192.py",
    ),
    "swin_b_256x192": dict(
        size=(256, 192),
        embed=8,
        heads=(1, 2, 2, 4),
        window=7,
        fpn=False,
        config="td-hm_swin-b-p4-w7_8xb32-210e_coco-256x192.py",
    ),
    "swin_b_384x288": dict(
        size=(384, 288),
        embed=8,
        heads=(1, 2, 2, 4),
        window=12,
        fpn=False,
        config="td-hm_swin-b-p4-w7_8xb32-210e_coco-384x288.py",
    ),
    "swin_l_256x192": dict(
        size=(256, 192),
        embed=12,
        heads=(1, 2, 4, 4),
        window=7,
        fpn=False,
        config="td-hm_swin-l-p4-w7_8xb32-210e_coco-256x192.py",
    ),
    "swin_l_384x288": dict(
        size=(384, 288),
        embed=12,
        heads=(1, 2, 4, 4),
        window=7,
        fpn=False,
        config="td-hm_swin-l-p4-w7_8xb32-210e_coco-384x288.py",
    ),
    "swin_b_fpn_256x192": dict(
        size=(256, 192), embed=8, heads=(1, 2, 2, 4), window=7, fpn=True, config="swin_b_p4_w7_fpn_coco_256x192.py"
    ),
}
CHANNELS = 16  # deconv and FPN width (MMPose: 256)
DEPTHS = (2, 2, 2, 2)  # a W-MSA and a shifted block in every stage


def _mmpose_modules():
    """MMPose's Swin, FPN and HeatmapHead modules, loaded by path under stub parent packages (``mmpose.models``
    imports every backbone, and some need mmdet)."""
    import mmpose
    from mmengine.registry import init_default_scope

    init_default_scope("mmpose")
    root = Path(mmpose.__file__).parent
    for name in (
        "mmpose.models",
        "mmpose.models.backbones",
        "mmpose.models.necks",
        "mmpose.models.heads",
        "mmpose.models.heads.heatmap_heads",
        "mmpose.models.losses",
    ):
        module = types.ModuleType(name)
        module.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
        sys.modules.setdefault(name, module)
    swin = importlib.import_module("mmpose.models.backbones.swin")
    fpn = importlib.import_module("mmpose.models.necks.fpn")
    head = importlib.import_module("mmpose.models.heads.heatmap_heads.heatmap_head")
    importlib.import_module("mmpose.models.losses.heatmap_loss")  # registers the head's default loss
    return swin.SwinTransformer, fpn.FPN, head.HeatmapHead


def _randomise(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Seeded weights everywhere, norm statistics included, scaled so that every layer carries the signal (weights
    ~ 1/sqrt(fan-in)) and the relative-position bias matters (unit scale): then a wrong mapping, window rule or
    convention shows in the heatmaps."""

    def noise(shape):
        return torch.randn(shape, generator=generator)

    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, (torch.nn.BatchNorm2d, torch.nn.LayerNorm)):
                sub.weight.copy_(1.0 + 0.2 * noise(sub.weight.shape))
                sub.bias.copy_(0.2 * noise(sub.bias.shape))
                if isinstance(sub, torch.nn.BatchNorm2d):
                    sub.running_mean.copy_(0.2 * noise(sub.running_mean.shape))
                    sub.running_var.copy_(1.0 + 0.5 * noise(sub.running_var.shape).abs())
                continue
            for name, p in sub.named_parameters(recurse=False):
                if name == "relative_position_bias_table":
                    p.copy_(noise(p.shape))
                elif p.dim() == 1:
                    p.copy_(0.1 * noise(p.shape))
                else:
                    fan_in = p.shape[0] if isinstance(sub, torch.nn.ConvTranspose2d) else p[0].numel()
                    p.copy_(noise(p.shape) / fan_in**0.5)


class Pose(torch.nn.Module):
    """MMPose's top-down network: backbone, optional neck, head (on the neck's level 0 for the FPN variant, as the
    0.x config's ``in_index=0``; 1.x's HeatmapHead reads the last of the features it is given)."""

    def __init__(self, backbone, neck, head) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head
        if neck is not None:
            self.neck = neck

    def forward(self, x):
        feats = self.backbone(x)
        if hasattr(self, "neck"):
            feats = (self.neck(feats)[0],)
        return self.head(feats)


def build(arch: dict) -> Pose:
    SwinTransformer, FPN, HeatmapHead = _mmpose_modules()
    e = arch["embed"]
    backbone = SwinTransformer(
        pretrain_img_size=224,
        embed_dims=e,
        depths=DEPTHS,
        num_heads=arch["heads"],
        window_size=arch["window"],
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.0,
        patch_norm=True,
        out_indices=(0, 1, 2, 3) if arch["fpn"] else (3,),
    )
    if arch["fpn"]:
        neck = FPN(
            [e, 2 * e, 4 * e, 8 * e], CHANNELS, num_outs=4, upsample_cfg=dict(mode="bilinear", align_corners=False)
        )
        head = HeatmapHead(CHANNELS, 17, deconv_out_channels=None, final_layer=dict(kernel_size=1))
    else:
        neck = None
        head = HeatmapHead(8 * e, 17, deconv_out_channels=(CHANNELS,) * 3, deconv_kernel_sizes=(4, 4, 4))
    model = Pose(backbone, neck, head)
    model.eval()  # MMPose's Swin.train() returns None: eval() on its own line
    return model


CONFIGS = Path(__file__).parent / "data" / "mmpose" / "configs"


def cut_config(name: str, arch: dict) -> Any:
    """MMPose's own config of ``arch`` (the copies in tests/data/mmpose/configs, 1.x, or 0.x for the FPN model)
    read by mmengine's ``Config.fromfile``, with the widths cut as :func:`build` cuts them."""
    from mmengine.config import Config

    found = sorted(CONFIGS.rglob(arch["config"]))
    cfg = Config.fromfile(str(found[0]))
    e = arch["embed"]
    cfg.model.backbone.update(
        embed_dims=e,
        depths=list(DEPTHS),
        num_heads=list(arch["heads"]),
        window_size=arch["window"],
        drop_path_rate=0.0,
        init_cfg=None,
    )
    head = cfg.model.get("head", cfg.model.get("keypoint_head"))
    if arch["fpn"]:
        cfg.model.neck.update(in_channels=[e, 2 * e, 4 * e, 8 * e], out_channels=CHANNELS)
        head.update(in_channels=CHANNELS)
    else:
        head.update(in_channels=8 * e, deconv_out_channels=(CHANNELS,) * 3)
    cfg.model.pop("pretrained", None)
    return cfg


def _dataset_meta() -> dict:
    import mmpose
    from mmpose.datasets.datasets.utils import parse_pose_metainfo

    coco = Path(mmpose.__file__).parent / ".mim" / "configs" / "_base_" / "datasets" / "coco.py"
    return parse_pose_metainfo(dict(from_file=str(coco)))


#: the end-to-end goldens: MMPose's own top-down pipeline on the COCO sample photos with their GT boxes
PIPELINE_ARCHS = ("swin_t_256x192", "swin_b_fpn_256x192")
PHOTOS = Path(__file__).parent / "data" / "coco-val2017-sample"


def _pipeline_goldens(out: Path, dataset_meta: dict) -> None:
    """``{name}.pipeline.npz``: keypoints (N×K×2 image pixels) and scores of MMPose's pipeline, without and with
    the flip test, for every GT box of the COCO sample photos: GetBBoxCenterScale (padding 1.25), TopdownAffine,
    PoseDataPreprocessor (BGR→RGB, mean/std), the network, flip_heatmaps with shift_heatmap, MSRAHeatmap.decode,
    and TopdownPoseEstimator's map back to the image. Also MMPose's crop affines (get_warp_matrix) and its uint8
    crops, so that a test can run the rest of the pipeline on exactly MMPose's crops: OpenCV versions' warpAffine
    differ by a few grey levels, and MMPose needs numpy < 2, which this OpenCV 4.10 is the newest for."""
    import cv2
    from mmpose.codecs import MSRAHeatmap
    from mmpose.datasets.transforms import GetBBoxCenterScale, TopdownAffine
    from mmpose.models.utils.tta import flip_heatmaps

    ann = json.loads((PHOTOS / "test_coco.json").read_text())
    files = {im["id"]: im["file_name"] for im in ann["images"]}
    people = [a for a in ann["annotations"] if a.get("num_keypoints", 0) > 0 and a["bbox"][2] > 1 and a["bbox"][3] > 1]
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    for name in PIPELINE_ARCHS:
        index = list(ARCHS).index(name)
        arch = ARCHS[name]
        torch.manual_seed(index)
        model = build(arch)
        model.load_state_dict(torch.load(out / f"{name}.1x.pth", weights_only=False)["state_dict"])
        model.eval()
        h, w = arch["size"]
        codec = MSRAHeatmap(input_size=(w, h), heatmap_size=(w // 4, h // 4), sigma=2)
        rows = {k: [] for k in ("image", "box", "matrix", "crop", "plain", "plain_scores", "flip", "flip_scores")}
        for a in people:
            img = cv2.imread(str(PHOTOS / files[a["image_id"]]))
            x, y, bw, bh = a["bbox"]
            results = {
                "img": img,
                "bbox": np.array([[x, y, x + bw, y + bh]], np.float32),
                "bbox_score": np.ones(1, np.float32),
            }
            results = TopdownAffine(input_size=(w, h))(GetBBoxCenterScale(padding=1.25)(results))
            crop = results["img"]
            inputs = ((crop[..., ::-1].astype(np.float32) - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
            with torch.no_grad():
                t = torch.from_numpy(inputs)
                heatmaps = model(t)
                flipped = flip_heatmaps(
                    model(t.flip(-1)),
                    flip_mode="heatmap",
                    flip_indices=dataset_meta["flip_indices"],
                    shift_heatmap=True,
                )
            center, scale = results["bbox_center"][0], results["bbox_scale"][0]
            for key, hm in (("plain", heatmaps), ("flip", (heatmaps + flipped) * 0.5)):
                kpts, scores = codec.decode(hm[0].numpy())
                kpts = kpts / np.array([w, h]) * scale + center - 0.5 * scale  # TopdownPoseEstimator's map back
                rows[key].append(kpts[0])
                rows[key + "_scores"].append(scores[0])
            rows["image"].append(files[a["image_id"]])
            rows["box"].append([x, y, x + bw, y + bh])
            rows["matrix"].append(_warp_of(center, scale, (w, h)))
            rows["crop"].append(crop)
        np.savez_compressed(out / f"{name}.pipeline.npz", **{k: np.array(v) for k, v in rows.items()})
        print(name, "pipeline:", len(people), "people", flush=True)


def _warp_of(center: np.ndarray, scale: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from mmpose.structures.bbox import get_warp_matrix

    return get_warp_matrix(center, scale, 0.0, output_size=size)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("tests/data/mmpose"))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    import mmengine
    import mmpose

    dataset_meta = _dataset_meta()
    for index, (name, arch) in enumerate(ARCHS.items()):
        torch.manual_seed(index)
        model = build(arch)
        _randomise(model, torch.Generator().manual_seed(SEED + index))
        model.eval()
        h, w = arch["size"]
        x = np.random.default_rng(SEED).standard_normal((1, 3, h, w)).astype(np.float32)
        with torch.no_grad():
            heatmaps = model(torch.from_numpy(x)).numpy()
        np.save(args.out / f"{name}.heatmaps.npy", heatmaps.astype(np.float32))
        sd = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
        cfg = cut_config(name, arch)
        cfg.dump(str(args.out / f"{name}.config.py"))
        v1 = {
            "meta": {
                "dataset_meta": dataset_meta,
                "mmengine_version": mmengine.__version__,
                "mmpose_version": mmpose.__version__,
                "experiment_name": f"golden_{name}",
                "seed": SEED,
                **({} if arch["fpn"] else {"cfg": cfg.pretty_text}),
            },
            "state_dict": sd,
        }
        torch.save(v1, args.out / f"{name}.1x.pth")
        v0_sd = OrderedDict(
            (k.replace("head.", "keypoint_head.", 1) if k.startswith("head.") else k, v) for k, v in sd.items()
        )
        v0 = {
            "meta": {
                "mmcv_version": "1.7.0",
                "mmpose_version": "0.29.0",
                "time": "golden",
                "config": f"# {arch['config']} at cut widths\n",
            },
            "state_dict": v0_sd,
        }
        torch.save(v0, args.out / f"{name}.0x.pth")
        print(name, tuple(heatmaps.shape), f"{sum(v.numel() for v in sd.values())} values", flush=True)

    _pipeline_goldens(args.out, dataset_meta)

    # pre- and post-processing goldens
    from mmpose.codecs import MSRAHeatmap
    from mmpose.models.utils.tta import flip_heatmaps
    from mmpose.structures.bbox import bbox_xyxy2cs, get_warp_matrix

    boxes = np.array([[10.0, 20.0, 60.0, 120.0], [0.0, 0.0, 640.0, 427.0], [100.5, 33.25, 180.75, 300.0]])
    warp = []
    for size in ((192, 256), (288, 384)):
        center, scale = bbox_xyxy2cs(boxes, padding=1.25)
        for c, s in zip(center, scale):
            w_, h_ = s
            aspect = size[0] / size[1]  # MMPose's TopdownAffine fixes the aspect ratio to w/h first
            s = np.array([w_, w_ / aspect] if w_ > h_ * aspect else [h_ * aspect, h_])
            m = get_warp_matrix(c, s, 0.0, output_size=size)
            warp.append(
                {"box": None, "center": c.tolist(), "scale": s.tolist(), "input_wh": list(size), "matrix": m.tolist()}
            )
    for i, entry in enumerate(warp):
        entry["box"] = boxes[i % len(boxes)].tolist()
    (args.out / "warp.json").write_text(json.dumps(warp, indent=1))
    rng = np.random.default_rng(SEED)
    hm = rng.random((17, 16, 12)).astype(np.float32) ** 8
    hm[3] -= 2.0  # a keypoint whose maximum is not positive: MMPose puts it at -1
    hm[4, :, 0] = 5.0  # maxima on the borders, where MMPose's quarter offset is skipped
    hm[5, 0, :] = 5.0
    codec = MSRAHeatmap(input_size=(48, 64), heatmap_size=(12, 16), sigma=2)
    kpts, scores = codec.decode(hm)
    flipped = hm[None, :, :, ::-1].copy()
    flip_indices = dataset_meta["flip_indices"]
    shifted = flip_heatmaps(
        torch.from_numpy(flipped), flip_mode="heatmap", flip_indices=flip_indices, shift_heatmap=True
    ).numpy()
    plain = flip_heatmaps(
        torch.from_numpy(flipped), flip_mode="heatmap", flip_indices=flip_indices, shift_heatmap=False
    ).numpy()
    np.savez(
        args.out / "decode.npz",
        heatmaps=hm,
        keypoints=kpts,
        scores=scores,
        flipped=flipped,
        flip_back_shifted=shifted,
        flip_back=plain,
    )
    (args.out / "SOURCE").write_text(
        "Made by tests/make_mmpose_golden.py in MMPose "
        f"{mmpose.__version__} (mmengine {mmengine.__version__}, torch {torch.__version__}, numpy {np.__version__}):"
        "\n  /tmp/mmp/bin/python tests/make_mmpose_golden.py --out tests/data/mmpose\n"
        "Seeded random weights at cut widths (see the script's docstring); no published weights are included.\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
