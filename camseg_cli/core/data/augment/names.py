"""Augmentation preset names and their combinations, checked without loading albumentations or torch.

presets.py builds the transforms; this module only reads the names, so every command can
refuse a mistyped --aug at once (with the nearest preset) before the heavy libraries load.

An item with a dot or a slash is the user's own pipeline file (pipeline_file.py): here it only has to
exist; 'pipeline:<hash>' is such a file once read (its content lives in TrainConfig.aug_pipeline).
"""

from __future__ import annotations

from pathlib import Path

from camseg_cli.core.checks import shown
from camseg_cli.core.choices import AUG_EXTRA as EXTRA
from camseg_cli.core.choices import AUG_PRESETS as PRESETS
from camseg_cli.core.choices import AUG_ROBUST as ROBUST
from camseg_cli.core.choices import AUG_STUDY as STUDY
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.suggest import check_file, did_you_mean

PIPELINE_PREFIX = "pipeline:"
ALONE = "a pipeline file is an arm of its own — give it alone, or beside presets with --sweep"


def is_pipeline(item: str) -> bool:
    """A pipeline file's path (presets have neither dots nor slashes) or a read one's 'pipeline:<hash>'."""
    item = item.strip()
    return item.startswith(PIPELINE_PREFIX) or any(ch in item for ch in "./\\")


def check_pipeline_path(item: str) -> None:
    """The cheap check of a pipeline file: it exists and is a file (its content is read later)."""
    if not item.startswith(PIPELINE_PREFIX):
        check_file(item, "augmentation pipeline file")


def parse_aug(spec: str) -> tuple[str, ...]:
    """'flip,jitter' or 'flip+jitter' -> ('flip', 'jitter') in canonical order; 'all' expands."""
    items = [s.strip() for s in spec.replace("+", ",").split(",") if s.strip()]
    if any(is_pipeline(n) for n in items):
        for n in items:
            if is_pipeline(n):
                check_pipeline_path(n)
        if len(items) > 1:
            raise CamsegError(f"--aug {shown(spec)}: {ALONE}")
        return ()
    names = [n.lower() for n in items]
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
    """Canonical name of a combination: 'none', 'all', 'flip+jitter', 'all+sharpen'; a pipeline file's
    stem (or its 'pipeline:<hash>')."""
    if is_pipeline(spec) and "," not in spec and "+" not in spec:
        check_pipeline_path(spec.strip())
        return spec.strip() if spec.strip().startswith(PIPELINE_PREFIX) else Path(spec.strip()).stem
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
    names = [s if is_pipeline(s) else aug_name(s) for s in items]
    for s in names:
        if is_pipeline(s):
            aug_name(s)  # exists
    if not names:
        raise CamsegError("--aug is empty — choose from " + ", ".join(PRESETS))
    return list(dict.fromkeys(names))  # drop repeats, keep order
