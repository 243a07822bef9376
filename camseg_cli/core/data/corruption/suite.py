"""The corruption suite: named corruptions at severities 1-5, pure functions of (image, mask, corruption,
severity, seed, image name), parameters in corrupt_table.py.

Every random draw (noise field, blur angle, drop positions, glare centre) comes from a generator seeded by
a stable hash (crc32) of the image name, the corruption and the seed: every checkpoint sees the very same
pixels, whatever the worker count or process. The severity is left out of the hash on purpose: the same
noise field and positions at every severity, so severity changes only the strength and the damage grows
monotonically. Photometric corruptions return the mask object untouched; geometric ones (elastic, lens
distortion) warp image and mask in one albumentations call, the mask nearest-neighbour, void where nothing
maps.
"""

from __future__ import annotations

import os
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations otherwise polls PyPI on import

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from camseg_cli.core.choices import CORRUPTIONS  # noqa: E402
from camseg_cli.core.data.corruption.ops import NUMPY, px  # noqa: E402
from camseg_cli.core.data.corruption.table import BY_NAME, REFERENCE_HEIGHT, SEVERITIES  # noqa: E402
from camseg_cli.core.errors import CamsegError  # noqa: E402

WARP_NEAREST = cv2.INTER_NEAREST  # remaps sample each pixel centre: nearest is already aligned


def family_of(name: str) -> str:
    return BY_NAME[name].family


def stream_seed(image_name: str, name: str, seed: int) -> int:
    """A stable 32-bit seed (crc32, not Python's salted hash()) of image name, corruption and seed."""
    return zlib.crc32(f"{image_name}|{name}|{seed}".encode())


# ----------------------------------------------------------------------------------- albumentations


def _odd(value: float) -> int:
    k = max(3, round(value))
    return k if k % 2 else k + 1


@lru_cache(maxsize=256)
def _transform(name: str, severity: int, scale: float, ignore_index: int) -> A.Compose | None:
    """The albumentations transform of one corruption at one severity for frames `scale` x 360 px high."""
    p = BY_NAME[name].at(severity)
    geo = {"border_mode": cv2.BORDER_CONSTANT, "fill": 0, "fill_mask": ignore_index}
    make = {
        "gaussian_noise": lambda: A.GaussNoise(std_range=(p["std"], p["std"]), p=1),
        "impulse_noise": lambda: A.SaltAndPepper(amount=(p["amount"],) * 2, salt_vs_pepper=(0.5, 0.5), p=1),
        "defocus_blur": lambda: A.Defocus(
            radius=(px(p["radius"], scale),) * 2, alias_blur=(p["alias"],) * 2, p=1
        ),
        "motion_blur": lambda: A.MotionBlur(
            blur_limit=(_odd(p["length"] * scale),) * 2, allow_shifted=False, direction_range=(0, 0), p=1
        ),
        "zoom_blur": lambda: A.ZoomBlur(max_factor=(p["zoom"],) * 2, step_factor=(p["step"],) * 2, p=1),
        "glass_blur": lambda: A.GlassBlur(
            sigma=p["sigma"] * scale, max_delta=px(p["delta"], scale), iterations=p["iterations"], p=1
        ),
        "frost": lambda: A.RandomSnow(snow_point_range=(p["threshold"],) * 2, method="bleach", p=1),
        "spatter": lambda: A.Spatter(
            mean=(0.65, 0.65),
            std=(0.3, 0.3),
            gauss_sigma=(p["sigma"],) * 2,
            cutout_threshold=(p["threshold"],) * 2,
            intensity=(p["intensity"],) * 2,
            mode="mud" if p["mud"] else "rain",
            p=1,
        ),
        "sun_glare": lambda: A.RandomSunFlare(
            flare_roi=(0.1, 0.0, 0.9, 0.4),
            src_radius=px(p["radius"], scale),
            num_flare_circles_range=(p["circles"], p["circles"]),
            method="overlay",
            p=1,
        ),
        "brightness": lambda: A.RandomBrightnessContrast(
            brightness_limit=(p["shift"],) * 2, contrast_limit=(0, 0), p=1
        ),
        "pixelate": lambda: A.Downscale(
            scale_range=(p["scale"],) * 2,
            interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_NEAREST_EXACT},
            p=1,
        ),
        "jpeg": lambda: A.ImageCompression(quality_range=(p["quality"],) * 2, p=1),
        "elastic": lambda: A.ElasticTransform(
            alpha=p["alpha"] * scale * scale,
            sigma=max(1.0, p["sigma"] * scale),  # albumentations wants >= 1 (tiny frames)
            interpolation=cv2.INTER_LINEAR,
            mask_interpolation=WARP_NEAREST,
            **geo,
            p=1,
        ),
        "lens_distortion": lambda: A.OpticalDistortion(
            distort_limit=(p["k"], p["k"]),  # positive: content pulled to the centre, corners void
            mode="fisheye",
            interpolation=cv2.INTER_LINEAR,
            mask_interpolation=WARP_NEAREST,
            **geo,
            p=1,
        ),
    }.get(name)
    return A.Compose([make()], seed=0) if make else None


# --------------------------------------------------------------------------------------------- api


def corrupt(
    image: np.ndarray,
    mask: np.ndarray,
    name: str,
    severity: int,
    seed: int = 0,
    image_name: str = "",
    ignore_index: int = 255,
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 HxWx3 image, int HxW mask) corrupted; the mask is the same object unless `name` is geometric."""
    if name not in BY_NAME:
        raise CamsegError(f"unknown corruption {name!r} — choose from {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise CamsegError(f"severity {severity} is not one of 1-5")
    stream = stream_seed(image_name, name, seed)
    scale = round(image.shape[0] / REFERENCE_HEIGHT, 3)  # rounded: the transform cache stays small
    image = np.ascontiguousarray(image)
    if name in NUMPY:
        rng = np.random.default_rng(stream)
        return NUMPY[name](image, BY_NAME[name].at(severity), rng, scale), mask
    compose = _transform(name, severity, scale, ignore_index)
    np_seed, py_seed = np.random.SeedSequence(stream).generate_state(2)
    compose.set_random_state(np.random.default_rng(int(np_seed)), random.Random(int(py_seed)))
    if not BY_NAME[name].geometric:
        return compose(image=image)["image"], mask
    out = compose(image=image, mask=mask.astype(np.uint8, copy=False))  # cv2 remaps no int64
    return out["image"], out["mask"].astype(mask.dtype, copy=False)


@dataclass(frozen=True)
class Corruptor:
    """One (corruption, severity, seed) as a picklable callable of (image, mask, image name)."""

    name: str
    severity: int
    seed: int
    ignore_index: int = 255

    def __call__(self, image: np.ndarray, mask: np.ndarray, image_name: str) -> tuple[np.ndarray, np.ndarray]:
        return corrupt(image, mask, self.name, self.severity, self.seed, image_name, self.ignore_index)


class CorruptedDataset(torch.utils.data.Dataset):
    """Wraps an untransformed dataset of (image, mask): corrupts item i (named names[i]) in __getitem__,
    so the work runs in the loader's workers, then applies `transform` (e.g. EvalTransform). A None
    corruptor passes frames through clean."""

    def __init__(
        self, dataset: Any, names: Sequence[str], corruptor: Corruptor | None, transform: Any = None
    ):
        self.dataset, self.names, self.corruptor, self.transform = dataset, list(names), corruptor, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Any:
        image, mask = self.dataset[i]
        if self.corruptor is not None:
            image, mask = self.corruptor(image, mask, self.names[i])
        return self.transform(image, mask) if self.transform else (image, mask)
