"""Precise BN on a finished run: its very weights judged with the running statistics training left and with
statistics recomputed over its last epoch's training batches (what --precise-bn N gives that epoch).

Run: python benchmarks/bench_precise_bn.py OUT/runs/RUN/last.pt [--batches 16] [--cost 2] [--json]

Training never reads the running statistics (train mode normalises each batch by its own), so a run
trained with --precise-bn 0 ends with the same weights as the same run with it (tests/test_precise_bn.py);
only eval mode differs. Prints, on val and test, before and after: mIoU, and the agreement between the
masks of different images beside the labels' own (scoring/dependence.py); and the seconds of one
precise-BN pass beside the run's median epoch. With --cost R: the CPU seconds (process time, so that
other programs on a shared machine do not count) of a training epoch, a validation pass and a precise-BN
pass on the run's own loaders, interleaved R times, medians. The dropout draws of the pass differ from
those of a run trained with the flag (another RNG state): the figures match it in distribution, not to
the bit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.evaluation.scoring.evaluate import evaluate_checkpoint
from camseg_cli.core.model.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from camseg_cli.core.model.inference import ModelInput
from camseg_cli.core.train.config import AUTO_BATCHES, TrainConfig
from camseg_cli.core.train.distributed import Dist
from camseg_cli.core.train.loaders import make_loaders
from camseg_cli.core.train.precise_bn import update_bn_stats


def recomputed(path: Path, batches: int, dest: Path) -> tuple[Path, float, int]:
    """A copy of the checkpoint with precise-BN statistics over its last epoch's first `batches` batches."""
    ckpt = load_checkpoint(path)
    config = dataclasses.replace(TrainConfig.from_dict(ckpt["config"]), workers=0, cache="none")
    info = open_dataset(config.data, config.layout, config.split_by, config.val_sequences,
                        config.test_sequences)  # fmt: skip
    loaders = make_loaders(config, info, Dist())
    model = model_from_checkpoint(ckpt, torch.device("cpu"))
    to_input = ModelInput(ckpt["normalization"], torch.device("cpu"))
    epoch = int(ckpt["epoch"]) - 1
    loaders.skip_to(epoch, 0)
    torch.manual_seed(config.seed * 1000 + epoch * 10)
    start = time.perf_counter()
    used = update_bn_stats(model, (to_input(x) for x, _ in loaders.train), min(batches, loaders.batches))
    seconds = time.perf_counter() - start
    for key in ("path", "classes_map", "resume"):
        ckpt.pop(key, None)
    ckpt["model"] = model.state_dict()
    return save_checkpoint(dest, ckpt), seconds, used


def cost(path: Path, batches: int, repeat: int) -> dict:
    """Median CPU seconds of one training epoch, one validation pass and one precise-BN pass, interleaved."""
    from camseg_cli.core.evaluation.scoring.loop import evaluate_loader
    from camseg_cli.core.model.inference import inference_model
    from camseg_cli.core.train.optim import SegLoss

    ckpt = load_checkpoint(path)
    config = dataclasses.replace(TrainConfig.from_dict(ckpt["config"]), workers=0, cache="none")
    info = open_dataset(config.data, config.layout, config.split_by, config.val_sequences,
                        config.test_sequences)  # fmt: skip
    loaders, cpu = make_loaders(config, info, Dist()), torch.device("cpu")
    model = model_from_checkpoint(ckpt, cpu)
    to_input, criterion = ModelInput(ckpt["normalization"], cpu), SegLoss(info.classes.ignore_index)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def train() -> None:
        model.train()
        loaders.skip_to(0, 0)
        for x, m in loaders.train:
            criterion(model(to_input(x)), m.long()).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    def validate() -> None:
        c = info.classes
        evaluate_loader(inference_model(model, cpu), loaders.val, c.num_classes, c.ignore_index, to_input)

    def precise() -> None:
        loaders.skip_to(0, 0)
        update_bn_stats(model, (to_input(x) for x, _ in loaders.train), min(batches, loaders.batches))

    times: dict[str, list[float]] = {"train": [], "validate": [], "precise_bn": []}
    for _ in range(repeat):
        for name, f in (("train", train), ("validate", validate), ("precise_bn", precise)):
            start = time.process_time()
            f()
            times[name].append(time.process_time() - start)
    out = {f"{k}_cpu_s": float(np.median(v)) for k, v in times.items()}
    epoch = out["train_cpu_s"] + out["validate_cpu_s"]
    return out | {"batches": loaders.batches, "added_per_epoch": out["precise_bn_cpu_s"] / epoch}


def figures(path: Path, split: str) -> dict:
    r = evaluate_checkpoint(path, split=split, device="cpu", bootstrap=0)
    d = r.dependence
    return {"miou": r.scores.miou, "pred_agreement": d.pred_agreement, "gt_agreement": d.gt_agreement,
            "classes_pred": d.classes_per_image_pred, "classes_gt": d.classes_per_image_gt,
            "flagged": d.flagged}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path, help="a run's last.pt (or best .pt) trained with --precise-bn 0")
    ap.add_argument("--batches", type=int, default=AUTO_BATCHES)
    ap.add_argument("--cost", type=int, default=0, help="also time the passes, interleaved this many times")
    ap.add_argument("--keep", type=Path, help="also save the recomputed checkpoint here")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if args.cost:
        c = cost(args.checkpoint, args.batches, args.cost)
        print(json.dumps(c, indent=2) if args.json else
              f"CPU seconds: training epoch ({c['batches']} batches) {c['train_cpu_s']:.1f}, validation "
              f"{c['validate_cpu_s']:.1f}, precise BN {c['precise_bn_cpu_s']:.1f} "
              f"(+{100 * c['added_per_epoch']:.0f}% per epoch)")  # fmt: skip
        return
    history = load_checkpoint(args.checkpoint).get("history", [])
    epoch_s = float(np.median([h["seconds"] for h in history[1:] or history])) if history else float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        after, seconds, used = recomputed(args.checkpoint, args.batches, args.keep or Path(tmp) / "after.pt")
        rows = {f"{when}/{split}": figures(p, split) for when, p in (("before", args.checkpoint),
                ("after", after)) for split in ("val", "test")}  # fmt: skip
    result = {"checkpoint": str(args.checkpoint), "batches": used, "precise_bn_seconds": seconds,
              "median_epoch_seconds": epoch_s, "rows": rows}  # fmt: skip
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        return
    print(f"{args.checkpoint}: precise BN over {used} batches took {seconds:.1f}s "
          f"(the run's median epoch: {epoch_s:.1f}s)")  # fmt: skip
    print(f"{'':12} {'mIoU':>7} {'pred agree':>11} {'gt agree':>9} {'cls/img pred':>13} {'gt':>5}  flagged")
    for name, r in rows.items():
        print(f"{name:12} {r['miou']:7.4f} {r['pred_agreement']:11.4f} {r['gt_agreement']:9.4f} "
              f"{r['classes_pred']:13.2f} {r['classes_gt']:5.2f}  {r['flagged']}")  # fmt: skip


if __name__ == "__main__":
    main()
