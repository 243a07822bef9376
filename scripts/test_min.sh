#!/usr/bin/env bash
# Prove the declared dependency floors: install every requirement of pyproject.toml at its minimum
# (">=X" read as "==X") into a separate venv, .venv-min, and run the CPU suite there. Slow (a full
# torch install); run by `make test-min`, not by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
VENV=${VENV:-.venv-min}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$PY" - > "$VENV/floors.txt" <<'PYEOF'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
for req in reqs:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)\s*", req)
    if m:
        print(f"{m.group(1)}=={m.group(2)}")
PYEOF
echo "floors:"; sed 's/^/  /' "$VENV/floors.txt"
# The floors as constraints, so pip may pick nothing newer for them; the rest of the tree resolves freely.
"$VENV/bin/pip" install --quiet -c "$VENV/floors.txt" -r "$VENV/floors.txt"
"$VENV/bin/pip" install --quiet --no-deps -e .
"$VENV/bin/python" -c "import torch, torchvision, albumentations, numpy, pandas; print('running with torch', torch.__version__, 'torchvision', torchvision.__version__, 'albumentations', albumentations.__version__, 'numpy', numpy.__version__, 'pandas', pandas.__version__)"
"$VENV/bin/pytest" -q -p no:cacheprovider "$@"
