"""The one forward path shared by validation, evaluate and predict: resize, normalise, logits at label size.

Loaders hand out uint8 images (HxWx3, batched NHWC); ModelInput normalises them where the model runs,
so worker processes and the host-to-device copy move a quarter of float32's bytes. Metrics are computed
at each label's own resolution (logits resized up to the mask, then argmax), as published CamVid numbers
are; predict writes the same argmax, so both give the same confusion matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx.experimental.optimization import fuse

from camseg_cli.core.model.checkpoint import model_from_checkpoint

Normalization = dict[str, Sequence[float]]
log = logging.getLogger(__name__)


class ModelInput:
    """uint8 NHWC batches, as the loaders make them -> the model's normalised float NCHW input on `device`.

    The bytes cross to the device as uint8 and are normalised there (on a GPU three elementwise
    kernels, microseconds). channels_last comes free: the uint8 batch permuted to NCHW already has NHWC
    strides, which the float conversion keeps. Same arithmetic as torchvision's to_tensor + normalize.
    """

    def __init__(self, normalization: Normalization, device: torch.device, channels_last: bool = False):
        self.device, self.channels_last = torch.device(device), channels_last
        self.mean = torch.tensor(normalization["mean"], dtype=torch.float32, device=device)[:, None, None]
        self.std = torch.tensor(normalization["std"], dtype=torch.float32, device=device)[:, None, None]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[-1] != 3:
            shape = tuple(images.shape)
            raise ValueError(f"expected a uint8 NHWC batch with 3 channels, got {images.dtype} {shape}")
        x = images.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()
        x = x.div_(255.0).sub_(self.mean).div_(self.std)
        return x if self.channels_last else x.contiguous()


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    """Mixed precision on CUDA when dtype is given; a no-op elsewhere."""
    if dtype is None or device.type != "cuda":
        return nullcontext()
    return torch.autocast("cuda", dtype=dtype)


def amp_dtype(device: torch.device, enabled: bool = True) -> torch.dtype | None:
    """bf16 where the GPU supports it, else fp16; None on CPU or when disabled."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def inference_channels_last(device: torch.device) -> bool:
    """NHWC for inference on CUDA and on CPUs with oneDNN, whose convolutions run 1.4-1.7x faster in it
    (benchmarks/NOTES.md). evaluate and predict both ask here, so their argmax stays the same."""
    return device.type == "cuda" or torch.backends.mkldnn.is_available()


def fold_batchnorm(model: nn.Module, inplace: bool = False) -> nn.Module:
    """An eval-mode copy with each BatchNorm folded into the convolution that feeds it.

    One pass over the weights instead of a memory-bound pass over every activation: 7-12% faster
    MobileNetV3 forwards on CPU (benchmarks/NOTES.md), outputs equal to float rounding. Unless
    `inplace` (for a model nobody else uses: no copy), the caller's model keeps its BatchNorms and its
    train/eval mode. A model that torch.fx cannot trace (not one camseg builds) comes back unfolded
    and uncopied, in eval mode.
    """
    training = model.training
    model.eval()  # folding uses the running statistics, as eval mode does
    try:
        folded = fuse(model, inplace=inplace)  # traces a deep copy unless inplace
    except Exception as e:  # tracing fails on data-dependent control flow; folding is only a speed-up
        log.debug("BatchNorm folding skipped for %s: %s", type(model).__name__, e)
        return model
    model.train(training)
    return folded.eval()


def inference_model(model: nn.Module, device: torch.device, inplace: bool = False) -> nn.Module:
    """The network as evaluate, predict, compare and validation run it: eval mode, BatchNorm folded,
    NHWC where that is faster. One helper, so that their argmax (and thus their scores) stay the same.
    `inplace` reuses `model`'s modules instead of copying them (for a model built just for this)."""
    model = fold_batchnorm(model, inplace)
    if inference_channels_last(device):
        model = model.to(memory_format=torch.channels_last)
    return model


def checkpoint_inference(ckpt: dict[str, Any], device: torch.device) -> tuple[nn.Module, ModelInput]:
    """A loaded checkpoint's network, ready as inference_model makes it, and the ModelInput it takes."""
    model = inference_model(model_from_checkpoint(ckpt, device), device, inplace=True)  # built for this
    return model, ModelInput(ckpt["normalization"], device, inference_channels_last(device))


def model_logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """torchvision segmentation models return a dict; exports and wrappers may return the tensor."""
    out = model(images)
    return out["out"] if isinstance(out, dict) else out


@torch.inference_mode()
def predict_batch(
    model: nn.Module,
    images: torch.Tensor,
    out_sizes: Sequence[tuple[int, int]],
    dtype: torch.dtype | None = None,
    tta: bool = False,
) -> list[torch.Tensor]:
    """Class maps (int64, on the model's device) at each out_size: logits resized bilinearly, then argmax."""
    device = images.device
    with autocast(device, dtype):
        logits = model_logits(model, images)
        if tta:  # average with the prediction of the mirrored image, mirrored back
            logits = (logits + model_logits(model, images.flip(-1)).flip(-1)) / 2
    logits = logits.float()
    preds = []
    for i, (h, w) in enumerate(out_sizes):
        li = logits[i : i + 1]
        if li.shape[-2:] != (h, w):
            li = F.interpolate(li, size=(h, w), mode="bilinear", align_corners=False)
        preds.append(li.argmax(1)[0])
    return preds
