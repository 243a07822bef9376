"""`--device auto|cpu|cuda[:N]` -> torch.device, with an error that says what to do instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

from camseg_cli.core.cpus import usable
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.suggest import check_device

if TYPE_CHECKING:  # torch loads when a device is resolved: `camseg train` checks its options first
    import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """auto picks CUDA when a GPU is visible, else CPU; asking for CUDA without one is an error."""
    import torch

    check_device(name)
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise CamsegError(f"--device {name}: no CUDA GPU is visible to PyTorch — use --device cpu")
        try:
            device = torch.device(name)
        except RuntimeError:
            raise CamsegError(f"--device {name}: not a device name — use cuda or cuda:N") from None
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise CamsegError(f"--device {name}: only {count} GPU(s) visible (cuda:0..cuda:{count - 1})")
        return device
    raise CamsegError(f"unknown device {name!r} — choose auto, cpu, cuda or cuda:N")


def default_batch_size(device: torch.device) -> int:
    """Images per inference forward pass: 1 on CPU, where bigger batches fall out of cache and run
    slower per image (benchmarks/NOTES.md: 125 vs 110 ms at 360x480), 4 on CUDA."""
    return 1 if device.type == "cpu" else 4


def default_workers(device: torch.device) -> int:
    """Image-loading processes: none on CPU (they would take cores from the model), a few on CUDA."""
    return 0 if device.type == "cpu" else min(4, usable_cpus())


def usable_cpus() -> int:
    """CPUs this process may use (affinity, cgroup quota, Slurm: a job's limit, not the machine's count)."""
    return usable()[0]


def default_train_workers() -> int:
    """Training's image-loading processes: what the machine has, at most 4."""
    return min(4, usable_cpus())
