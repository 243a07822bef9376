"""torchrun / DistributedDataParallel plumbing: who am I, which device, which samples, sums across ranks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from camseg_cli.core.errors import CamsegError
from camseg_cli.core.model.device import resolve_device


@dataclass(frozen=True)
class Dist:
    """This process's place in the job. A plain run is rank 0 of a world of 1."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes files and draws progress."""
        return self.rank == 0


def setup(device_name: str = "auto") -> Dist:
    """Join the torchrun job if launched by torchrun (WORLD_SIZE > 1): nccl on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world <= 1:
        return Dist(device=device)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise CamsegError(
                f"local rank {local_rank} has no GPU ({torch.cuda.device_count()} visible) — "
                "lower --nproc-per-node or pass --device cpu"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, world, local_rank, device)


def teardown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(d: Dist, t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all ranks (in place; returns it). A no-op in a single process."""
    if d.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_buffers(d: Dist, module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running stats).

    DDP syncs buffers at the start of each training forward, but each rank's last forward then updates
    its own copy; without this, ranks would validate with different statistics than the saved model.
    """
    if d.enabled:
        for buf in module.buffers():
            dist.broadcast(buf, src=0)


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


class ShardSampler(torch.utils.data.Sampler):
    """Rank r takes items r, r+W, r+2W, ... with no padding: every item is evaluated exactly once.

    (DistributedSampler pads the last round with repeats, which would count some images twice in a
    validation confusion matrix.)
    """

    def __init__(self, n: int, d: Dist):
        self.indices = list(range(d.rank, n, d.world))

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)


def train_sampler(n: int, d: Dist, seed: int) -> torch.utils.data.DistributedSampler:
    """Shuffled per epoch by (seed, epoch) — the same order whether run whole or resumed."""
    # Given explicit replicas/rank it needs no process group, so one process uses it too.
    return torch.utils.data.DistributedSampler(
        n_range(n), num_replicas=d.world, rank=d.rank, shuffle=True, seed=seed
    )


def n_range(n: int) -> range:
    """A sized stand-in for a dataset: samplers only look at len()."""
    return range(n)
