"""The user's own augmentation: an albumentations pipeline (`A.save`'s JSON or YAML), checked, then built
with albumentations' own `from_dict`, so the format is the library's.

A file can never run code and never corrupt a mask:
- every `__class_fullname__` must be an albumentations transform; `Lambda` (and the transforms that read
  files or paste foreign content into masks) are refused before anything is built;
- every transform states its `p` (albumentations 2.0's from_dict would use 0.5 with only a warning);
- a transform that interpolates masks (mask_interpolation other than nearest) is refused, and so is one
  that rewrites mask values (MaskDropout, OverlayElements, Morphological ...);
- mask padding is FORCED to the dataset's void index (fill_mask), whatever the file says, so padding is
  ignored by the loss as the presets' is; image+mask go through one Compose call like the presets.
The canonical content — sorted-key JSON of {"transform": ...} — is what identifies the arm.
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
import warnings
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
from albumentations.core.serialization import SERIALIZABLE_REGISTRY, shorten_class_name  # noqa: E402

from camseg_cli.core.checks import shown  # noqa: E402
from camseg_cli.core.data.augment.names import PIPELINE_PREFIX  # noqa: E402
from camseg_cli.core.errors import CamsegError  # noqa: E402
from camseg_cli.core.suggest import did_you_mean  # noqa: E402

MASK_NEAREST = (cv2.INTER_NEAREST, cv2.INTER_NEAREST_EXACT)
REFUSED = {
    "Lambda": "it runs code, and a pipeline file never may",
    "MaskDropout": "it rewrites mask values",
    "OverlayElements": "it pastes foreign content into the mask",
    "Morphological": "it dilates or erodes the mask, changing its labels",
    "Normalize": "camseg normalises on the device; the pipeline must stay uint8",
    "ToFloat": "the pipeline must stay uint8",
    "FromFloat": "the pipeline must stay uint8",
    "ToTensorV2": "camseg makes the tensors itself",
    "ToTensor3D": "camseg makes the tensors itself",
    "FDA": "it reads reference images from outside the file",
    "HistogramMatching": "it reads reference images from outside the file",
    "PixelDistributionAdaptation": "it reads reference images from outside the file",
    "TemplateTransform": "it reads templates from outside the file",
    "TextImage": "it reads font files from outside the file",
}


def _transform_names() -> list[str]:
    return sorted(
        n
        for n, cls in SERIALIZABLE_REGISTRY.items()
        if isinstance(cls, type) and issubclass(cls, A.BasicTransform | A.BaseCompose)
    )


def _first_line(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if lines and lines[0].endswith("validation error for InitSchema") and len(lines) >= 3:
        lines = [f"{lines[1]}: {lines[2]}"]
    return textwrap.shorten(lines[0] if lines else type(e).__name__, 160)


def _walk(node: Any, where: str, names: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, where, names)
        return
    if not isinstance(node, dict):
        return
    if "__class_fullname__" in node:
        _check_node(node, where, names)
    for value in node.values():
        _walk(value, where, names)


def _check_node(node: dict, where: str, names: list[str]) -> None:
    full = node["__class_fullname__"]
    if not isinstance(full, str):
        raise CamsegError(f"{where}: __class_fullname__ must be a transform name, not {shown(full)}")
    name = shorten_class_name(full)
    if name in REFUSED:
        raise CamsegError(f"{where}: {name} is refused — {REFUSED[name]}")
    if name not in names:
        raise CamsegError(
            f"{where}: {shown(full)} is not an albumentations transform" + did_you_mean(name[:100], names)
        )
    if "p" not in node:
        raise CamsegError(
            f"{where}: {name} has no p — write its probability explicitly (albumentations would "
            "silently use 0.5)"
        )
    if "transforms" not in node:  # a leaf: build it alone, so a bad parameter names its transform
        _build(node, f"{where}: {name}")


def _build(tree: dict, where: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return A.from_dict({"transform": tree})
    except Exception as e:  # pydantic's ValueError, TypeError for an unknown parameter, KeyError ...
        raise CamsegError(f"{where}: {_first_line(e)}") from None


def _leaves(t: Any) -> list[Any]:
    children = getattr(t, "transforms", None)
    if isinstance(t, A.BaseCompose) and children is not None:
        return [t, *(x for c in children for x in _leaves(c))]
    return [t]


def _check_masks(transforms: list[Any], where: str) -> None:
    for t in (x for c in transforms for x in _leaves(c)):
        mi = getattr(t, "mask_interpolation", None)
        if mi is not None and mi not in MASK_NEAREST:
            raise CamsegError(
                f"{where}: {type(t).__name__} mask_interpolation {mi} would blend class indices — "
                f"write mask_interpolation: {cv2.INTER_NEAREST} (nearest)"
            )


def canonical_pipeline(raw: Any, where: str) -> str:
    """The checked pipeline as sorted-key JSON of {"transform": ...} (A.save's "__version__" dropped);
    refuses, in one line naming `where`, anything that could run code, guess a p or corrupt a mask."""
    tree = raw.get("transform") if isinstance(raw, dict) else None
    if not isinstance(tree, dict):
        raise CamsegError(
            f"{where}: not an albumentations pipeline — A.save's JSON or YAML, with a 'transform' key"
        )
    try:
        _walk(tree, where, _transform_names())
        text = json.dumps({"transform": tree}, sort_keys=True, separators=(",", ":"))
    except RecursionError:
        raise CamsegError(f"{where}: nested too deeply") from None
    except (TypeError, ValueError) as e:  # json: NaN is fine, a set or bytes is not
        raise CamsegError(f"{where}: not plain data ({_first_line(e)})") from None
    pipeline_transforms(text, 255, where)
    return text


def pipeline_id(text: str) -> str:
    """The arm identity of canonical content: 'pipeline:' + 10 hex digits of its SHA-256."""
    return PIPELINE_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:10]


def pipeline_transforms(text: str, ignore_index: int, where: str = "aug pipeline") -> list[Any]:
    """The transforms of canonical content, built by from_dict, mask padding forced to `ignore_index`."""
    built = _build(json.loads(text)["transform"], where)
    transforms = list(built.transforms) if isinstance(built, A.Compose) else [built]
    _check_masks(transforms, where)
    for t in (x for c in transforms for x in _leaves(c)):
        if getattr(t, "fill_mask", None) is not None:
            t.fill_mask = ignore_index  # padding and dropped-out mask pixels are void, as in the presets
    return transforms


def preset_pipeline(transforms: list[Any]) -> dict[str, Any]:
    """A preset's transforms in A.save's format (what `augment-preview --write` writes)."""
    return A.to_dict(A.Compose(transforms))
