"""Export a checkpoint's network as ONNX or TorchScript: a normalised image batch in, logits out.

The export runs on CPU, then is checked against the PyTorch model on the same input (onnxruntime for
ONNX when installed, torch.jit.load for TorchScript). A JSON file beside the model records what the
input must be (size, RGB order, mean/std) and the class names and colours of the output channels.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from camseg_cli.core.choices import EXPORT_FORMATS as FORMATS
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.files import write_json, write_with
from camseg_cli.core.model.checkpoint import load_checkpoint, model_from_checkpoint, run_name

SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
OPSET = 17
TOLERANCE = 1e-3  # max |exported - pytorch| allowed, relative to the largest logit (at least 1)


class LogitsModel(nn.Module):
    """torchvision's DeepLabV3 returns {"out": logits, ...}; exports want the logits tensor alone."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)["out"]


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sidecar: Path
    format: str
    size: tuple[int, int]
    dynamic: bool
    max_abs_diff: float | None  # None: not verified (no runtime installed)
    verified_with: str | None  # "onnxruntime", "torch.jit.load" or None


def _quiet(fn: Callable[[], Any]) -> Any:
    """Run an exporter with its deprecation chatter silenced (the API still works as documented)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return fn()


def _export_onnx(model: nn.Module, example: torch.Tensor, dest: Path, dynamic: bool) -> None:
    try:
        import onnx  # noqa: F401  (the TorchScript-based exporter needs it to write the file)
    except ImportError:
        raise CamsegError("ONNX export needs the onnx package — pip install 'camseg[export]'") from None
    axes = {0: "batch", 2: "height", 3: "width"}
    kwargs: dict[str, Any] = {
        "input_names": ["images"],
        "output_names": ["logits"],
        "opset_version": OPSET,
        "dynamic_axes": {"images": axes, "logits": axes} if dynamic else None,
        "dynamo": False,  # the torch.export-based exporter would also need onnxscript
    }
    write_with(dest, lambda tmp: _quiet(lambda: torch.onnx.export(model, (example,), str(tmp), **kwargs)))


def _export_torchscript(model: nn.Module, example: torch.Tensor, dest: Path) -> None:
    traced = _quiet(lambda: torch.jit.trace(model, example, check_trace=False))
    write_with(dest, lambda tmp: _quiet(lambda: torch.jit.save(traced, str(tmp))))


def _runner(path: Path, fmt: str) -> tuple[Callable[[torch.Tensor], np.ndarray], str] | None:
    """A function running the exported file, and the runtime's name; None if no runtime is installed."""
    if fmt == "torchscript":
        loaded = _quiet(lambda: torch.jit.load(str(path), map_location="cpu"))
        return (lambda x: loaded(x).detach().numpy()), "torch.jit.load"
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return (lambda x: session.run(None, {"images": x.numpy()})[0]), "onnxruntime"


def verify_export(
    path: Path, fmt: str, model: nn.Module, inputs: list[torch.Tensor]
) -> tuple[float | None, str | None]:
    """Largest |exported - PyTorch| logit over the inputs; raises if beyond tolerance."""
    runner = _runner(path, fmt)
    if runner is None:
        return None, None
    run, backend = runner
    worst = 0.0
    for x in inputs:
        with torch.inference_mode():
            ref = model(x).numpy()
        got = run(x)
        if got.shape != ref.shape:
            raise CamsegError(
                f"{path}: exported model gives shape {got.shape} for input {tuple(x.shape)}, "
                f"PyTorch {ref.shape}"
            )
        diff = float(np.abs(got - ref).max())
        if diff > TOLERANCE * max(1.0, float(np.abs(ref).max())):
            raise CamsegError(
                f"{path}: exported model differs from PyTorch by {diff:.3g} ({backend}) — export is unusable"
            )
        worst = max(worst, diff)
    return worst, backend


def _image_batch(ckpt: dict[str, Any], shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Random pixels normalised like real images: the value range the exported model will see."""
    mean, std = (torch.tensor(ckpt["normalization"][k])[:, None, None] for k in ("mean", "std"))
    return (torch.rand(shape, generator=gen) - mean) / std


def export_checkpoint(
    ckpt_path: Path | str,
    fmt: str = "onnx",
    dest: Path | str | None = None,
    out: Path | str = "out",
    size: tuple[int, int] | None = None,
    dynamic: bool = False,
    verify: bool = True,
) -> ExportResult:
    """Export a checkpoint's network; writes the model file and `<file>.json` describing its input.

    Args:
        ckpt_path: a camseg checkpoint.
        fmt: onnx or torchscript.
        dest: output file; default out/export/<run>.onnx or .torchscript.pt.
        out: output folder used when dest is not given.
        size: (height, width) of the example input; default the checkpoint's training size.
        dynamic: batch, height and width free (ONNX dynamic axes; checked at a second shape).
        verify: run the exported file and compare its logits with PyTorch's.
    """
    if fmt not in FORMATS:
        raise CamsegError(f"unknown export format {fmt!r} — choose one of {', '.join(FORMATS)}")
    ckpt = load_checkpoint(ckpt_path)
    h, w = (int(s) for s in (size or ckpt["image_size"]))
    if h < 32 or w < 32:
        raise CamsegError(f"--size {h}x{w} is too small — at least 32x32")
    dest = Path(dest) if dest else Path(out) / "export" / f"{run_name(ckpt)}{SUFFIX[fmt]}"
    model = LogitsModel(model_from_checkpoint(ckpt, "cpu")).eval()
    gen = torch.Generator().manual_seed(0)
    example = _image_batch(ckpt, (1, 3, h, w), gen)
    if fmt == "onnx":
        _export_onnx(model, example, dest, dynamic)
    else:
        _export_torchscript(model, example, dest)
    checks = [example]
    if dynamic:
        checks.append(_image_batch(ckpt, (2, 3, h + 32, w + 64), gen))
    diff, backend = verify_export(dest, fmt, model, checks) if verify else (None, None)
    sidecar = write_json(dest.parent / f"{dest.name}.json", _describe(ckpt, fmt, (h, w), dynamic))
    return ExportResult(dest, sidecar, fmt, (h, w), dynamic, diff, backend)


def _describe(ckpt: dict[str, Any], fmt: str, size: tuple[int, int], dynamic: bool) -> dict[str, Any]:
    h, w = size
    return {
        "format": fmt,
        "run": run_name(ckpt),
        "arch": ckpt["arch"],
        "checkpoint": ckpt.get("path"),
        "input": {
            "name": "images",
            "shape": ["batch" if dynamic else 1, 3, "height" if dynamic else h, "width" if dynamic else w],
            "dtype": "float32",
            "preprocess": "RGB, scaled to 0..1, then (x - mean) / std per channel, NCHW",
            "mean": list(ckpt["normalization"]["mean"]),
            "std": list(ckpt["normalization"]["std"]),
            "trained_size": list(ckpt["image_size"]),
        },
        "output": {"name": "logits", "shape": ["batch", len(ckpt["classes"]["names"]), "height", "width"]},
        "classes": ckpt["classes"],
    }
