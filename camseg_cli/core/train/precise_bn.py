"""Precise BatchNorm: recompute the running statistics over training batches before the model is judged.

During training BatchNorm normalises with each batch's own statistics and keeps an exponential moving
average (momentum 0.1) for eval mode. In a short run from scratch the weights move fast, so the average
lags far behind them: in eval mode the network then draws nearly one fixed mask whatever the image
(issue 26). Wu & Johnson 2021 ("Rethinking 'Batch' in BatchNorm", sec. 3) recompute the statistics
with the final weights instead: N batches forward in train mode, no gradient, each BatchNorm keeping
the plain average of the batch statistics (momentum=None) — what Detectron2's `update_bn_stats`,
timm and `torch.optim.swa_utils.update_bn` do. The batches are the training loader's, augmented as
training saw them (as Detectron2 does), so the statistics are those the weights were trained under.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
from torch import nn

from camseg_cli.core.model.inference import autocast
from camseg_cli.core.train.distributed import Dist, all_sum

if TYPE_CHECKING:
    from camseg_cli.core.train.engine import Trainer
    from camseg_cli.core.train.loaders import Loaders


def batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [
        m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


@torch.no_grad()
def update_bn_stats(
    model: nn.Module,
    inputs: Iterable[torch.Tensor],
    batches: int,
    dist: Dist | None = None,
    dtype: torch.dtype | None = None,
) -> int:
    """Replace every BatchNorm's running mean and variance by the average, over the first `batches`
    inputs, of the statistics train mode computes on each. Parameters, momentum, mode and the batch
    counters are left as they were. Under DDP each rank averages its own batches, then the ranks'
    averages are averaged (equal batch counts, so this is the average over all ranks' batches).
    Returns the number of batches used."""
    bns = batchnorms(model)
    if not bns or batches <= 0:
        return 0
    momenta = [bn.momentum for bn in bns]
    saved = [(bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()) for bn in bns]
    training = model.training
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average: each batch weighs the same
    model.train()
    used = 0
    try:
        device = bns[0].running_mean.device
        for x in itertools.islice(inputs, batches):  # islice: batch N+1 is never even loaded
            with autocast(device, dtype):
                model(x)
            used += 1
    finally:
        for bn, momentum, (mean, var, count) in zip(bns, momenta, saved):
            bn.momentum = momentum
            bn.num_batches_tracked.copy_(count)
            if used == 0:  # no batch came: keep the statistics there were, not the reset ones
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
        model.train(training)
    if dist is not None and dist.enabled:
        for bn in bns:
            all_sum(dist, bn.running_mean).div_(dist.world)
            all_sum(dist, bn.running_var).div_(dist.world)
    return used


def recompute_bn(trainer: Trainer, loaders: Loaders, epoch: int, batches: int) -> float:
    """Precise BN on the bare network (no DDP hooks) over the first `batches` training batches of
    `epoch` (at most one epoch's), as training fed them; returns the seconds it took.

    Train-mode forwards never read the running statistics, so this changes no weight that training
    computes next: only what eval mode (validation, the saved checkpoints) sees. The batches are the
    same on a resumed run (seeded per sample and epoch), so resume stays bit-exact."""
    start = time.perf_counter()
    loaders.skip_to(epoch, 0)
    inputs = (trainer.to_input(images) for images, _ in loaders.train)
    update_bn_stats(trainer.module, inputs, min(batches, loaders.batches), trainer.dist, trainer.dtype)
    return time.perf_counter() - start
