"""Training the bundled person detector with torchvision's FCOS and its own losses (focal classification, GIoU box
regression, centre-ness BCE): AdamW, linear warm-up then cosine decay, gradient clipping, one seed for everything,
an atomic checkpoint per epoch (``last.pth``, resumable) and the float16 weights at the end."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from runtime.errors import CheckpointError, ConfigError
from runtime.files import atomic_path
from swinpose.data.coco import find_split
from swinpose.detection.data import PersonBoxes, collate
from swinpose.detection.model import DetectorConfig, build_detector
from swinpose.detection.weights import save_detector

__all__ = ["DetectorTrainConfig", "train_detector"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorTrainConfig:
    """A detector training run besides its data; recorded in the weights' metadata."""

    epochs: int = 8
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_iters: int = 200
    grad_clip: float = 10.0
    flip: bool = True
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "threads"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"detector training {name} must be a positive integer, got {getattr(self, name)!r}")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.grad_clip >= 0 and self.warmup_iters >= 0):
            raise ConfigError("detector training needs lr > 0, weight_decay >= 0, grad_clip >= 0, warmup_iters >= 0")


def _lr_factor(it: int, total: int, warmup: int) -> float:
    warm = min(1.0, 0.001 + (1 - 0.001) * it / warmup) if warmup > 0 else 1.0
    return warm * 0.5 * (1 + math.cos(math.pi * min(it / max(total, 1), 1.0)))


def train_detector(
    data: Path,
    out: Path,
    cfg: DetectorTrainConfig | None = None,
    model_cfg: DetectorConfig | None = None,
    progress: bool = True,
) -> Path:
    """Train on ``data``'s train split (COCO layout, :func:`swinpose.data.coco.find_split`); write
    ``out/last.pth`` after every epoch (a second call with the same ``out`` resumes from it) and
    ``out/detector.safetensors`` at the end. Returns the weights' path."""
    from tqdm import tqdm

    cfg, model_cfg = cfg or DetectorTrainConfig(), model_cfg or DetectorConfig()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    ann, images = find_split(data, "train")
    dataset = PersonBoxes(ann, images, model_cfg.input_size, flip=cfg.flip)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=True,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(cfg.seed),
        drop_last=True,
    )
    model = build_detector(model_cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    out.mkdir(parents=True, exist_ok=True)
    start_epoch, elapsed = 0, 0.0
    last = out / "last.pth"
    if last.is_file():
        state = torch.load(last, map_location="cpu", weights_only=False)
        if state["config"] != dataclasses.asdict(cfg) or state["model_config"] != model_cfg.to_json():
            raise CheckpointError(f"{last} was trained with other settings; pass another --out or delete it")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        loader.generator.set_state(state["loader_rng"])
        start_epoch, elapsed = state["epoch"], state["elapsed_s"]
        logger.info("resuming %s after epoch %d", last, start_epoch)
    total = cfg.epochs * len(loader)
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        bar = tqdm(loader, desc=f"detector epoch {epoch + 1}/{cfg.epochs}", unit="batch", disable=not progress)
        for i, (batch, targets) in enumerate(bar):
            it = epoch * len(loader) + i
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * _lr_factor(it, total, cfg.warmup_iters)
            losses = model(batch, targets)
            loss = sum(losses.values())
            if not torch.isfinite(loss):
                raise CheckpointError(f"the detector's loss became {float(loss)} at iteration {it}; lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            bar.set_postfix({k.split("_")[-1][:5]: f"{float(v):.3f}" for k, v in losses.items()})
        elapsed += time.perf_counter() - t0
        state = {
            "epoch": epoch + 1,
            "elapsed_s": elapsed,
            "config": dataclasses.asdict(cfg),
            "model_config": model_cfg.to_json(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "loader_rng": loader.generator.get_state(),
        }
        with atomic_path(last) as tmp:
            torch.save(state, tmp)
        logger.info("epoch %d/%d: loss %.4f, %.1f min so far", epoch + 1, cfg.epochs, float(loss), elapsed / 60)
    record = {
        "config": dataclasses.asdict(cfg),
        "iterations": total,
        "train_images": len(dataset),
        "training_minutes": round(elapsed / 60, 1),
        "threads": cfg.threads,
    }
    weights = save_detector(model.eval(), model_cfg, out / "detector.safetensors", record)
    (out / "record.json").write_text(json.dumps(record, indent=2))
    return weights
