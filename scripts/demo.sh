#!/usr/bin/env bash
# The whole study on the built-in synthetic dataset, small enough for a 2-core CPU in a few minutes:
# synthetic data -> stats -> train (none, all) x 3 seeds -> evaluate -> compare -> predict. Two seeds
# per augmentation gave a 95% interval of about +-40 points (issue 26): three is the least that says
# something. 4 epochs with precise BN over 4 batches (BatchNorm statistics recomputed before each
# validation, so that eval-mode masks follow the image) cost fewer CPU seconds than the 2 seeds x 8 epochs
# without it did (benchmarks/NOTES.md).
set -euo pipefail
cd "$(dirname "$0")/.."
CAMSEG=${CAMSEG:-.venv/bin/camseg}
OUT=${OUT:-out/demo}  # its own folder: the README's CPU block writes the same run names under out/
DATA="$OUT/data"
SIZE=${SIZE:-96x128}
EPOCHS=${EPOCHS:-4}
SEEDS=${SEEDS:-0,1,2}
DEVICE=${DEVICE:-cpu}
TRAIN=(--data "$DATA" --arch mobilenet_v3_large --weights none --size "$SIZE" --epochs "$EPOCHS"
       --batch-size 4 --lr 0.001 --precise-bn 4 --workers 0 --device "$DEVICE" --out "$OUT")

step() { printf '\n== %s\n' "$*"; }

step "1/6 synthetic dataset -> $DATA"
$CAMSEG synth "$DATA" --images 48 --size 180x240 --seed 0 --layout rgb
step "2/6 dataset statistics"
$CAMSEG stats --data "$DATA" --out "$OUT"
step "3/6 training none and all, each with seeds $SEEDS"
$CAMSEG train "${TRAIN[@]}" --aug none,all --sweep --seeds "$SEEDS"
step "4/6 evaluation of the 'all' run on the test split"
$CAMSEG evaluate "$OUT/mobilenet_v3_large-all-s0.pt" --split test --out "$OUT" --device "$DEVICE"
step "5/6 comparison: did the augmentation help, beyond seed noise?"
$CAMSEG compare "$OUT"/mobilenet_v3_large-{none,all}-s*.pt --out "$OUT" --device "$DEVICE"
step "6/6 predictions for the test images"
$CAMSEG predict "$OUT/mobilenet_v3_large-all-s0.pt" "$DATA/test" --out "$OUT/predictions/demo" --device "$DEVICE"
printf '\nreport: %s/compare/report.md\n' "$OUT"
