"""One training epoch and one validation pass. Progress leaves through TrainEvents; no printing here."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.scoring.loop import evaluate_loader
from camseg_cli.core.evaluation.scoring.metrics import Scores, scores_from_matrix
from camseg_cli.core.model.checkpoint import NORMALIZATION
from camseg_cli.core.model.inference import (
    ModelInput,
    Normalization,
    autocast,
    inference_channels_last,
    inference_model,
)
from camseg_cli.core.train.distributed import Dist, all_sum, broadcast_buffers
from camseg_cli.core.train.optim import SegLoss


class NonFiniteLoss(CamsegError):
    """The loss became NaN or inf. Losses are read back a step late (no host sync per step), so the bad
    step has reached the weights in memory; the run stops there and nothing is saved after it, so the
    files keep the last good state."""


class TrainEvents:
    """Callbacks the CLI supplies (every method optional). The engine never knows how they are shown."""

    def run_started(self, run: str, epochs: int, start_epoch: int, batches: int) -> None: ...

    def epoch_started(self, epoch: int, batches: int, done: int) -> None: ...

    def step(
        self, epoch: int, batch: int, batches: int, loss: float, images_per_s: float, lr: float
    ) -> None: ...

    def track(self, items: Iterable, description: str, total: int | None = None) -> Iterable:
        return items

    def epoch_ended(self, row: dict[str, Any], best_miou: float, best_epoch: int) -> None: ...

    def note(self, text: str) -> None: ...


@dataclass
class EpochState:
    """Where an epoch stands; enough to resume it mid-way after Ctrl-C (at an optimizer-step boundary)."""

    batches_done: int = 0
    loss_sum: float = 0.0
    losses: int = 0
    images: int = 0
    seconds: float = 0.0
    data_seconds: float = 0.0  # of `seconds`, spent waiting for the loader's next batch

    @property
    def data_wait(self) -> float:
        """Share of the epoch's training time the loop stood waiting for data (nan before any step)."""
        return self.data_seconds / self.seconds if self.seconds > 0 else float("nan")

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.losses if self.losses else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Step:
    """An optimizer step whose micro-batch losses still sit on the device."""

    epoch: int
    batch: int  # micro-batches of the epoch done after this step
    batches: int
    losses: torch.Tensor
    images: int
    lr: float


@dataclass
class ValResult:
    loss: float
    scores: Scores
    matrix: torch.Tensor  # (n, n) int64 on CPU, summed over all ranks

    def metrics(self, epoch: int) -> dict[str, Any]:
        """The best checkpoint's `metrics`: validation scores, per-class IoU and the confusion matrix."""
        s = self.scores
        return {
            "split": "val",
            "epoch": epoch,
            "miou": s.miou,
            "pixel_acc": s.pixel_acc,
            "mean_acc": s.mean_acc,
            "fwiou": s.fwiou,
            "loss": self.loss,
            "iou": [float(v) for v in s.iou.tolist()],
            "confusion": self.matrix.tolist(),
        }


def optimizer_step(optimizer: Any, scaler: Any, scheduler: Any) -> bool:
    """One optimizer step through the GradScaler; the schedule advances only if the step was taken.

    An fp16 GradScaler skips a step whose gradients hold inf/NaN and lowers its scale; the schedule
    must not count that step. Reading the scale back is a host sync, paid only with an enabled scaler
    (fp16 on a GPU without bf16); bf16 and CPU runs have none. Returns whether the step was taken.
    """
    before = scaler.get_scale() if scaler.is_enabled() else None
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    taken = before is None or scaler.get_scale() >= before
    if taken:
        scheduler.step()
    return taken


@dataclass
class Trainer:
    """The moving parts of a run on one device; `model` may be DDP- or compile-wrapped."""

    model: nn.Module
    criterion: SegLoss
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    dist: Dist
    dtype: torch.dtype | None = None  # autocast dtype on CUDA, None for fp32
    accumulate: int = 1
    channels_last: bool = False
    events: TrainEvents = field(default_factory=TrainEvents)
    normalization: Normalization = field(default_factory=lambda: dict(NORMALIZATION))

    def __post_init__(self) -> None:
        self.to_input = ModelInput(self.normalization, self.device, self.channels_last)

    @property
    def device(self) -> torch.device:
        return self.dist.device

    @property
    def module(self) -> nn.Module:
        """The bare network (no DDP, no compile wrapper): what validation and checkpoints use."""
        m = getattr(self.model, "module", self.model)
        return getattr(m, "_orig_mod", m)

    def _sync(self, last_of_group: bool) -> Any:
        """Skip DDP's gradient all-reduce on all but the last micro-batch of an accumulation group."""
        if self.dist.enabled and not last_of_group and hasattr(self.model, "no_sync"):
            return self.model.no_sync()
        return nullcontext()

    def train_epoch(self, loader: Iterable, epoch: int, batches: int, state: EpochState) -> EpochState:
        """Train on `loader` (which already skips the state.batches_done finished batches).

        A step's loss is read back only once the next step is queued, so the GPU never waits on the
        host between steps; a NaN is thus seen one step late, which is harmless since nothing is
        saved mid-epoch except on Ctrl-C, and then only the state these steps led to.
        """
        self.model.train()
        start = time.perf_counter() - state.seconds
        acc = self.accumulate
        queue: list[_Step] = []  # optimizer steps taken whose losses are not read back yet
        losses: list[torch.Tensor] = []
        try:
            for i, (images, masks) in enumerate(self._timed(loader, state), start=state.batches_done):
                group_start = (i // acc) * acc
                group_end = min(group_start + acc, batches)  # this micro-batch's accumulation group
                last_of_group = i + 1 == group_end
                with self._sync(last_of_group):
                    with autocast(self.device, self.dtype):
                        outputs = self.model(self.to_input(images))
                        loss = self.criterion(outputs, masks.to(self.device, non_blocking=True).long())
                    self.scaler.scale(loss / (group_end - group_start)).backward()
                losses.append(loss.detach().float())
                if last_of_group:
                    optimizer_step(self.optimizer, self.scaler, self.scheduler)
                    lr = self.optimizer.param_groups[0]["lr"]
                    images_done = len(losses) * images.shape[0] * self.dist.world
                    queue.append(_Step(epoch, i + 1, batches, torch.stack(losses), images_done, lr))
                    losses = []
                    self._flush(queue, state, start, keep=1)
        except NonFiniteLoss:
            raise
        except BaseException:  # Ctrl-C: account for every step the weights already took, so that
            # the saved state is consistent (no collectives now: other ranks may be elsewhere)
            self._flush(queue, state, start, keep=0, reduce=False)
            raise
        self._flush(queue, state, start, keep=0)
        state.seconds = time.perf_counter() - start
        return state

    @staticmethod
    def _timed(loader: Iterable, state: EpochState) -> Iterator:
        """The loader's batches, adding the time spent waiting for each to state.data_seconds.

        Host time: the GPU may still be busy with queued steps meanwhile, but the loop reads each
        loss back one step late, so the host is never more than a step ahead and a long wait here
        is a GPU starved of data (timm logs the same `data_time`)."""
        batches = iter(loader)
        while True:
            start = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            state.data_seconds += time.perf_counter() - start
            yield batch

    def _flush(
        self, queue: list[_Step], state: EpochState, start: float, keep: int, reduce: bool = True
    ) -> None:
        """Read back the losses of all but the `keep` newest steps (a host sync), check them, report them."""
        while len(queue) > keep:
            step = queue[0]
            values = step.losses
            if reduce:
                values = all_sum(self.dist, values.clone()) / self.dist.world
            values = values.tolist()
            bad = next((v for v in values if not math.isfinite(v)), None)
            if bad is not None:
                raise NonFiniteLoss(
                    f"loss is {bad} at epoch {step.epoch + 1}, batch {step.batch}/{step.batches}"
                )
            state.loss_sum += sum(values)
            state.losses += len(values)
            state.images += step.images
            state.batches_done = step.batch
            state.seconds = time.perf_counter() - start
            queue.pop(0)
            ips = state.images / max(state.seconds, 1e-9)
            self.events.step(step.epoch, step.batch, step.batches, values[-1], ips, step.lr)

    @torch.no_grad()
    def validate(self, loader: Any, num_classes: int, ignore_index: int) -> ValResult:
        """Confusion matrix over the whole split via the shared evaluate path, summed over ranks."""
        broadcast_buffers(self.dist, self.module)  # every rank scores the very model rank 0 saves
        # the network as `camseg evaluate` runs the saved checkpoint (BatchNorm folded, NHWC where
        # faster), so the val mIoU that picks the best checkpoint is the one evaluate reproduces
        probe = _LossProbe(inference_model(self.module, self.device), self.criterion)
        to_input = ModelInput(self.normalization, self.device, inference_channels_last(self.device))

        def feed(batches: Iterable) -> Iterator:
            for images, masks in self.events.track(batches, "validate", len(loader)):
                probe.masks = masks
                yield images, masks

        cm = evaluate_loader(probe, loader, num_classes, ignore_index, to_input, self.dtype, feed)
        mat = all_sum(self.dist, cm.mat.clone())
        sums = all_sum(self.dist, torch.stack([probe.loss_sum, probe.weight_sum]))
        loss = float(sums[0] / sums[1]) if float(sums[1]) > 0 else float("nan")
        return ValResult(loss, scores_from_matrix(mat, ignore_index), mat.cpu())


class _LossProbe(nn.Module):
    """Wraps the network during validation: adds each batch's loss, at label resolution, to a running sum.

    evaluate_loader (shared with `camseg evaluate`) computes only the confusion matrix; the probe lets
    the same pass also give the validation loss, without a second forward.
    """

    def __init__(self, model: nn.Module, criterion: SegLoss):
        super().__init__()
        self.model = model
        self.criterion = criterion
        self.masks: list[torch.Tensor] = []
        device = next(model.parameters()).device
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.weight_sum = torch.zeros((), dtype=torch.float64, device=device)

    def forward(self, images: torch.Tensor) -> Any:
        out = self.model(images)
        logits = out["out"].float()
        for i, mask in enumerate(self.masks):
            li = logits[i : i + 1]
            if li.shape[-2:] != mask.shape:
                li = F.interpolate(li, size=tuple(mask.shape), mode="bilinear", align_corners=False)
            loss, weight = self.criterion.pixel_loss(li, mask.to(li.device, non_blocking=True)[None])
            self.loss_sum += loss.double()
            self.weight_sum += weight.double()
        return out
