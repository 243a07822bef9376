"""build_model (torchvision DeepLabV3) and the checkpoint format: plain data, atomic, weights_only."""

from __future__ import annotations

import logging
import pickle
import platform
import textwrap
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models import segmentation as seg

from camseg_cli import __version__
from camseg_cli.core.choices import ARCHS, WEIGHTS
from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.files import printable, write_with
from camseg_cli.core.model.checkpoint_schema import FORMAT, VERSION, validate

log = logging.getLogger("camseg")

# ImageNet statistics: what every torchvision backbone was trained with.
NORMALIZATION = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}

_BUILDERS = {
    "resnet50": (seg.deeplabv3_resnet50, seg.DeepLabV3_ResNet50_Weights, "ResNet50_Weights"),
    "resnet101": (seg.deeplabv3_resnet101, seg.DeepLabV3_ResNet101_Weights, "ResNet101_Weights"),
    "mobilenet_v3_large": (
        seg.deeplabv3_mobilenet_v3_large,
        seg.DeepLabV3_MobileNet_V3_Large_Weights,
        "MobileNet_V3_Large_Weights",
    ),
}


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise CamsegError(f"unknown arch {arch!r} — choose one of {', '.join(ARCHS)}")


def _replace_heads(model: nn.Module, num_classes: int) -> None:
    """Swap the last 1x1 conv of the main (and aux) head for one with num_classes outputs."""
    for head in (model.classifier, getattr(model, "aux_classifier", None)):
        if head is not None:
            old = head[-1]
            head[-1] = nn.Conv2d(old.in_channels, num_classes, kernel_size=1)


def _offline_error(weights: Any, err: Exception) -> CamsegError:
    url = weights.url
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return CamsegError(
        f"cannot download pretrained weights {url} ({err.__class__.__name__}: {err}) — place the file "
        f"{url.rsplit('/', 1)[-1]} in {folder} ($TORCH_HOME/hub/checkpoints), or use --weights none"
    )


def build_model(
    arch: str, num_classes: int, weights: str = "coco", aux_loss: bool = False, load: bool = True
) -> nn.Module:
    """torchvision DeepLabV3 with its head sized for `num_classes`.

    Args:
        arch: resnet50, resnet101 or mobilenet_v3_large.
        num_classes: output channels (the class map's size, void included; the loss ignores void).
        weights: coco (COCO-VOC segmentation weights, head replaced), imagenet (backbone only),
            none, or a path to a camseg checkpoint / state dict.
        aux_loss: keep the auxiliary FCN head (its loss is weighted 0.5 in training).
        load: False builds the network exactly as `weights` would (same modules, same BatchNorm
            momentum) but leaves the initial values, for a caller that loads its own (resume):
            nothing is downloaded or read.
    """
    _check_arch(arch)
    builder, seg_weights, backbone_enum = _BUILDERS[arch]
    is_path = weights not in WEIGHTS
    kwargs: dict[str, Any] = {"weights": None, "weights_backbone": None, "aux_loss": aux_loss}
    if not load:
        model = builder(num_classes=num_classes, **kwargs)
        if weights == "none":
            _fast_batchnorm(model)
        return model
    try:
        if weights == "coco":
            # COCO weights come with an aux head; build with it, drop it afterwards if unwanted.
            model = builder(weights=seg_weights.DEFAULT, aux_loss=True)
            if not aux_loss:
                model.aux_classifier = None
            _replace_heads(model, num_classes)
            return model
        if weights == "imagenet":
            kwargs["weights_backbone"] = getattr(torchvision.models, backbone_enum).DEFAULT
        model = builder(num_classes=num_classes, **kwargs)
    except (OSError, RuntimeError) as e:  # URLError is an OSError; hub raises RuntimeError on bad hashes
        downloading = seg_weights.DEFAULT if weights == "coco" else kwargs["weights_backbone"]
        if downloading is None:
            raise
        raise _offline_error(downloading, e) from None
    if weights == "none":
        _fast_batchnorm(model)
    if is_path:
        _load_weights_file(model, Path(weights))
    return model


def _fast_batchnorm(model: nn.Module) -> None:
    """From scratch, let BatchNorm running statistics follow the weights (momentum 0.1, PyTorch's default).

    torchvision's MobileNetV3 uses 0.01, tuned for long ImageNet runs; in a run of a few hundred steps
    the running statistics then lag the weights and eval-mode validation badly under-reports the model.
    """
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = 0.1


def _load_weights_file(model: nn.Module, path: Path) -> None:
    if not path.is_file():
        raise CamsegError(f"--weights {path}: not {', '.join(WEIGHTS)}, nor an existing file")
    obj = _torch_load(path)
    state = obj["model"] if isinstance(obj, dict) and obj.get("format") == FORMAT else obj
    if not isinstance(state, dict):
        raise CamsegError(f"{path}: holds no state dict")
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise CamsegError(f"{path}: none of its tensors fit a DeepLabV3 of this arch")
    model.load_state_dict(usable, strict=False)
    skipped = len(own) - len(usable)
    log.info("--weights %s: loaded %d tensors, %d left at their initial values", path, len(usable), skipped)


# -------------------------------------------------------------------------------------- checkpoints


def versions() -> dict[str, str]:
    # str(): torch.__version__ is a TorchVersion, which weights_only loading refuses
    return {
        "camseg": __version__,
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "python": platform.python_version(),
    }


def make_checkpoint(
    model: nn.Module, *, arch: str, classes: ClassMap, image_size: tuple[int, int], **fields: Any
) -> dict[str, Any]:
    """A checkpoint dict of plain data; extra fields (aug, epoch, history, metrics, ...) pass through."""
    module = getattr(model, "module", model)  # unwrap DDP
    module = getattr(module, "_orig_mod", module)  # unwrap torch.compile
    state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
    ckpt = {
        "format": FORMAT,
        "version": VERSION,
        "model": state,
        "arch": arch,
        "classes": classes.to_dict(),
        "image_size": list(image_size),
        "normalization": NORMALIZATION,
        "aux_loss": getattr(module, "aux_classifier", None) is not None,
        "versions": versions(),
    }
    ckpt.update(fields)
    return ckpt


def save_checkpoint(path: Path | str, ckpt: dict[str, Any]) -> Path:
    """Atomic torch.save: the old file stays intact until the new one is complete on disk."""
    return write_with(path, lambda tmp: torch.save(ckpt, tmp))


def _torch_load(path: Path) -> Any:
    try:
        # weights_only: tensors and plain containers only; a pickle that would run code is refused.
        # A damaged file can make torch warn (odd pickle protocol) before it fails: one error is enough.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CamsegError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise CamsegError(f"{path}: is a folder, not a checkpoint file") from None
    except Exception as e:  # torch.load on arbitrary bytes raises many kinds (KeyError, OSError, ...)
        if kind := _export_kind(path):
            raise _export_error(path, kind) from None
        if not _looks_saved(path):
            raise CamsegError(f"{path}: not a checkpoint (not a file torch.save wrote)") from None
        if isinstance(e, pickle.UnpicklingError):
            raise CamsegError(
                f"{path}: refused — it holds pickled objects or code, not plain tensors and data "
                f"({_unpickle_reason(e)})"
            ) from None
        raise CamsegError(
            f"{path}: not a readable checkpoint (truncated or corrupt: {e.__class__.__name__}: {_brief(e)})"
        ) from None


def _export_error(path: Path, kind: str) -> CamsegError:
    return CamsegError(
        f"{path}: a {kind} export (camseg export), not a training checkpoint — this command "
        "needs the .pt that camseg train wrote (OUT/RUN.pt)"
    )


def _brief(e: BaseException, width: int = 120) -> str:
    """An exception's first line, shortened at a word boundary (never mid-word)."""
    first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "no detail")
    return textwrap.shorten(first, width, placeholder=" …")


def _export_kind(path: Path) -> str | None:
    """'TorchScript' or 'ONNX' when the file is one of camseg export's formats, else None."""
    if path.suffix.lower() == ".onnx":
        return "ONNX"
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except Exception:  # a damaged archive fails in many ways (BadZipFile, UnicodeDecodeError, ...)
        return None
    return "TorchScript" if any(n.endswith("/constants.pkl") or "/code/" in n for n in names) else None


def _looks_saved(path: Path) -> bool:
    """torch.save writes a zip archive (or, in its legacy format, a pickle that starts with PROTO)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head == b"PK\x03\x04" or head[:1] == b"\x80"


def _unpickle_reason(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    reason = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported" in ln), lines[0] if lines else "")
    reason = reason.split(" was not an allowed global")[0].removeprefix("WeightsUnpickler error: ")
    return textwrap.shorten(reason, 120, placeholder=" …") if reason else "unsafe content"


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """Load a camseg checkpoint and validate every field (checkpoint_schema); anything else is a
    one-line CamsegError naming the file and the field."""
    path = Path(path)
    ckpt = _torch_load(path)
    if (not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT) and (kind := _export_kind(path)):
        raise _export_error(path, kind)  # torch before 2.6 loads a TorchScript archive instead of refusing it
    return validate(ckpt, path)


def model_from_checkpoint(ckpt: dict[str, Any], device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild the network of a loaded checkpoint and load its weights, in eval mode.

    Built on the meta device, so no time goes into random initialisation that the checkpoint's
    weights replace anyway (about a second for ResNet-101 on a CPU); the loaded tensors are assigned.
    """
    classes = ClassMap.from_dict(ckpt["classes"])
    with torch.device("meta"):
        model = build_model(ckpt["arch"], classes.num_classes, "none", aux_loss=bool(ckpt.get("aux_loss")))
    try:
        model.load_state_dict(ckpt["model"], assign=True)
    except RuntimeError as e:
        # torch lists every mismatch on its own line; the first one says what is wrong
        problems = [ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()] or [str(e)]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CamsegError(
            f"{ckpt.get('path', 'checkpoint')}: weights do not fit {ckpt['arch']} with "
            f"{classes.num_classes} classes: {problems[0]}{more}"
        ) from None
    return model.to(device).eval()


def run_name(ckpt: dict[str, Any]) -> str:
    """The run a checkpoint belongs to: recorded name, else the file's stem."""
    return printable(str(ckpt.get("run") or Path(ckpt.get("path", "run")).stem))
