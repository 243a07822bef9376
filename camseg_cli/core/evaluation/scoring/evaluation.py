"""`camseg evaluate` as one call: a checkpoint scored on a split (EvalConfig), its slices, its corruption
suite against an optional reference, and every report written under OUT/eval/."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camseg_cli.core.evaluation.scoring.config import Corruption, EvalConfig
from camseg_cli.core.evaluation.scoring.eval_files import write_reports
from camseg_cli.core.evaluation.scoring.evaluate import evaluate_checkpoint
from camseg_cli.core.evaluation.scoring.result_cache import report_stem
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.evaluation.scoring.robustness import Robustness, robustness, write_robustness
from camseg_cli.core.evaluation.scoring.slice_scores import SliceScore, score_slices, slices_frame
from camseg_cli.core.files import write_csv

Track = Callable[[Iterable, str], Iterable]


@dataclass
class Evaluation:
    """What one `camseg evaluate` found, and the files it wrote."""

    result: EvalResult
    slices: list[SliceScore] = field(default_factory=list)
    rob: Robustness | None = None
    ref: Robustness | None = None  # --reference's robustness, for CD
    paths: list[Path] = field(default_factory=list)

    def slices_json(self) -> dict[str, Any]:
        return {"slices": [s.to_json() for s in self.slices]} if self.slices else {}

    def to_json(self) -> dict[str, Any]:
        rob = {"robustness": self.rob.to_json(self.ref)} if self.rob is not None else {}
        return self.result.to_json() | self.slices_json() | rob


def evaluate(
    checkpoint: Path | str,
    cfg: EvalConfig,
    slices: Sequence[str] = (),
    corruption: Corruption | None = None,
    reference: Path | str | None = None,
    track: Track | None = None,
) -> Evaluation:
    """Score `checkpoint` as `cfg` says, then its slices and (with `corruption`) the suite, for it and
    the reference; write `OUT/eval/<run>-<split>.json/.csv/.npz/-confusion.png`, `-slices.csv` and the
    robustness reports."""
    result = evaluate_checkpoint(checkpoint, track=track, **cfg.pass_kwargs())
    ev = Evaluation(result, score_slices(result, slices))
    ev.paths = write_reports(result, cfg.out, ev.slices_json())
    if ev.slices:
        stem = report_stem(cfg.out, result.run, result.split)
        ev.paths.append(write_csv(stem.parent / f"{stem.name}-slices.csv", slices_frame(ev.slices)))
    if corruption is not None:
        kwargs = cfg.pass_kwargs() | {"track": track}
        data, split = kwargs.pop("data"), kwargs.pop("split")
        del kwargs["bootstrap"], kwargs["seed"]  # robustness's seed is the corruptions'; its CIs are its own
        args = (corruption.names, corruption.severities, corruption.seed, split, data, cfg.out)
        ev.rob = robustness(checkpoint, *args, clean=result, **kwargs)
        ev.ref = robustness(reference, *args, **kwargs) if reference is not None else None
        ev.paths += write_robustness(ev.rob, cfg.out, ev.ref)
    return ev
