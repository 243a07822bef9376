"""A run's set-up: backend flags, the network (built, restored, wrapped for the device) and its Trainer."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from torch import nn

from camseg_cli.core.data.sources.class_weights import class_weights
from camseg_cli.core.data.sources.samples import DatasetInfo
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.model.checkpoint import build_model
from camseg_cli.core.model.inference import amp_dtype
from camseg_cli.core.train import distributed, runstate
from camseg_cli.core.train.config import TrainConfig
from camseg_cli.core.train.engine import Trainer, TrainEvents
from camseg_cli.core.train.loaders import steps_per_epoch
from camseg_cli.core.train.optim import SegLoss, make_optimizer, make_scheduler, train_pixel_counts

log = logging.getLogger("camseg")


def configure_backends(device: torch.device, deterministic: bool) -> None:
    """TF32 matmuls/convs on CUDA; cuDNN autotuning unless --deterministic asks for repeatable kernels."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    if device.type != "cuda":
        return
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):  # torch >= 2.9; allow_tf32 is deprecated there
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "tf32"
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic


def network(c: TrainConfig, d: distributed.Dist, num_classes: int, last: dict[str, Any] | None) -> nn.Module:
    """The DeepLabV3 of this run on its device: new, or restored from `last` (resume state)."""
    runstate.seed_everything(c.seed)  # the same initial weights on every rank and every run of a sweep
    if d.enabled and not d.is_main:
        distributed.barrier(d)  # let rank 0 fill the download cache first
    # A resumed run is rebuilt as its weights built it (MobileNetV3 keeps BatchNorm momentum 0.01
    # unless from scratch) and then loads its own state: nothing is downloaded again.
    model = build_model(c.arch, num_classes, c.weights, c.aux_loss, load=last is None)
    if d.enabled and d.is_main:
        distributed.barrier(d)
    if last is not None:
        model.load_state_dict(last["model"])
    if c.sync_bn and d.enabled:
        if d.device.type != "cuda":
            raise CamsegError("--sync-bn needs CUDA GPUs (SyncBatchNorm has no CPU kernel) — drop --sync-bn")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(d.device)
    if uses_channels_last(c, d):
        model = model.to(memory_format=torch.channels_last)
    if c.compile and d.device.type == "cuda":
        model = torch.compile(model)
    elif c.compile:
        log.info("--compile is used on CUDA only; training uncompiled on %s", d.device)
    if d.enabled:
        ids = [d.device.index] if d.device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return model


def uses_channels_last(c: TrainConfig, d: distributed.Dist) -> bool:
    return c.channels_last and d.device.type == "cuda"


def make_trainer(
    c: TrainConfig,
    d: distributed.Dist,
    info: DatasetInfo,
    batches: int,
    events: TrainEvents,
    last: dict[str, Any] | None = None,
) -> Trainer:
    """Network, loss (class weights from the train split if asked), optimiser, schedule and scaler."""
    model = network(c, d, info.classes.num_classes, last)
    weight = None
    if c.class_weights != "none":
        weight = class_weights(train_pixel_counts(info), c.class_weights, info.classes.void)
    criterion = SegLoss(info.classes.ignore_index, weight).to(d.device)
    optimizer = make_optimizer(model, c)
    scheduler = make_scheduler(optimizer, c, steps_per_epoch(batches, c.accumulate))
    dtype = amp_dtype(d.device, c.amp)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    channels_last = uses_channels_last(c, d)
    return Trainer(
        model, criterion, optimizer, scheduler, scaler, d, dtype, c.accumulate, channels_last, events
    )
