"""`camseg compare` as one call: gather (cached) evaluations of every checkpoint, judge the study, judge it
under shift when asked, draw the sample masks and write every report under OUT/compare/.

It sits above the evaluation layers (reports over compare over scoring and stats): the only module that
both judges and writes, as scoring/evaluation.py is for `camseg evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camseg_cli.core.evaluation.compare.comparison import Comparison, compare
from camseg_cli.core.evaluation.compare.config import CompareConfig
from camseg_cli.core.evaluation.compare.one_run import nothing_to_compare
from camseg_cli.core.evaluation.compare.runs import gather
from camseg_cli.core.evaluation.compare.shift import study_under_shift
from camseg_cli.core.evaluation.compare.shift_table import RobustComparison
from camseg_cli.core.evaluation.reports.report import write_report
from camseg_cli.core.evaluation.reports.robustness import robust_markdown, write_robust
from camseg_cli.core.evaluation.reports.tables import cell_rows
from camseg_cli.core.evaluation.scoring.masks import sample_predictions
from camseg_cli.core.model.device import resolve_device

Track = Callable[[Iterable, str], Iterable]


@dataclass
class CompareRun:
    """What one `camseg compare` found, and the files it wrote (none for a single run)."""

    comparison: Comparison
    reused: int  # evaluations read from OUT/eval instead of scored again
    robust: RobustComparison | None = None
    written: list[Path] = field(default_factory=list)

    @property
    def one_run(self) -> bool:
        return len(self.comparison.runs) == 1

    def to_json(self) -> dict[str, Any]:
        rc = {"robustness": self.robust.to_json()} if self.robust is not None else {}
        cells = {"cells": cell_rows(self.comparison.table)}  # the rows of cells.csv and report.md's cells
        return self.comparison.to_json() | cells | rc


def run_compare(cfg: CompareConfig, track: Track | None = None) -> CompareRun:
    """Judge `cfg.checkpoints` as `cfg` says; a single run is scored and described, with a note on how to
    train its baseline, and no report is written."""
    ev = cfg.eval
    dev = resolve_device(ev.device)
    kwargs = ev.pass_kwargs() | {"device": str(dev)}
    runs = gather(cfg.checkpoints, out=ev.out, track=track, **kwargs)
    comparison = compare(runs, cfg.baseline, ev.bootstrap, ev.seed, cfg.block, cfg.min_effect)
    done = CompareRun(comparison, reused=sum(r.cached for r in runs))
    if done.one_run:
        comparison.notes.append(nothing_to_compare(Path(cfg.checkpoints[0])))
        return done
    extra: list[str] = []
    pictures: list[str] = []
    if cfg.under_shift:
        kwargs = {k: v for k, v in kwargs.items() if k not in ("data", "split", "bootstrap", "seed")}
        c = cfg.corruption
        done.robust = study_under_shift(
            comparison, c.names, c.severities, c.seed, cfg.slices, ev.out, ev.data, cfg.min_effect,
            track=track, **kwargs,
        )  # fmt: skip
        robust_files = write_robust(done.robust, ev.out)
        extra, pictures = robust_markdown(done.robust), [p.name for p in robust_files if p.suffix == ".png"]
    masks = sample_predictions(comparison, cfg.samples, dev) if cfg.samples > 0 else None
    done.written = write_report(comparison, ev.out, masks, extra, pictures)
    return done
