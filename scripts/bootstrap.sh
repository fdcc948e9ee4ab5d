#!/usr/bin/env bash
# Create the virtual environment and install the pinned set. Needs only a Python 3.11 or 3.12.
#   scripts/bootstrap.sh PYTHON VENV UV_VERSION
set -euo pipefail
python=${1:-python3}; venv=${2:-.venv}; uv_version=${3:-0.13.9}

if ! command -v "$python" >/dev/null 2>&1; then
  echo "setup: '$python' not found; install Python 3.11 or 3.12, or run 'make PYTHON=/path/to/python3.11 setup'" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)'; then
  echo "setup: $("$python" --version 2>&1) is not supported; cryptoflow needs Python 3.11 or 3.12 (make PYTHON=...)" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  # A Python without ensurepip (Debian's python3 without python3-venv) still gets a venv through uv.
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    "$python" -m pip install -q --user "uv==$uv_version"
    "$python" -m uv venv -q --python "$python" "$venv"
  fi
fi
if [ ! -x "$venv/bin/uv" ]; then
  if [ -x "$venv/bin/pip" ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "uv==$uv_version"
  else
    "$python" -m uv pip install -q --python "$venv/bin/python" "uv==$uv_version"
  fi
fi
"$venv/bin/uv" pip sync -q --python "$venv/bin/python" --compile-bytecode requirements.lock
"$venv/bin/uv" pip install -q --python "$venv/bin/python" --no-deps -e .
echo "setup: $venv ready ($("$venv/bin/python" -c 'import airflow, dbt.version; print("airflow", airflow.__version__, "dbt-core", dbt.version.__version__)'))"
