#!/usr/bin/env bash
# Wheels that scripts/gpu_check.sh needs on the lent GPU machines (Python 3.12 there, no albumentations),
# downloaded here into .whl/ (ignored by git through .git/info/exclude; carried by the device call).
set -euo pipefail
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
    platforms+=(--platform "$p")
done
# albumentations and what it needs that the machines lack, and the typer camseg is written for (the
# image has an older one, numpy, scipy, opencv-python-headless, pyyaml); one version of each, or the
# install there stops
for wheel in albumentations==2.0.8 albucore==0.0.24 simsimd==6.5.16 stringzilla==5.3.2 pydantic==2.14.4 \
    pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 typer==0.29.2 annotated-doc==0.0.7; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${platforms[@]}" -d .whl "$wheel"
done
ls .whl
