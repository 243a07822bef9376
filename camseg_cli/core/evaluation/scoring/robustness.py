"""Robustness of one checkpoint: one scored pass per (corruption, severity) over a split, and the scores a
robustness paper's reader expects (ImageNet-C, Hendrycks & Dietterich 2019; Kamann & Rother 2020).

Per corruption: mIoU at each severity, their mean, and the relative score mean / clean mIoU. Over the suite:
the mean corrupted mIoU (mean over corruptions of their means). Against a reference checkpoint: Kamann &
Rother's corruption degradation CD_c = sum_s (1 - mIoU_s,c) / sum_s (1 - mIoU_ref_s,c), its mean mCD, and
Hendrycks' relative form rCD_c = sum_s (clean - mIoU_s,c) / sum_s (clean_ref - mIoU_ref_s,c). Every pass is
cached like a clean evaluation (`out/eval/corrupt/`), keyed by corruption, severity and seed as well.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camseg_cli.core.choices import CORRUPTION_FAMILIES
from camseg_cli.core.data.corruption.suite import Corruptor, family_of
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.scoring.eval_files import write_reports
from camseg_cli.core.evaluation.scoring.evaluate import evaluate_passes, split_settings
from camseg_cli.core.evaluation.scoring.result_cache import cached_result, report_stem, save_cache
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.files import pyplot, save_figure, write_csv, write_json
from camseg_cli.core.model.checkpoint import load_checkpoint, run_name

Track = Callable[[Iterable, str], Iterable]
SPLIT_KEYS = ("split_by", "val_sequences", "test_sequences", "conditions")


@dataclass
class Robustness:
    """A checkpoint's clean evaluation and its corrupted passes, `passes[(name, severity)]`."""

    clean: EvalResult
    passes: dict[tuple[str, int], EvalResult]
    seed: int  # the corruptions' seed

    @property
    def corruptions(self) -> list[str]:
        return list(dict.fromkeys(n for n, _ in self.passes))

    @property
    def severities(self) -> list[int]:
        return sorted({s for _, s in self.passes})

    def miou(self, name: str, severity: int) -> float:
        return float(self.passes[(name, severity)].scores.miou)

    def mean(self, name: str) -> float:
        """ImageNet-C's per-corruption score: the mean over the severities evaluated."""
        return float(np.mean([self.miou(name, s) for s in self.severities]))

    @property
    def clean_miou(self) -> float:
        return float(self.clean.scores.miou)

    @property
    def mean_corrupted(self) -> float:
        return float(np.mean([self.mean(n) for n in self.corruptions]))

    def degradation(self, name: str, ref: Robustness) -> tuple[float, float]:
        """Kamann & Rother's CD and Hendrycks' relative rCD of one corruption against `ref`."""
        sev = self.severities
        ce = sum(1 - self.miou(name, s) for s in sev)
        ce_ref = sum(1 - ref.miou(name, s) for s in sev)
        drop = sum(self.clean_miou - self.miou(name, s) for s in sev)
        drop_ref = sum(ref.clean_miou - ref.miou(name, s) for s in sev)
        return _ratio(ce, ce_ref), _ratio(drop, drop_ref)

    def rows(self, ref: Robustness | None = None) -> list[dict[str, Any]]:
        """One row per corruption: family, mIoU at each severity, mean, relative score (and CD, rCD)."""
        rows = []
        for n in self.corruptions:
            row: dict[str, Any] = {"corruption": n, "family": family_of(n)}
            row["miou"] = {str(s): self.miou(n, s) for s in self.severities}
            row["mean"] = self.mean(n)
            row["relative"] = _ratio(self.mean(n), self.clean_miou)
            if ref is not None:
                row["cd"], row["rcd"] = self.degradation(n, ref)
            rows.append(row)
        return rows

    def to_json(self, ref: Robustness | None = None) -> dict[str, Any]:
        rows = self.rows(ref)
        out: dict[str, Any] = {
            "checkpoint": self.clean.checkpoint,
            "run": self.clean.run,
            "split": self.clean.split,
            "images": self.clean.num_images,
            "corrupt_seed": self.seed,
            "severities": self.severities,
            "clean_miou": self.clean_miou,
            "mean_corrupted_miou": self.mean_corrupted,
            "relative": _ratio(self.mean_corrupted, self.clean_miou),
            "families": {
                f: float(np.mean([r["mean"] for r in rows if r["family"] == f]))
                for f in CORRUPTION_FAMILIES
                if any(r["family"] == f for r in rows)
            },
            "corruptions": rows,
            "seconds": {
                "clean": self.clean.seconds,
                "corrupted": sum(p.seconds for p in self.passes.values()),
            },
        }
        if ref is not None:
            out["reference"] = {"checkpoint": ref.clean.checkpoint, "run": ref.clean.run}
            out["mcd"] = float(np.mean([r["cd"] for r in rows]))
            out["relative_mcd"] = float(np.mean([r["rcd"] for r in rows]))
        return out


def _ratio(a: float, b: float) -> float:
    return a / b if b and math.isfinite(b) else math.nan


def _key(corruptor: Corruptor | None) -> dict[str, Any] | None:
    return (
        {"name": corruptor.name, "severity": corruptor.severity, "seed": corruptor.seed}
        if corruptor
        else None
    )


def scored_passes(
    ckpt_path: Path | str,
    corruptors: Sequence[Corruptor | None],
    split: str = "test",
    data: Path | str | None = None,
    out: Path | str = "out",
    run: str | None = None,
    **eval_kwargs: Any,
) -> list[EvalResult]:
    """One evaluation per corruptor (None: clean): cached ones reused while checkpoint, files, split and
    corruption are unchanged; the others scored in one evaluate_passes call (model loaded once) and cached.

    eval_kwargs: evaluate_passes's options (batch_size, device, workers, layout, cache, track, class_map,
    ...) and split_by / val_sequences / test_sequences / conditions.
    """
    path = Path(ckpt_path)
    ckpt = load_checkpoint(path)
    settings = split_settings(ckpt, **{k: eval_kwargs.pop(k, None) for k in SPLIT_KEYS})
    run = run or run_name(ckpt)
    layout, class_map = eval_kwargs.get("layout"), eval_kwargs.get("class_map")
    found = [
        cached_result(path, run, split, out, data, settings, layout, class_map, corrupt=_key(c))
        for c in corruptors
    ]
    todo = [c for c, r in zip(corruptors, found) if r is None]
    if todo:
        # clean passes keep their bootstrap CIs; a corrupted pass's CI is not used, so not paid for
        kwargs = eval_kwargs | ({"bootstrap": 0} if None not in todo else {})
        fresh = iter(evaluate_passes(path, data=data, split=split, **settings, corruptors=todo, **kwargs))
        found = [r if r is not None else next(fresh) for r in found]
        for c, r in zip(corruptors, found):
            if c not in todo:
                continue
            r.run = run
            if c is None:
                write_reports(r, out)
            else:  # no heatmap per pass: the cache file is enough for compare and --slice
                save_cache(r, report_stem(out, run, split, _key(c)).with_suffix(".npz"))
    return found


def robustness(
    ckpt_path: Path | str,
    names: Sequence[str],
    severities: Sequence[int],
    seed: int = 0,
    split: str = "test",
    data: Path | str | None = None,
    out: Path | str = "out",
    run: str | None = None,
    clean: EvalResult | None = None,
    **eval_kwargs: Any,
) -> Robustness:
    """Score `ckpt_path` clean and under every (corruption, severity), reusing cached passes.

    Args:
        names, severities: the corruptions (core/data/corrupt_names.parse_corrupt) and severities (1-5).
        seed: seed of the corruptions' random draws (a different seed, different noise fields).
        run: the name the passes are cached under (compare numbers two runs of one name); default the
            checkpoint's run name.
        clean: the clean evaluation if the caller has it already.
        eval_kwargs: as scored_passes.
    """
    if not names or not severities:
        raise CamsegError("--corrupt: nothing to evaluate")
    keys = [(n, s) for n in names for s in severities]
    corruptors: list[Corruptor | None] = [Corruptor(n, s, seed) for n, s in keys]
    if clean is None:
        corruptors.insert(0, None)
    results = scored_passes(ckpt_path, corruptors, split, data, out, run, **eval_kwargs)
    if clean is None:
        clean, results = results[0], results[1:]
    return Robustness(clean, dict(zip(keys, results)), seed)


# ---------------------------------------------------------------------------------------- reports


def robustness_frame(rob: Robustness, ref: Robustness | None = None) -> Any:
    """Long CSV: a row per (corruption, severity) with mIoU and relative score; CD and rCD per corruption."""
    import pandas as pd

    rows = []
    for r in rob.rows(ref):
        for s, v in r["miou"].items():
            rows.append(
                {"corruption": r["corruption"], "family": r["family"], "severity": int(s), "miou": v}
                | {"relative": _ratio(v, rob.clean_miou), "mean": r["mean"]}
                | ({"cd": r["cd"], "rcd": r["rcd"]} if ref is not None else {})
            )
    return pd.DataFrame(rows)


def plot_robustness(rob: Robustness, ref: Robustness | None = None) -> Any:
    """mIoU against severity, one panel per family, a line per corruption; severity 0 is the clean frame."""
    plt = pyplot()
    families = [f for f in CORRUPTION_FAMILIES if any(family_of(n) == f for n in rob.corruptions)]
    fig, axes = plt.subplots(1, len(families), figsize=(3.6 * len(families), 3.4), squeeze=False, sharey=True)
    xs = [0, *rob.severities]
    for ax, fam in zip(axes[0], families):
        for n in (n for n in rob.corruptions if family_of(n) == fam):
            ax.plot(
                xs, [rob.clean_miou, *(rob.miou(n, s) for s in rob.severities)], marker="o", ms=3, label=n
            )
        ax.axhline(rob.clean_miou, color="grey", lw=0.8, ls="--")
        if ref is not None:
            ax.axhline(ref.clean_miou, color="grey", lw=0.8, ls=":")
        ax.set_title(fam, fontsize=9)
        ax.set_xticks(xs, ["clean", *map(str, rob.severities)], fontsize=8)
        ax.set_xlabel("severity", fontsize=8)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("mIoU")
    fig.suptitle(f"{rob.clean.run} on {rob.clean.split}: mIoU under corruption (dashed: clean)", fontsize=9)
    fig.tight_layout()
    return fig


def write_robustness(rob: Robustness, out: Path | str = "out", ref: Robustness | None = None) -> list[Path]:
    """`out/eval/<run>-<split>-robustness.json/.csv/.png`."""
    stem = report_stem(out, rob.clean.run, rob.clean.split)
    base = stem.parent / f"{stem.name}-robustness"
    return [
        write_json(base.with_suffix(".json"), rob.to_json(ref)),
        write_csv(base.with_suffix(".csv"), robustness_frame(rob, ref)),
        save_figure(base.with_suffix(".png"), plot_robustness(rob, ref)),
    ]
