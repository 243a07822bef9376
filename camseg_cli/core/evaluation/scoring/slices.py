"""Real conditions without synthetic corruption: the test frames of a slice (dark frames, one drive),
scored from the per-image confusion matrices an evaluation already cached, without re-running a model."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from camseg_cli.core.choices import DARK_THRESHOLD, SLICES
from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.data.sources.samples import read_image
from camseg_cli.core.evaluation.scoring.bootstrap import frame_key
from camseg_cli.core.suggest import check_choices

if TYPE_CHECKING:  # check_slices runs before torch and pandas load (camseg evaluate --slice night)
    from camseg_cli.core.evaluation.scoring.results import EvalResult

MIN_SLICE = 10  # frames: fewer, and a slice's mIoU says nothing (the note says so, and no test is made)


def check_slices(spec: str | None) -> tuple[str, ...]:
    """'dark,sequence' -> ('dark', 'sequence'); an unknown slice is refused before any work."""
    items = tuple(dict.fromkeys(s.strip().lower() for s in (spec or "").split(",") if s.strip()))
    check_choices("--slice", ",".join(items), SLICES)
    return items


def slice_luminance(result: EvalResult, split: str) -> dict[str, float]:
    """Mean luminance of each evaluated frame, as `camseg stats` measures it for its dark threshold."""
    from camseg_cli.core.data.sources.stats import mean_luminance  # pandas, when a dark slice is asked for

    layout, settings = result.stamp.get("layout"), result.stamp.get("split", {})
    refs = {r.name: r for r in open_dataset(result.data, layout, **settings).samples(split)}
    return {n: mean_luminance(read_image(refs[n].image)) for n in result.image_names if n in refs}


def slice_members(
    slices: Sequence[str], luminance: dict[str, float], names: Sequence[str]
) -> list[tuple[str, np.ndarray]]:
    """(slice name, image indices) of every slice asked for: "dark" (under the dark threshold), then each
    drive ("seq <name>"), thin or not."""
    wanted: list[tuple[str, np.ndarray]] = []
    if "dark" in slices:
        dark = [i for i, n in enumerate(names) if luminance.get(n, math.inf) < DARK_THRESHOLD]
        wanted.append(("dark", np.array(dark, dtype=np.int64)))
    if "sequence" in slices:
        seqs: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            key = frame_key(n)
            seqs.setdefault(key[0] if key else "(no sequence)", []).append(i)
        wanted += [(f"seq {s}", np.array(v, dtype=np.int64)) for s, v in seqs.items()]
    return wanted


def thin_note(name: str, frames: int, what: str = "not tested") -> str:
    """What a slice with fewer than MIN_SLICE frames says instead of a score or a test."""
    return f"slice {name}: {frames} test frame(s), under {MIN_SLICE} — too few to say anything; {what}"


def slice_images(
    slices: Sequence[str], luminance: dict[str, float], names: Sequence[str]
) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """(slice name, image indices) of each slice with enough frames, and a note for each without."""
    found, notes = [], []
    for name, idx in slice_members(slices, luminance, names):
        if len(idx) < MIN_SLICE:
            notes.append(thin_note(name, len(idx)))
        else:
            found.append((name, idx))
    return found, notes
