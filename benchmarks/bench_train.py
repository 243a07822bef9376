"""Training throughput on one GPU: DeepLabV3 steps in fp32, TF32 and bf16 + channels_last, as images/s and
as a share of the card's dense bf16 peak, plus the same through camseg's Trainer and, end to end, through
camseg's DataLoaders with the share of time the step waits for data.

    python benchmarks/bench_train.py [--arch resnet50] [--steps 15] [--only TEXT] [--profile]

The model-step cases feed synthetic uint8 batches (as camseg's loaders make them), so they measure the
step and our loop around it; the `loader` cases train on synthetic PNGs written for the run, through
make_loaders (RAM cache, --workers processes) and Trainer.train_epoch. Every figure is measured in the
same run as its baseline (fp32), never against a remembered number. --profile records one steady-state
window of the Trainer at 720x960 with torch.profiler: the top kernels print, the trace goes to
out/bench/bench_train_trace.json (chrome://tracing or Perfetto). Results: out/bench/bench_train.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from common import ROOT, emit

from camseg_cli.core.data.sources.layouts import open_dataset
from camseg_cli.core.data.sources.synthetic import write_dataset
from camseg_cli.core.model.checkpoint import build_model
from camseg_cli.core.train.config import TrainConfig
from camseg_cli.core.train.distributed import Dist
from camseg_cli.core.train.engine import EpochState, Trainer
from camseg_cli.core.train.loaders import make_loaders
from camseg_cli.core.train.optim import SegLoss

TFLOP_PER_TRAIN_IMAGE_720x960 = 2.6  # DeepLabV3-ResNet50, forward 0.86 TFLOP x ~3 for forward + backward
CLASSES, IGNORE = 32, 30


def peak_bf16_tflops() -> float:
    name = torch.cuda.get_device_name()
    if "H100" in name or "H200" in name:
        return 756.0 if "PCIe" in name else 989.0
    if "A100" in name:
        return 312.0
    return float("nan")


def set_tf32(on: bool) -> None:
    torch.backends.cuda.matmul.fp32_precision = "tf32" if on else "ieee"
    torch.backends.cudnn.conv.fp32_precision = "tf32" if on else "ieee"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def setup(arch: str, size: tuple[int, int], batch: int, channels_last: bool, device: torch.device):
    torch.manual_seed(0)
    model = build_model(arch, CLASSES, "none").to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randint(0, 256, (batch, *size, 3), dtype=torch.uint8)  # as camseg's loaders make them
    y = torch.randint(0, CLASSES, (batch, *size), dtype=torch.uint8)
    if device.type == "cuda":
        x, y = x.pin_memory(), y.pin_memory()
    return model, x, y


def trainer_for(model: torch.nn.Module, dtype, channels_last: bool, device: torch.device) -> Trainer:
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    return Trainer(
        model, SegLoss(IGNORE).to(device), opt, sched, scaler, Dist(device=device), dtype, 1, channels_last
    )


def raw_steps(arch, size, batch, dtype, channels_last, steps, warmup, device) -> dict:
    """Seconds per step of the bare loop: forward, loss, backward, AdamW; inputs already on the device."""
    model, x, y = setup(arch, size, batch, channels_last, device)
    x, y = x.to(device).permute(0, 3, 1, 2).float().div(255), y.to(device).long()
    x = x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    crit = SegLoss(IGNORE).to(device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)

    def step():
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = crit(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return {"step_s": (time.perf_counter() - t) / steps}


def trainer_steps(arch, size, batch, dtype, channels_last, steps, warmup, device) -> dict:
    """Seconds per step through Trainer.train_epoch: pinned uint8 CPU batches copied in and normalised
    on the device, losses read back one step late."""
    model, x, y = setup(arch, size, batch, channels_last, device)
    trainer = trainer_for(model, dtype, channels_last, device)
    trainer.train_epoch([(x, y)] * warmup, 0, warmup, EpochState())
    sync(device)
    t = time.perf_counter()
    trainer.train_epoch([(x, y)] * steps, 0, steps, EpochState())
    sync(device)
    return {"step_s": (time.perf_counter() - t) / steps}


def synthetic_data(dest: Path, steps: int, warmup: int, batch: int) -> Path:
    """720x960 RGB-label PNGs, 90% of them train: enough for `steps` and for `warmup` full batches."""
    images = int((max(steps, warmup) + 1) * batch / 0.9) + 4
    return write_dataset(dest, "rgb", images=images, size=(720, 960), seed=0, split=(0.9, 0.05, 0.05))


def loader_steps(arch, size, batch, dtype, channels_last, steps, warmup, device, data, workers=8, aug="all"):
    """Seconds per step end to end: `data` (camseg synth PNGs) through make_loaders (RAM cache, `workers`
    processes, preset `aug`) into Trainer.train_epoch; the last `warmup` batches of one epoch (they
    build the cache and start the workers), then `steps` timed batches of the next. Also the share
    of those seconds the loop spent waiting for data."""
    with tempfile.TemporaryDirectory(prefix="camseg-bench-train-") as tmp:
        config = TrainConfig(
            data=str(data), arch=arch, weights="none", size=size, batch_size=batch, workers=workers,
            cache="ram", aug=aug, out=tmp, device=device.type,
        )  # fmt: skip
        loaders = make_loaders(config, open_dataset(data), Dist(device=device))
        model, _, _ = setup(arch, size, batch, channels_last, device)
        trainer = trainer_for(model, dtype, channels_last, device)
        n, w = min(steps, loaders.batches), min(warmup, loaders.batches)
        loaders.skip_to(0, loaders.batches - w)  # only the last w batches of epoch 0
        trainer.train_epoch(loaders.train, 0, loaders.batches, EpochState(batches_done=loaders.batches - w))
        loaders.skip_to(1, loaders.batches - n)
        state = EpochState(batches_done=loaders.batches - n)
        sync(device)
        t = time.perf_counter()
        trainer.train_epoch(loaders.train, 1, loaders.batches, state)
        sync(device)
        return {"step_s": (time.perf_counter() - t) / n, "data_wait": state.data_wait, "workers": workers}


def profile_window(arch, size, batch, dtype, channels_last, steps, device, out: Path) -> str:
    """torch.profiler over `steps` steady-state Trainer steps (after 3 unrecorded); the top ops by self
    device time (CPU time on CPU), and a chrome trace written to `out`."""
    from torch.profiler import ProfilerActivity, profile, schedule

    model, x, y = setup(arch, size, batch, channels_last, device)
    trainer = trainer_for(model, dtype, channels_last, device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, schedule=schedule(wait=1, warmup=2, active=steps)) as prof:
        for _ in range(3 + steps):
            trainer.train_epoch([(x, y)], 0, 1, EpochState())
            prof.step()
    sync(device)
    out.parent.mkdir(parents=True, exist_ok=True)
    prof.export_chrome_trace(str(out))
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=25)


CASES = [  # label, size, batch, autocast dtype, channels_last, TF32, how
    ("fp32 (ieee)", (360, 480), 8, None, False, False, raw_steps),
    ("tf32", (360, 480), 8, None, False, True, raw_steps),
    ("bf16", (360, 480), 8, torch.bfloat16, False, True, raw_steps),
    ("bf16 + channels_last", (360, 480), 8, torch.bfloat16, True, True, raw_steps),
    ("bf16 + channels_last, Trainer", (360, 480), 8, torch.bfloat16, True, True, trainer_steps),
    ("bf16 + channels_last, loader", (360, 480), 8, torch.bfloat16, True, True, loader_steps),
    ("bf16 + channels_last", (720, 960), 8, torch.bfloat16, True, True, raw_steps),
    ("bf16 + channels_last, Trainer", (720, 960), 8, torch.bfloat16, True, True, trainer_steps),
    ("bf16 + channels_last, loader", (720, 960), 8, torch.bfloat16, True, True, loader_steps),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--workers", type=int, default=8, help="DataLoader processes for the loader cases")
    p.add_argument("--data", type=Path, help="Dataset for the loader cases (default: synthetic, written now)")
    p.add_argument("--only", default="", help="Run only the cases whose label contains this text.")
    p.add_argument("--profile", action="store_true", help="Also profile 10 Trainer steps at 720x960.")
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_train.py measures GPU training and needs CUDA; this machine has none")
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    peak = peak_bf16_tflops()
    print(f"{torch.cuda.get_device_name()}  torch {torch.__version__}  bf16 dense peak {peak:.0f} TFLOP/s")
    base, results = None, {}
    tmp = tempfile.TemporaryDirectory(prefix="camseg-bench-data-")
    data = args.data
    for name, size, batch, dtype, cl, tf32, fn in CASES:
        label = f"{size[0]}x{size[1]} {name}"
        if args.only not in label:
            continue
        extra = {}
        if fn is loader_steps:
            data = data or synthetic_data(Path(tmp.name) / "data", args.steps, args.warmup, batch)
            extra = {"data": data, "workers": args.workers}
        set_tf32(tf32)
        torch.cuda.reset_peak_memory_stats()
        r = fn(args.arch, size, batch, dtype, cl, args.steps, args.warmup, device, **extra)
        ips = batch / r["step_s"]
        base = base or ips
        tflops = TFLOP_PER_TRAIN_IMAGE_720x960 * size[0] * size[1] / (720 * 960) * ips
        share = 100 * tflops / peak if args.arch == "resnet50" else float("nan")
        mem = torch.cuda.max_memory_allocated() / 2**30
        wait = f" data wait {100 * r['data_wait']:4.1f}%" if "data_wait" in r else ""
        print(
            f"{args.arch} {label:40s} b{batch} {1000 * r['step_s']:7.1f} ms/step {ips:7.1f} img/s "
            f"({ips / base:4.2f}x fp32 360x480) {tflops:6.1f} TFLOP/s {share:5.1f}% of bf16 peak  "
            f"peak mem {mem:.1f} GiB{wait}"
        )
        results[label] = r | {"images_per_s": ips, "vs_fp32": ips / base, "tflops": tflops, "peak_gib": mem}
        torch.cuda.empty_cache()
    tmp.cleanup()
    if args.profile:
        set_tf32(True)
        trace = ROOT / "out" / "bench" / "bench_train_trace.json"
        print(profile_window(args.arch, (720, 960), 8, torch.bfloat16, True, 10, device, trace))
        print(f"trace: {trace}")
    emit(
        "bench_train",
        {"arch": args.arch, "gpu": torch.cuda.get_device_name(), "cases": results},
        as_json=False,
    )


if __name__ == "__main__":
    main()
