"""DataLoaders for training (augmented, shuffled per epoch, sharded over ranks) and validation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import torch
from torch.utils.data import DataLoader

from camseg_cli.core.augment import AugSpec, EpochDataset, EpochSampler, TrainTransform, parse_aug
from camseg_cli.core.config import TrainConfig
from camseg_cli.core.data import DatasetInfo, SegDataset
from camseg_cli.core.distributed import Dist, ShardSampler, train_sampler
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.inference import EvalTransform, collate_eval
from camseg_cli.core.model import NORMALIZATION


@dataclass
class Loaders:
    train: DataLoader
    sampler: EpochSampler
    batches: int  # training micro-batches per epoch on this rank
    val: DataLoader

    def skip_to(self, epoch: int, batches_done: int) -> None:
        """Position the train sampler at `batches_done` finished batches of `epoch`."""
        self.sampler.set_epoch(epoch, skip=batches_done * self.train.batch_size)


def _worker_init(_: int) -> None:
    cv2.setNumThreads(0)  # each worker is one process; OpenCV's own threads would oversubscribe the cores


def steps_per_epoch(batches: int, accumulate: int) -> int:
    return math.ceil(batches / accumulate)


def _common(config: TrainConfig, device: torch.device) -> dict:
    workers = config.workers
    return {
        # Its own generator: making an iterator otherwise draws from the global RNG, so a resumed
        # epoch would see different dropout masks than an uninterrupted one.
        "generator": torch.Generator().manual_seed(config.seed),
        "num_workers": workers,
        "pin_memory": device.type == "cuda",
        "persistent_workers": workers > 0,
        "worker_init_fn": _worker_init if workers > 0 else None,
    }


def make_loaders(config: TrainConfig, info: DatasetInfo, d: Dist) -> Loaders:
    """Train: per-sample seeded augmentations at config.size. Val: resize + normalise, each image once."""
    classes = info.classes
    spec = AugSpec(parse_aug(config.aug), tuple(config.size), classes.ignore_index, config.seed)
    train_set = EpochDataset(SegDataset(info.samples("train"), classes), TrainTransform(spec, NORMALIZATION))
    sampler = EpochSampler(train_sampler(len(train_set), d, config.seed))
    shard = len(sampler.inner)
    b = config.batch_size
    if shard < 2:
        raise CamsegError(
            f"{len(train_set)} training image(s) over {d.world} process(es) leave {shard} per process — "
            "BatchNorm needs at least 2"
        )
    if shard < b:
        raise CamsegError(
            f"--batch-size {b} is larger than the {shard} training images per process — lower --batch-size"
        )
    drop_last = shard % b == 1  # a final batch of one image would break BatchNorm
    batches = shard // b if drop_last else math.ceil(shard / b)
    common = _common(config, d.device)
    train = DataLoader(train_set, batch_size=b, sampler=sampler, drop_last=drop_last, **common)
    val_set = SegDataset(info.samples("val"), classes, EvalTransform(config.size, NORMALIZATION))
    val = DataLoader(
        val_set, batch_size=b, sampler=ShardSampler(len(val_set), d), collate_fn=collate_eval, **common
    )
    return Loaders(train, sampler, batches, val)
