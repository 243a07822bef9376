"""Augmentation preset names and their combinations, checked without loading albumentations or torch.

core/data/augment.py builds the transforms; this module only reads the names, so every command can
refuse a mistyped --aug at once (with the nearest preset) before the heavy libraries load.
"""

from __future__ import annotations

from camseg_cli.core.checks import shown
from camseg_cli.core.choices import AUG_EXTRA as EXTRA
from camseg_cli.core.choices import AUG_PRESETS as PRESETS
from camseg_cli.core.choices import AUG_ROBUST as ROBUST
from camseg_cli.core.choices import AUG_STUDY as STUDY
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.suggest import did_you_mean


def parse_aug(spec: str) -> tuple[str, ...]:
    """'flip,jitter' or 'flip+jitter' -> ('flip', 'jitter') in canonical order; 'all' expands."""
    names = [s.strip().lower() for s in spec.replace("+", ",").split(",") if s.strip()]
    if not names:
        raise CamsegError("--aug is empty — choose from " + ", ".join(PRESETS))
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        raise CamsegError(
            f"unknown augmentation {shown(unknown[0])} — choose from {', '.join(PRESETS)}"
            + did_you_mean(unknown[0][:100], PRESETS)
        )
    chosen = set()
    for n in names:
        chosen |= set(STUDY) if n == "all" else ({n} if n != "none" else set())
    return tuple(p for p in (*STUDY, *EXTRA, *ROBUST) if p in chosen)


def aug_name(spec: str) -> str:
    """Canonical name of a combination: 'none', 'all', 'flip+jitter', 'all+sharpen'."""
    parts = parse_aug(spec)
    if not parts:
        return "none"
    if set(STUDY) <= set(parts):
        rest = [p for p in parts if p not in STUDY]
        return "+".join(["all", *rest])
    return "+".join(parts)


def split_sweep(spec: str) -> list[str]:
    """'none,flip,crop+jitter' -> ['none', 'flip', 'crop+jitter']: one run per comma item."""
    items = [s.strip() for s in spec.split(",") if s.strip()]
    names = [aug_name(s) for s in items]
    if not names:
        raise CamsegError("--aug is empty — choose from " + ", ".join(PRESETS))
    return list(dict.fromkeys(names))  # drop repeats, keep order
