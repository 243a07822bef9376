"""Augmentation presets by name: the one place that knows what "crop" or "jitter" means.

Image and mask always go through one albumentations call, so every geometric draw is shared. Masks are
resized and warped with nearest-neighbour only, never see a colour op, and padding is filled with the
ignore value (so the loss skips it). Each sample's draw is seeded from (seed, epoch, index): the same
run gives the same augmentations whatever the worker count, and a resumed run continues exactly.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations otherwise polls PyPI on import

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from camseg_cli.core.choices import AUG_EXTRA as EXTRA  # noqa: E402, F401 (re-exported)
from camseg_cli.core.choices import AUG_PRESETS as PRESETS  # noqa: E402, F401 (re-exported)
from camseg_cli.core.choices import AUG_ROBUST as ROBUST  # noqa: E402
from camseg_cli.core.choices import AUG_STUDY as STUDY  # noqa: E402, F401 (re-exported)
from camseg_cli.core.data.augment.names import aug_name, parse_aug, split_sweep  # noqa: E402, F401 (re-exported)
from camseg_cli.core.data.augment.pipeline_file import pipeline_transforms, preset_pipeline  # noqa: E402
from camseg_cli.core.data.loading.tensors import mask_tensor, resize_image  # noqa: E402
from camseg_cli.core.errors import CamsegError  # noqa: E402

# Probabilities and strengths: moderate, as in the torchvision / SegNet references for driving scenes.
P_FLIP = 0.5
P_CROP = 0.8
CROP_SCALE = (0.3, 1.0)  # area fraction of the source image kept by a crop
P_PERSPECTIVE = 0.5
PERSPECTIVE_SCALE = (0.03, 0.08)
P_JITTER = 0.8
P_SHARPEN = 0.5
P_CONTRAST = 0.5
P_ROBUST = 0.5  # the corruption-family presets: half the samples see one draw of the family
NEAREST = cv2.INTER_NEAREST_EXACT  # pixel-centre aligned like INTER_LINEAR; INTER_NEAREST is shifted
WARP_NEAREST = cv2.INTER_NEAREST  # warps map each pixel centre through the matrix: already aligned


def _geometry(parts: Sequence[str], size: tuple[int, int]) -> list[A.BasicTransform]:
    h, w = size
    resize = A.Resize(h, w, interpolation=cv2.INTER_LINEAR, mask_interpolation=NEAREST, p=1.0)
    if "crop" not in parts:
        return [resize]
    aspect = w / h
    crop = A.RandomResizedCrop(
        size=(h, w),
        scale=CROP_SCALE,
        ratio=(aspect * 3 / 4, aspect * 4 / 3),
        interpolation=cv2.INTER_LINEAR,
        mask_interpolation=NEAREST,
        p=P_CROP,
    )
    # OneOf applies exactly one child, weighted by p: crop with P_CROP, else a plain resize.
    resize_else = A.Resize(h, w, interpolation=cv2.INTER_LINEAR, mask_interpolation=NEAREST, p=1 - P_CROP)
    return [A.OneOf([crop, resize_else], p=1.0)]


def _transforms(parts: Sequence[str], size: tuple[int, int], ignore_index: int) -> list[A.BasicTransform]:
    out = _geometry(parts, size)
    if "flip" in parts:
        out.append(A.HorizontalFlip(p=P_FLIP))
    if "perspective" in parts:
        out.append(
            A.Perspective(
                scale=PERSPECTIVE_SCALE,
                keep_size=True,
                fit_output=True,  # the whole scene stays in view; the uncovered border is padding
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=WARP_NEAREST,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=ignore_index,
                p=P_PERSPECTIVE,
            )
        )
    # colour ops touch the image only (albumentations never applies them to masks)
    if "jitter" in parts:
        out.append(A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05, p=P_JITTER))
    if "contrast" in parts:
        out.append(
            A.OneOf(
                [A.CLAHE(clip_limit=(1.0, 4.0), p=1.0), A.RandomGamma(gamma_limit=(70, 150), p=1.0)],
                p=P_CONTRAST,
            )
        )
    if "sharpen" in parts:
        out.append(A.Sharpen(alpha=(0.2, 0.5), lightness=(0.7, 1.0), p=P_SHARPEN))
    out += [_robust(p) for p in parts if p in ROBUST]
    return out


def _robust(part: str) -> A.BasicTransform:
    """A training preset of one corruption family (choices.AUG_ROBUST): random strengths drawn from a
    range around the test suite's severities 1-3 (corruption/table.py); severities 4-5 stay unseen."""
    if part == "lowlight":  # gamma, an exposure drop (contrast < 1 scales every pixel), sensor noise
        steps = [
            A.RandomGamma(gamma_limit=(120, 260), p=1),
            A.RandomBrightnessContrast(brightness_limit=(0, 0), contrast_limit=(-0.7, -0.2), p=1),
            A.GaussNoise(std_range=(0.005, 0.03), p=1),
        ]
        return A.Sequential(steps, p=P_ROBUST)
    choices = {
        "noise": [
            A.GaussNoise(std_range=(0.02, 0.18), p=1),
            A.SaltAndPepper(amount=(0.005, 0.06), p=1),
            A.ISONoise(color_shift=(0.01, 0.05), intensity=(0.1, 0.6), p=1),
        ],
        "blur": [
            A.Defocus(radius=(2, 8), alias_blur=(0.1, 0.5), p=1),
            A.MotionBlur(blur_limit=(3, 21), allow_shifted=False, p=1),
            A.GaussianBlur(blur_limit=(3, 9), p=1),
        ],
        # RandomFog is left out: 0.3-1 s a frame (benchmarks/NOTES.md) would starve the loader
        "weather": [
            A.RandomRain(rain_type="drizzle", brightness_coefficient=0.9, p=1),
            A.RandomSnow(snow_point_range=(0.1, 0.3), method="bleach", p=1),
            A.Spatter(mode="rain", p=1),
            A.RandomSunFlare(flare_roi=(0.1, 0.0, 0.9, 0.4), src_radius=120, p=1),
        ],
        "compression": [
            A.ImageCompression(quality_range=(10, 60), p=1),
            A.Downscale(scale_range=(0.4, 0.8), p=1),
        ],
    }[part]
    return A.OneOf(choices, p=P_ROBUST)


def write_preset_pipeline(dest: Path | str, aug: str, size: tuple[int, int]) -> Path:
    """A preset as a pipeline file (A.save's JSON or YAML, by suffix) that `--aug FILE` trains draw for
    draw as the preset (mask padding is forced to the dataset's void when built, so 255 is written)."""
    dest = Path(dest)
    doc = preset_pipeline(_transforms(parse_aug(aug), size, 255))
    if dest.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise CamsegError(f"{dest}: a pipeline file is .json, .yaml or .yml")
    if dest.is_dir():
        raise CamsegError(f"{dest}: is a folder, not a pipeline file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.suffix.lower() == ".json":
        dest.write_text(json.dumps(doc, indent=2) + "\n")
    else:
        import yaml

        dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


@dataclass(frozen=True)
class AugSpec:
    """What a train transform is: presets, output size (h, w), the mask fill value and the base seed."""

    parts: tuple[str, ...]
    size: tuple[int, int]
    ignore_index: int
    seed: int = 0
    pipeline: str = ""  # a pipeline file's canonical content (pipeline_file.py); parts are then ()


class TrainTransform:
    """(image uint8 HxWx3, mask int HxW) -> (uint8 hxwx3, uint8 hxw) tensors at the training size.

    Normalisation happens on the device (inference.ModelInput), after the batch has crossed as uint8.
    """

    def __init__(self, spec: AugSpec):
        if not 0 <= spec.ignore_index <= 255:
            raise CamsegError(f"ignore index {spec.ignore_index} does not fit an 8-bit mask")
        self.spec = spec
        if spec.pipeline:
            transforms = pipeline_transforms(spec.pipeline, spec.ignore_index)
        else:
            transforms = _transforms(spec.parts, spec.size, spec.ignore_index)
        self.compose = A.Compose(transforms, seed=spec.seed)

    def reseed(self, epoch: int, index: int) -> None:
        """Make the next draw a pure function of (seed, epoch, sample index).

        One generator pair shared by every transform, so each draws the next numbers of one stream and
        the transforms are independent. (Compose.set_random_seed would give each child its own generator
        seeded alike: every transform would then compare the same first number with its probability,
        and flip, perspective and jitter of `all` would happen in lockstep.)
        """
        np_seed, py_seed = np.random.SeedSequence([self.spec.seed, epoch, index]).generate_state(2)
        self.compose.set_random_state(np.random.default_rng(int(np_seed)), random.Random(int(py_seed)))

    def augment(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 image and uint8 mask at the training size (for previews and tests)."""
        out = self.compose(image=image, mask=mask.astype(np.uint8, copy=False))
        h, w = self.spec.size
        image, mask = out["image"], out["mask"]
        if image.shape[:2] != (h, w):  # a pipeline file need not end at the training size
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
            mask = cv2.resize(mask, (w, h), interpolation=NEAREST)
        return image, mask

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.augment(image, mask)
        return resize_image(image, self.spec.size), mask_tensor(mask)


class EpochDataset(torch.utils.data.Dataset):
    """Wraps an untransformed SegDataset; items are keyed (epoch, index) so each draw is seeded per sample."""

    def __init__(self, dataset: torch.utils.data.Dataset, transform: TrainTransform):
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key
        image, mask = self.dataset[index]
        self.transform.reseed(epoch, index)
        return self.transform(image, mask)


class EpochSampler(torch.utils.data.Sampler):
    """Yields (epoch, index) from an inner sampler; `skip` drops the first items (mid-epoch resume)."""

    def __init__(self, inner: torch.utils.data.Sampler):
        self.inner = inner
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        return max(len(self.inner) - self.skip, 0)

    def __iter__(self):
        for i, index in enumerate(self.inner):
            if i >= self.skip:
                yield self.epoch, index
