"""Top-down heatmap training: MSE with target weights, AdamW with warm-up and cosine/step decay, AMP on CUDA,
gradient clipping, atomic checkpoints (every N epochs, last and best-by-AP), resume, and DDP under ``torchrun``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from runtime.errors import CheckpointError, ConfigError
from runtime.files import atomic_path, write_json_atomic
from runtime.package import InferenceSpec
from swinpose import defaults
from swinpose.data.coco import Augmentation, CocoKeypoints, find_split, load_coco_instances
from swinpose.evaluation import coco_keypoint_eval, predict, to_coco_results
from swinpose.models import create_model, load_pretrained_backbone
from swinpose.models.pose_io import INFERENCE_META_KEY

__all__ = ["TrainConfig", "heatmap_mse", "lr_factor", "train"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on besides the data location; saved beside its checkpoints."""

    model: str = "swinpose_nano_128x96"
    model_overrides: dict = field(default_factory=dict)  # e.g. {"fusion": "concat"}
    pretrained: str | None = None  # ImageNet Swin backbone file (timm / official / MMPose layout)
    # what inference must repeat (swinpose.defaults; recorded in every checkpoint and so in every package)
    sigma: float = defaults.SIGMA
    color_order: str = defaults.COLOR_ORDER
    mean: tuple[float, float, float] = defaults.IMAGENET_MEAN
    std: tuple[float, float, float] = defaults.IMAGENET_STD
    pixel_scale: float = defaults.PIXEL_SCALE
    box_padding: float = defaults.BOX_PADDING
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_iters: int = 300
    schedule: str = "cosine"  # "cosine" or "step"
    milestones: tuple[int, ...] = (15, 18)  # epochs, for the step schedule
    gamma: float = 0.1
    grad_clip: float = 1.0  # max gradient norm; 0 disables clipping
    amp: bool = True  # float16 autocast + GradScaler on CUDA (ignored on CPU)
    workers: int = 2
    save_every: int = 5
    eval_every: int = 1
    flip_test: bool = True
    seed: int = 0
    augmentation: Augmentation = field(default_factory=Augmentation)

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        object.__setattr__(self, "mean", tuple(self.mean))
        object.__setattr__(self, "std", tuple(self.std))
        if isinstance(self.augmentation, dict):
            object.__setattr__(self, "augmentation", Augmentation(**self.augmentation))
        if self.schedule not in ("cosine", "step"):
            raise ConfigError(f"schedule must be 'cosine' or 'step', got {self.schedule!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("epochs and batch_size must be >= 1 and lr > 0")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    def inference(self, model_cfg: Any) -> InferenceSpec:
        """The inference settings a model with ``model_cfg`` trained by this config needs (raises
        :class:`ConfigError` for invalid ones, before any training starts)."""
        return defaults.inference_spec(
            model_cfg,
            color_order=self.color_order,
            mean=self.mean,
            std=self.std,
            pixel_scale=self.pixel_scale,
            box_padding=self.box_padding,
            sigma=self.sigma,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown training config keys {unknown}; known keys: {sorted(known)}")
        return cls(**d)


def heatmap_mse(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Mean squared error over B×K×h×w heatmaps, each keypoint's map weighted by ``weight`` (B×K)."""
    return ((pred.float() - target) ** 2 * weight[..., None, None]).mean()


def lr_factor(it: int, total: int, iters_per_epoch: int, cfg: TrainConfig) -> float:
    """Learning-rate multiplier at iteration ``it``: linear warm-up from 0.001, then cosine to 0 or steps."""
    warm = min(1.0, 0.001 + (1 - 0.001) * it / cfg.warmup_iters) if cfg.warmup_iters > 0 else 1.0
    if cfg.schedule == "cosine":
        decay = 0.5 * (1 + math.cos(math.pi * min(it / max(total, 1), 1.0)))
    else:
        epoch = it // max(iters_per_epoch, 1)
        decay = cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    return warm * decay


def _save_atomic(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _dist_info() -> tuple[int, int, int]:
    """(rank, local rank, world size) under torchrun; (0, 0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world


def evaluate_model(model: nn.Module, val: CocoKeypoints, gt: dict, cfg: TrainConfig, device: torch.device) -> dict:
    """COCO keypoint stats of ``model`` on a GT-box validation set."""
    pred = predict(model, val, val.codec, batch_size=cfg.batch_size, flip_test=cfg.flip_test, device=device)
    return coco_keypoint_eval(gt, to_coco_results(pred), val.keypoints.sigmas())


def train(
    cfg: TrainConfig,
    data: str | Path,
    out: str | Path,
    resume: str | Path | None = None,
    device: str | None = None,
    max_iters: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train on ``data`` (a COCO-layout root with train and val splits) and write checkpoints to ``out``.

    ``max_iters`` stops early (for smoke tests). Returns a summary: smoothed final ``loss``, ``losses`` of every
    iteration of this call, ``best_ap``, ``iterations``, ``epoch`` and ``seconds``.
    """
    from torch.utils.data import DataLoader, DistributedSampler

    rank, local_rank, world = _dist_info()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    main = rank == 0
    out = Path(out)
    torch.manual_seed(cfg.seed + rank)

    model = create_model(cfg.model, **cfg.model_overrides)
    if cfg.pretrained:
        report = load_pretrained_backbone(model, cfg.pretrained)
        if main:
            logger.info("backbone from %s: %s", cfg.pretrained, report)
    inference = cfg.inference(model.cfg)
    train_ann, train_img = find_split(data, "train")
    val_ann, val_img = find_split(data, "val")
    k = model.cfg.num_keypoints
    train_set = CocoKeypoints(
        load_coco_instances(train_ann, train_img, k)[0], inference, cfg.augmentation, seed=cfg.seed
    )
    val_instances, val_gt = load_coco_instances(val_ann, val_img, k)
    val_set = CocoKeypoints(val_instances, inference)

    sampler = DistributedSampler(train_set, world, rank, shuffle=True, seed=cfg.seed) if world > 1 else None
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(
        train_set,
        cfg.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        num_workers=cfg.workers,
        drop_last=True,
        generator=generator,
        pin_memory=dev.type == "cuda",
    )
    if len(loader) == 0:
        raise ConfigError(f"{len(train_set)} training instances make no batch of {cfg.batch_size}; lower batch_size")

    model.to(dev)
    groups: dict[bool, list[nn.Parameter]] = {True: [], False: []}  # weight decay on matrices and convs only
    for name, p in model.named_parameters():
        groups[p.ndim > 1 and "relative_position" not in name].append(p)
    opt = torch.optim.AdamW(
        [{"params": groups[True], "weight_decay": cfg.weight_decay}, {"params": groups[False], "weight_decay": 0.0}],
        lr=cfg.lr,
    )
    use_amp = cfg.amp and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start_epoch, it, best_ap = 0, 0, -1.0
    if resume:
        ckpt = _load_resume(resume)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        start_epoch, it, best_ap = ckpt["epoch"] + 1, ckpt["iteration"], ckpt["best_ap"]
        if main:
            logger.info("resumed from %s after epoch %d (iteration %d)", resume, start_epoch, it)
    net = (
        nn.parallel.DistributedDataParallel(model, [dev.index] if dev.type == "cuda" else None) if world > 1 else model
    )

    total = cfg.epochs * len(loader)
    resolved = dict(train=cfg.to_dict(), model=model.cfg.to_dict(), data=str(data), world_size=world)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "config.json", resolved)
    summary: dict[str, Any] = dict(best_ap=best_ap, iterations=it)
    losses: list[float] = []
    start_time = time.perf_counter()
    stop = False
    for epoch in range(start_epoch, cfg.epochs):
        train_set.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        bar = loader
        if main and progress:
            from tqdm import tqdm

            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", dynamic_ncols=True)
        seen, t0, running = 0, time.perf_counter(), None
        for batch in bar:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(it, total, len(loader), cfg)
            x = batch["image"].to(dev, non_blocking=True)
            target = batch["target"].to(dev, non_blocking=True)
            weight = batch["target_weight"].to(dev, non_blocking=True)
            with torch.autocast(dev.type, dtype=torch.float16, enabled=use_amp):
                pred = net(x)
            loss = heatmap_mse(pred, target, weight)
            if not torch.isfinite(loss):
                raise ConfigError(f"loss became {loss.item()} at iteration {it}; lower lr or enable grad_clip")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip > 0:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            it += 1
            seen += x.shape[0] * world
            losses.append(loss.item())
            running = losses[-1] if running is None else 0.9 * running + 0.1 * losses[-1]
            if bar is not loader:
                rate = seen / (time.perf_counter() - t0)
                bar.set_postfix(
                    loss=f"{running * 1e3:.4f}e-3", img_s=f"{rate:.0f}", lr=f"{opt.param_groups[0]['lr']:.2e}"
                )
            if max_iters is not None and it >= max_iters:
                stop = True
                break
        summary.update(loss=running, iterations=it, epoch=epoch + 1, seconds=time.perf_counter() - start_time)
        record: dict[str, Any] = dict(epoch=epoch + 1, iteration=it, loss=running, seconds=summary["seconds"])
        last_epoch = stop or epoch + 1 == cfg.epochs
        if main and (last_epoch or (epoch + 1) % cfg.eval_every == 0):
            stats = evaluate_model(model, val_set, val_gt, cfg, dev)
            record.update(stats)
            if stats["AP"] > best_ap:
                best_ap = stats["AP"]
                record["best"] = True
            summary.update(best_ap=best_ap, last_ap=stats["AP"])
        if main:
            state = dict(
                model=model.state_dict(),
                optimizer=opt.state_dict(),
                scaler=scaler.state_dict(),
                epoch=epoch,
                iteration=it,
                best_ap=best_ap,
                model_config=model.cfg.to_dict(),
                train_config=cfg.to_dict(),
                **{INFERENCE_META_KEY: json.dumps(inference.to_dict())},
            )
            _save_atomic(state, out / "last.pth")
            if record.get("best"):
                _save_atomic(state, out / "best.pth")
            if (epoch + 1) % cfg.save_every == 0:
                _save_atomic(state, out / f"epoch_{epoch + 1}.pth")
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            logger.info(
                "epoch %d: %s", epoch + 1, {k: round(v, 5) if isinstance(v, float) else v for k, v in record.items()}
            )
        if stop:
            break
    if world > 1:
        dist.barrier()
    summary["losses"] = losses
    return summary


def _load_resume(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "last.pth"
    if not path.is_file():
        raise CheckpointError(f"nothing to resume from at {path}; pass a last.pth/epoch_N.pth or a run's --out folder")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path} is not a readable training checkpoint ({type(e).__name__}: {e})") from e
    missing = [k for k in ("model", "optimizer", "scaler", "epoch", "iteration", "best_ap") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path} cannot be resumed from: it lacks {missing}; pass a last.pth or epoch_N.pth")
    return ckpt
