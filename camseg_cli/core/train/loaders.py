"""DataLoaders for training (augmented, shuffled per epoch, sharded over ranks) and validation."""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from camseg_cli.core.cpus import set_torch_threads, worker_threads
from camseg_cli.core.data.augment.presets import (
    AugSpec,
    EpochDataset,
    EpochSampler,
    TrainTransform,
    parse_aug,
)
from camseg_cli.core.data.loading.cache import sample_dataset
from camseg_cli.core.data.loading.tensors import EvalTransform, collate_eval
from camseg_cli.core.data.sources.layouts import Transform
from camseg_cli.core.data.sources.samples import DatasetInfo, SampleRef
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.model.device import usable_cpus
from camseg_cli.core.train.config import TrainConfig
from camseg_cli.core.train.distributed import Dist, ShardSampler, barrier, train_sampler


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
    worker_threads()  # each worker is one process; their own threads would oversubscribe the cores


def steps_per_epoch(batches: int, accumulate: int) -> int:
    return math.ceil(batches / accumulate)


log = logging.getLogger("camseg")


class _Loader(DataLoader):
    """A DataLoader that does not repeat PyTorch's 'suggested max number of worker' warning: it comes
    on creation and on every new iterator (three times a run, 18 in a 6-run sweep) when --workers
    exceeds the CPUs; the user chose the number, and _common says it once, in one line."""

    def check_worker_number_rationality(self) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)
            super().check_worker_number_rationality()


def _common(config: TrainConfig, device: torch.device) -> dict:
    workers = config.workers
    cpus = usable_cpus()
    if config.threads:
        set_torch_threads(config.threads)
    if workers > cpus:
        log.info("--workers %d on a machine with %d CPUs: the workers will share them", workers, cpus)
    return {
        # Its own generator: making an iterator otherwise draws from the global RNG, so a resumed
        # epoch would see different dropout masks than an uninterrupted one.
        "generator": torch.Generator().manual_seed(config.seed),
        "num_workers": workers,
        "pin_memory": device.type == "cuda",
        "persistent_workers": workers > 0,
        "worker_init_fn": _worker_init if workers > 0 else None,
    }


def _samples(
    refs: list[SampleRef], info: DatasetInfo, transform: Transform | None, config: TrainConfig, d: Dist
) -> torch.utils.data.Dataset:
    """The split's samples, cached as --cache says. Built before the DataLoader forks its workers, so
    they share a RAM cache; under torchrun rank 0 writes a disk cache first and the others then map it."""
    rank0_first = config.cache == "disk" and d.enabled
    if rank0_first and not d.is_main:
        barrier(d)
    dataset = sample_dataset(refs, info.classes, transform, config.cache, config.out_dir / "cache")
    if rank0_first and d.is_main:
        barrier(d)
    return dataset


def make_loaders(config: TrainConfig, info: DatasetInfo, d: Dist) -> Loaders:
    """Train: per-sample seeded augmentations at config.size. Val: resize + normalise, each image once."""
    classes = info.classes
    parts = () if config.aug_pipeline else parse_aug(config.aug)
    spec = AugSpec(parts, tuple(config.size), classes.ignore_index, config.seed, config.aug_pipeline)
    train_refs = info.samples("train")
    sampler = EpochSampler(train_sampler(len(train_refs), d, config.seed))
    shard = len(sampler.inner)
    b = config.batch_size
    if shard < 2:
        raise CamsegError(
            f"{len(train_refs)} training image(s) over {d.world} process(es) leave {shard} per process — "
            "BatchNorm needs at least 2"
        )
    if shard < b:
        raise CamsegError(
            f"--batch-size {b} is larger than the {shard} training images per process — lower --batch-size"
        )
    drop_last = shard % b == 1  # a final batch of one image would break BatchNorm
    batches = shard // b if drop_last else math.ceil(shard / b)
    common = _common(config, d.device)
    # checked before the samples are cached, so a bad --batch-size fails at once
    train_set = EpochDataset(_samples(train_refs, info, None, config, d), TrainTransform(spec))
    train = _Loader(train_set, batch_size=b, sampler=sampler, drop_last=drop_last, **common)
    val_set = _samples(info.samples("val"), info, EvalTransform(config.size), config, d)
    val = _Loader(
        val_set, batch_size=b, sampler=ShardSampler(len(val_set), d), collate_fn=collate_eval, **common
    )
    return Loaders(train, sampler, batches, val)
