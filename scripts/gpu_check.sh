#!/usr/bin/env bash
# Every GPU measurement issue 7 asks for, in one command sized for one lent-GPU call (~8 minutes on an
# H100): the CUDA tests, bench_train (model step, Trainer, end-to-end loader with its data wait, and a
# torch.profiler window), and a real `camseg train` at 720x960 with AMP (images/s, data wait, peak
# memory per epoch). Logs go to $OUT (default out/gpu/); see benchmarks/NOTES.md, section GPU.
#
# The lent machines have torch, torchvision, pandas, matplotlib, rich and OpenCV but not albumentations;
# download its wheels here once (scripts/gpu_wheels.sh, kept out of git in .whl/) and carry `.whl`.
set -uo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || exit 1
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA here'" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
step() { echo "== $1" | tee -a "$OUT/steps.txt"; }

data=/tmp/camseg-gpu-data  # 200 synthetic 720x960 frames (train 120), shared by bench_train and train
[ -d "$data" ] || python3 -m camseg_cli synth "$data" --images 200 --size 720x960 --quiet || exit 1

step "CUDA tests"
python3 -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 | tee "$OUT/tests_gpu.log" | tail -3

step "bench_train (with --profile)"
python3 benchmarks/bench_train.py --profile --data "$data" 2>&1 | tee "$OUT/bench_train.log"
cp out/bench/bench_train.json "$OUT/" 2>/dev/null
gzip -c out/bench/bench_train_trace.json >"$OUT/bench_train_trace.json.gz" 2>/dev/null

step "camseg train, resnet50 720x960, bf16, 2 epochs"
python3 -m camseg_cli train --data "$data" --arch resnet50 --weights none --aug all --size 720x960 \
    --batch-size 8 --epochs 2 --workers "$(($(nproc) - 2))" --cache ram --device cuda \
    --out /tmp/camseg-gpu-out 2>&1 | tee "$OUT/train.log"
cp /tmp/camseg-gpu-out/runs/*/metrics.csv "$OUT/" 2>/dev/null
step "done"
