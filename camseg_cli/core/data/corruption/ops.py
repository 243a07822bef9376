"""Corruptions written in numpy / OpenCV where albumentations has none (low light, windscreen stripes,
contrast about the mean) or where its version is slow or wrong-looking (shot noise, fog, snow, rain).

Each takes (uint8 image, the severity's parameters, a seeded generator, frame height / 360) and returns a
new uint8 image; none sees the mask.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

STRIPE_COLOR = 25.0  # heating wires: thin near-black lines
FOG_GREY = 215.0  # the veil's colour: light grey, as fog lit by an overcast sky


def px(value: float, scale: float) -> int:
    """A size given in pixels of a 360-high frame, in pixels of this frame (at least 1)."""
    return max(1, round(value * scale))


def _contrast(image: np.ndarray, p: dict[str, Any], rng: np.random.Generator, scale: float) -> np.ndarray:
    """ImageNet-C contrast: pull every channel towards its mean by `factor`."""
    x = image.astype(np.float32)
    mean = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - mean) * p["factor"] + mean, 0, 255).round().astype(np.uint8)


def _shot_noise(image: np.ndarray, p: dict[str, Any], rng: np.random.Generator, scale: float) -> np.ndarray:
    """ImageNet-C shot noise: Poisson photon counts at `photons` per unit intensity, in display space
    (ImageNet-C's formula; albumentations' ShotNoise works in linear light). The Poisson draw is ~90% of
    the cost: ~200 ms a 360x480 frame, under a MobileNetV3 forward (benchmarks/NOTES.md)."""
    x = image.astype(np.float32) * (p["photons"] / 255.0)
    return (
        np.clip(rng.poisson(x).astype(np.float32) * (255.0 / p["photons"]), 0, 255).round().astype(np.uint8)
    )


def _fog(image: np.ndarray, p: dict[str, Any], rng: np.random.Generator, scale: float) -> np.ndarray:
    """Fog: a smooth, patchy grey veil (low-frequency noise upsampled), thickest where `fog` says.

    albumentations' RandomFog draws thousands of blurred circles (0.3-1 s a frame); this field costs ~5 ms."""
    h, w = image.shape[:2]
    coarse = rng.random((max(2, h // 48), max(2, w // 48)), dtype=np.float32)
    field = cv2.GaussianBlur(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 8 * scale)
    veil = np.clip(p["fog"] * (0.7 + 0.6 * field), 0, 0.95)[..., None]
    out = image.astype(np.float32) * (1 - veil) + FOG_GREY * veil
    return np.clip(out, 0, 255).round().astype(np.uint8)


def _snow(image: np.ndarray, p: dict[str, Any], rng: np.random.Generator, scale: float) -> np.ndarray:
    """ImageNet-C snow, simplified: the frame whitened towards its grey level, then soft flakes (a sparse
    noise layer, blurred a little more vertically). albumentations' texture snow turns purple when
    strong."""
    h, w = image.shape[:2]
    x = image.astype(np.float32) / 255.0
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
    x = (1 - p["cover"]) * x + p["cover"] * np.maximum(x, grey * 1.5 + 0.5)
    noise = rng.random((h, w), dtype=np.float32)
    flakes = (noise < p["cover"] * 0.02).astype(np.float32)
    flakes = cv2.GaussianBlur(flakes, (0, 0), 0.8 * scale, sigmaY=1.6 * scale)  # soft, slightly falling
    flakes = np.clip(flakes * p["brightness"] * 3, 0, 1)[..., None]
    return (np.clip(x + flakes, 0, 1) * 255).round().astype(np.uint8)


def _low_light(image: np.ndarray, p: dict[str, Any], rng: np.random.Generator, scale: float) -> np.ndarray:
    """A dark frame: gamma (crushes the shadows), an exposure drop, then sensor noise on the dark signal."""
    x = (image.astype(np.float32) / 255.0) ** p["gamma"] * p["exposure"]
    x += rng.standard_normal(x.shape, dtype=np.float32) * p["noise"]
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


def _stripes(image: np.ndarray, p: dict[str, Any], rng: np.random.Generator, scale: float) -> np.ndarray:
    """Windscreen heating wires: thin, regular, semi-transparent vertical lines across the whole frame."""
    w = image.shape[1]
    spacing, width = px(p["spacing"], scale), px(p["width"], scale)
    phase = int(rng.integers(spacing))
    on = ((np.arange(w) - phase) % spacing) < width
    out = image.astype(np.float32)
    out[:, on] = (1 - p["opacity"]) * out[:, on] + p["opacity"] * STRIPE_COLOR
    return out.round().astype(np.uint8)


def _rain(image: np.ndarray, p: dict[str, Any], rng: np.random.Generator, scale: float) -> np.ndarray:
    """Rain streaks (slanted, blurred, light grey) over a dimmed frame; drop positions nested by severity."""
    h, w = image.shape[:2]
    n = round(p["drops"] * h * w)
    slant = np.deg2rad(rng.uniform(-15, 15))
    xy = rng.uniform(size=(n, 2)) * (w, h)
    length = px(p["length"], scale)
    dx, dy = length * np.sin(slant), length * np.cos(slant)
    layer = np.zeros((h, w), np.float32)
    for x, y in xy:
        cv2.line(layer, (int(x), int(y)), (int(x + dx), int(y + dy)), 1.0, px(1, scale))
    layer = cv2.blur(layer, (3, 3))[..., None] * 0.7
    out = image.astype(np.float32) * p["dim"]
    return np.clip(out * (1 - layer) + 200.0 * layer, 0, 255).round().astype(np.uint8)


NUMPY = {
    "shot_noise": _shot_noise,
    "fog": _fog,
    "snow": _snow,
    "contrast": _contrast,
    "low_light": _low_light,
    "windscreen_stripes": _stripes,
    "rain": _rain,
}
