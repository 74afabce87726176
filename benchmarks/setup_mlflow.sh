#!/usr/bin/env bash
# Create the benchmark-only MLflow virtualenv at benchmarks/.mlflow-venv.
#
# This venv is NOT part of the project install; it exists only to run
# benchmarks/mlflow_side.py against a real MLflow tracking server.
# mlflow==3.17.* exists on PyPI (3.17.2 was the newest 3.17 patch when this
# was written), so it is pinned to that minor.
#
# benchmarks/mlflow_side.py needs only the standard library plus mlflow
# (which brings its own HTTP client deps), so nothing else is installed.
#
# Idempotent: if the venv already has a matching mlflow, it does nothing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${here}/.mlflow-venv"
spec="mlflow==3.17.*"

if [[ -x "${venv}/bin/python" ]] \
  && "${venv}/bin/python" - <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version("mlflow").startswith("3.17.") else 1)
PY
then
  echo "mlflow $("${venv}/bin/python" -c 'from importlib.metadata import version; print(version("mlflow"))') already installed in ${venv}; nothing to do"
  exit 0
fi

if [[ ! -x "${venv}/bin/python" ]]; then
  python3 -m venv "${venv}"
fi
"${venv}/bin/python" -m pip install --quiet --upgrade pip
"${venv}/bin/python" -m pip install --quiet "${spec}"
echo "installed mlflow $("${venv}/bin/python" -c 'from importlib.metadata import version; print(version("mlflow"))') into ${venv}"
