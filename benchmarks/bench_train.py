"""Training throughput on one GPU: DeepLabV3 steps in fp32, TF32 and bf16 + channels_last, as images/s and
as a share of the card's dense bf16 peak, plus the same through camseg's Trainer (loss sync, H2D copies).

    python benchmarks/bench_train.py [--arch resnet50] [--steps 15]

Synthetic tensors, no data loading: this measures the model step and our loop around it. Every figure is
measured in the same run as its baseline (fp32), never against a remembered number.
"""

from __future__ import annotations

import argparse
import time

import torch

from camseg_cli.core.distributed import Dist
from camseg_cli.core.engine import EpochState, Trainer
from camseg_cli.core.model import build_model
from camseg_cli.core.optim import SegLoss

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


def setup(arch: str, size: tuple[int, int], batch: int, channels_last: bool):
    torch.manual_seed(0)
    model = build_model(arch, CLASSES, "none").cuda().train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randint(0, 256, (batch, *size, 3), dtype=torch.uint8)  # as camseg's loaders make them
    y = torch.randint(0, CLASSES, (batch, *size), dtype=torch.uint8)
    return model, x.pin_memory(), y.pin_memory()


def raw_steps(arch, size, batch, dtype, channels_last, steps, warmup) -> float:
    """Seconds per step of the bare loop: forward, loss, backward, AdamW; inputs already on the GPU."""
    model, x, y = setup(arch, size, batch, channels_last)
    x, y = x.cuda().permute(0, 3, 1, 2).float().div(255), y.cuda().long()
    x = x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    crit = SegLoss(IGNORE).cuda()
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)

    def step():
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = crit(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def trainer_steps(arch, size, batch, dtype, channels_last, steps, warmup) -> float:
    """Seconds per step through Trainer.train_epoch: pinned uint8 CPU batches copied in and normalised
    on the GPU, losses read back one step late."""
    model, x, y = setup(arch, size, batch, channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    d = Dist(device=torch.device("cuda"))
    trainer = Trainer(model, SegLoss(IGNORE).cuda(), opt, sched, scaler, d, dtype, 1, channels_last)
    trainer.train_epoch([(x, y)] * warmup, 0, warmup, EpochState())
    torch.cuda.synchronize()
    t = time.perf_counter()
    trainer.train_epoch([(x, y)] * steps, 0, steps, EpochState())
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--only", default="", help="Run only the cases whose label contains this text.")
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_train.py measures GPU training and needs CUDA; this machine has none")
    torch.backends.cudnn.benchmark = True
    peak = peak_bf16_tflops()
    print(f"{torch.cuda.get_device_name()}  torch {torch.__version__}  bf16 dense peak {peak:.0f} TFLOP/s")
    cases = [
        ("fp32 (ieee)", (360, 480), 8, None, False, False, raw_steps),
        ("tf32", (360, 480), 8, None, False, True, raw_steps),
        ("bf16", (360, 480), 8, torch.bfloat16, False, True, raw_steps),
        ("bf16 + channels_last", (360, 480), 8, torch.bfloat16, True, True, raw_steps),
        ("bf16 + channels_last, Trainer", (360, 480), 8, torch.bfloat16, True, True, trainer_steps),
        ("bf16 + channels_last", (720, 960), 8, torch.bfloat16, True, True, raw_steps),
        ("bf16 + channels_last, Trainer", (720, 960), 8, torch.bfloat16, True, True, trainer_steps),
    ]
    base = None
    for name, size, batch, dtype, cl, tf32, fn in cases:
        if args.only not in f"{size[0]}x{size[1]} {name}":
            continue
        set_tf32(tf32)
        torch.cuda.reset_peak_memory_stats()
        dt = fn(args.arch, size, batch, dtype, cl, args.steps, args.warmup)
        ips = batch / dt
        base = base or ips
        tflops = TFLOP_PER_TRAIN_IMAGE_720x960 * size[0] * size[1] / (720 * 960) * ips
        share = f"{100 * tflops / peak:5.1f}% of bf16 peak" if args.arch == "resnet50" else ""
        mem = torch.cuda.max_memory_allocated() / 2**30
        print(
            f"{args.arch} {size[0]}x{size[1]} b{batch} {name:32s} {1000 * dt:7.1f} ms/step {ips:7.1f} img/s "
            f"({ips / base:4.2f}x fp32 360x480) {tflops:6.1f} TFLOP/s {share}  peak mem {mem:.1f} GiB"
        )
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
