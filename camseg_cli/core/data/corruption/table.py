"""The corruption suite's fixed parameters, one tuple of five per corruption (severities 1-5).

Numbers are ImageNet-C's published ones (Hendrycks & Dietterich 2019, `make_imagenet_c.py`), mapped to the
albumentations transform that does the same thing; spatial sizes (blur radii, kernel lengths, displacements,
stripe spacing) were given for 224-pixel crops and are multiplied by 360/224 = 1.6 here, for a 360-pixel-high
CamVid frame, and scaled again at run time by the frame's own height / 360. The driving camera's own
corruptions (low light, windscreen stripes, lens distortion) and the weather ImageNet-C draws from photographs
or fractals (snow, fog, rain, glare) were set by looking at `camseg corrupt-preview` on CamVid frames and
measuring: severity 3 of low light is issue 23's "dark" condition (gamma 2.2, exposure x0.35, noise SD
0.02). README.md, "Robustness", prints this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from camseg_cli.core.choices import CORRUPTION_FAMILIES

REFERENCE_HEIGHT = 360  # spatial parameters below are in pixels of a frame this high
SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Corruption:
    """One named corruption: its family, whether it moves pixels (mask warped too), its five settings."""

    name: str
    family: str
    geometric: bool
    params: tuple[dict[str, Any], ...]  # one per severity
    source: str  # where the numbers come from

    def at(self, severity: int) -> dict[str, Any]:
        return self.params[severity - 1]


def _rows(**columns: tuple) -> tuple[dict[str, Any], ...]:
    """Columns of five values -> five dicts, one per severity."""
    return tuple({k: v[i] for k, v in columns.items()} for i in range(5))


IC = "ImageNet-C"
IC_SCALED = "ImageNet-C x1.6 (224 -> 360 px)"
TABLE: tuple[Corruption, ...] = (
    Corruption("gaussian_noise", "noise", False, _rows(std=(0.08, 0.12, 0.18, 0.26, 0.38)), IC),
    Corruption("shot_noise", "noise", False, _rows(photons=(60, 25, 12, 5, 3)), IC),
    Corruption("impulse_noise", "noise", False, _rows(amount=(0.03, 0.06, 0.09, 0.17, 0.27)), IC),
    Corruption(
        "defocus_blur",
        "blur",
        False,
        _rows(radius=(5, 6, 10, 13, 16), alias=(0.1, 0.5, 0.5, 0.5, 0.5)),
        IC_SCALED,
    ),
    Corruption(
        "motion_blur", "blur", False, _rows(length=(9, 15, 25, 37, 47)), IC_SCALED + ", length = 2 sigma"
    ),
    Corruption(
        "zoom_blur",
        "blur",
        False,
        _rows(zoom=(1.11, 1.16, 1.21, 1.26, 1.31), step=(0.01, 0.01, 0.02, 0.02, 0.03)),
        IC,
    ),
    Corruption(
        "glass_blur",
        "blur",
        False,
        _rows(sigma=(1.1, 1.4, 1.6, 1.8, 2.4), delta=(2, 3, 3, 5, 6), iterations=(1, 2, 2, 2, 3)),
        IC_SCALED + "; iterations made non-decreasing",
    ),
    Corruption(
        "snow",
        "weather",
        False,
        _rows(cover=(0.1, 0.2, 0.3, 0.4, 0.5), brightness=(1.5, 1.75, 2.0, 2.25, 2.5)),
        "ImageNet-C whitening; flakes measured",
    ),
    Corruption(
        "frost", "weather", False, _rows(threshold=(0.1, 0.2, 0.3, 0.4, 0.5)), "measured (no frost overlays)"
    ),
    Corruption("fog", "weather", False, _rows(fog=(0.2, 0.3, 0.4, 0.5, 0.6)), "measured: veil opacity"),
    Corruption(
        "spatter",
        "weather",
        False,
        _rows(
            sigma=(4, 3, 2, 1, 1),
            threshold=(0.69, 0.68, 0.68, 0.65, 0.65),
            intensity=(0.6, 0.6, 0.7, 0.8, 0.9),
            mud=(False, False, False, True, True),
        ),
        IC,
    ),
    Corruption(
        "rain",
        "weather",
        False,
        _rows(
            drops=(0.002, 0.004, 0.007, 0.011, 0.016),
            length=(10, 15, 20, 25, 30),
            dim=(0.95, 0.9, 0.85, 0.8, 0.7),
        ),
        "measured: drops per pixel, streak length px",
    ),
    Corruption(
        "sun_glare",
        "weather",
        False,
        _rows(radius=(80, 120, 160, 200, 260), circles=(2, 4, 6, 8, 10)),
        "measured: glare radius px",
    ),
    Corruption("brightness", "digital", False, _rows(shift=(0.1, 0.2, 0.3, 0.4, 0.5)), IC),
    Corruption("contrast", "digital", False, _rows(factor=(0.4, 0.3, 0.2, 0.1, 0.05)), IC),
    Corruption("pixelate", "digital", False, _rows(scale=(0.6, 0.5, 0.4, 0.3, 0.25)), IC),
    Corruption("jpeg", "digital", False, _rows(quality=(25, 18, 15, 10, 7)), IC),
    Corruption(
        "elastic",
        "digital",
        True,
        _rows(alpha=(40, 70, 100, 140, 190), sigma=(12, 12, 11, 10, 9)),
        "measured: mean displacement 1-6 px",
    ),
    Corruption(
        "low_light",
        "camera",
        False,
        _rows(
            exposure=(0.6, 0.45, 0.35, 0.25, 0.15),
            gamma=(1.4, 1.8, 2.2, 2.6, 3.0),
            noise=(0.01, 0.015, 0.02, 0.03, 0.04),
        ),
        "issue 23's dark frames = severity 3",
    ),
    Corruption(
        "windscreen_stripes",
        "camera",
        False,
        _rows(spacing=(40, 32, 24, 18, 12), width=(1, 1, 2, 2, 3), opacity=(0.25, 0.35, 0.45, 0.55, 0.65)),
        "measured: heating wires, px at 360",
    ),
    Corruption(
        "lens_distortion",
        "camera",
        True,
        _rows(k=(0.05, 0.1, 0.2, 0.3, 0.4)),
        "measured: fisheye k (k > 0: barrel, void corners 1-30% of the frame)",
    ),
)

BY_NAME = {c.name: c for c in TABLE}
assert set(BY_NAME) == {n for names in CORRUPTION_FAMILIES.values() for n in names}


def table_rows() -> list[dict[str, Any]]:
    """One row per corruption for the README and `--help`: name, family, settings at each severity."""
    return [
        {
            "corruption": c.name,
            "family": c.family,
            **{f"s{s}": ", ".join(f"{k} {v}" for k, v in c.at(s).items()) for s in SEVERITIES},
            "source": c.source,
        }
        for c in TABLE
    ]
