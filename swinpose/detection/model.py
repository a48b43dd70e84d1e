"""The bundled person detector: torchvision's FCOS on a MobileNetV3-Small with an FPN, and its export graph.

Training uses torchvision's own model and losses (focal loss, GIoU, centre-ness; :mod:`swinpose.detection.train`).
The exported graph (:class:`DetectorGraph`) stops before NMS and writes the **ultralytics** layout of
:mod:`runtime.detection.layouts` with one class, so the runtime's one decoder and NMS serve it as they serve any
Ultralytics file:

- input ``[N, 3, H, W]`` float32 RGB in 0..1, centred letterbox with pad 114 (the ``ultralytics`` preset);
  the ImageNet normalisation torchvision's transform applies is folded into the graph;
- output ``[N, 5, A]``: box centre x, y, width, height in input pixels, and the person score
  ``sqrt(sigmoid(class) · sigmoid(centre-ness))``, FCOS's own score. ``A`` is the number of FCOS locations,
  ``sum(ceil(H/s)·ceil(W/s))`` over strides 8, 16, 32, 64.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from swinpose import defaults
from swinpose.detection.torchvision_ops import import_torchvision

__all__ = ["DetectorConfig", "DetectorGraph", "build_detector", "STRIDES"]

STRIDES = (8, 16, 32, 64)  # MobileNetV3-Small stages 3, 8, 11 and the FPN's max-pool level
_RETURN_LAYERS = {"3": "0", "8": "1", "11": "2"}  # features[3] stride 8 (24 ch), [8] 16 (48), [11] 32 (96)
_IN_CHANNELS = [24, 48, 96]


@dataclass(frozen=True)
class DetectorConfig:
    """What the bundled detector is; saved in its weights' metadata."""

    name: str = "fcos_mnv3s_320x256"
    input_size: tuple[int, int] = (256, 320)  # (H, W) of the letterboxed network input
    fpn_channels: int = 64
    head_convs: int = 2
    center_sampling_radius: float = 1.5

    def __post_init__(self) -> None:
        h, w = self.input_size
        if h % STRIDES[-1] or w % STRIDES[-1]:
            raise ValueError(f"input_size {self.input_size} must be a multiple of {STRIDES[-1]}")
        object.__setattr__(self, "input_size", (int(h), int(w)))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DetectorConfig:
        d: dict[str, Any] = json.loads(text)
        d["input_size"] = tuple(d["input_size"])
        return cls(**d)


def build_detector(cfg: DetectorConfig) -> nn.Module:
    """A torchvision ``FCOS`` for one class (person) whose transform leaves a letterboxed ``cfg.input_size`` image
    as it is (scale 1) and normalises it with ImageNet's mean and std. Randomly initialised."""
    import_torchvision()
    from torchvision.models import mobilenet_v3_small
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.fcos import FCOSHead

    backbone = BackboneWithFPN(mobilenet_v3_small().features, _RETURN_LAYERS, _IN_CHANNELS, cfg.fpn_channels)
    anchors = AnchorGenerator(sizes=tuple((s,) for s in STRIDES), aspect_ratios=((1.0,),) * len(STRIDES))
    head = FCOSHead(cfg.fpn_channels, 1, num_classes=1, num_convs=cfg.head_convs)
    h, w = cfg.input_size
    return FCOS(
        backbone,
        num_classes=1,
        min_size=min(h, w),
        max_size=max(h, w),
        image_mean=[m / 255 for m in defaults.IMAGENET_MEAN],
        image_std=[s / 255 for s in defaults.IMAGENET_STD],
        anchor_generator=anchors,
        head=head,
        center_sampling_radius=cfg.center_sampling_radius,
        score_thresh=0.05,
        nms_thresh=0.6,
        detections_per_img=100,
    )


class DetectorGraph(nn.Module):
    """The export graph of a trained :func:`build_detector` model (module docstring): ``[N, 3, H, W]`` → ``[N, 5, A]``.

    The FCOS locations (torchvision's anchors for ``cfg.input_size``) are computed once here and kept as a constant,
    so that forward has no shape arithmetic.
    """

    def __init__(self, fcos: nn.Module, cfg: DetectorConfig) -> None:
        super().__init__()
        from torchvision.models.detection.image_list import ImageList

        self.backbone, self.head, self.box_coder = fcos.backbone, fcos.head, fcos.box_coder
        transform = fcos.transform
        self.register_buffer("mean", torch.tensor(transform.image_mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(transform.image_std).view(1, 3, 1, 1))
        h, w = cfg.input_size
        with torch.no_grad():
            x = torch.zeros(1, 3, h, w)
            features = list(self.backbone(x).values())
            anchors = fcos.anchor_generator(ImageList(x, [(h, w)]), features)[0]
        self.register_buffer("anchors", anchors)  # [A, 4] x1 y1 x2 y2

    def forward(self, x: Tensor) -> Tensor:
        features = list(self.backbone((x - self.mean) / self.std).values())
        out = self.head(features)
        boxes = self.box_coder.decode(out["bbox_regression"], self.anchors)  # [N, A, 4] x1 y1 x2 y2
        score = torch.sqrt(torch.sigmoid(out["cls_logits"]) * torch.sigmoid(out["bbox_ctrness"]))  # [N, A, 1]
        centre, size = (boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]
        return torch.cat([centre, size, score], dim=-1).transpose(1, 2)
