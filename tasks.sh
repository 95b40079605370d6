#!/usr/bin/env bash
# Set-up and entry points: `bash tasks.sh demo` (main job), `bash tasks.sh test`
# (whole suite on the JAX, TensorFlow and PyTorch backends), `bash tasks.sh
# bench`. Creates ./.venv on first use and reinstalls when pyproject.toml
# changes. Needs only python3 (>= 3.10) with venv and pip.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=${TTRNN_VENV:-.venv}
# The CPU build of torch: small, and what these machines carry on disk.
TORCH_SPEC=${TTRNN_TORCH_SPEC:-torch==2.13.0}
export PIP_DISABLE_PIP_VERSION_CHECK=1
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp
  stamp="$VENV/.ttrnn-$(cat pyproject.toml tasks.sh | sha1sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q "$TORCH_SPEC"
    "$VENV/bin/python" -m pip install -q -e ".[jax,tensorflow,torch,dev]"
    rm -f "$VENV"/.ttrnn-*
    touch "$stamp"
  fi
}

run_tests() {
  local failed=()
  for backend in ${TTRNN_BACKENDS:-jax tensorflow torch}; do
    echo "=== KERAS_BACKEND=$backend ==="
    if ! KERAS_BACKEND=$backend "$VENV/bin/python" -m pytest -q --durations=10 \
        -p no:cacheprovider "$@"; then
      failed+=("$backend")
    fi
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED on backends: ${failed[*]}"
    return 1
  fi
  echo "All backends passed."
}

cmd=${1:-help}
shift || true
case "$cmd" in
  setup) setup ;;
  demo) setup; KERAS_BACKEND=${KERAS_BACKEND:-jax} "$VENV/bin/python" -m ttrnn demo "$@" ;;
  test) setup; run_tests "$@" ;;
  bench) setup; "$VENV/bin/python" benchmarks/run_all.py "$@" ;;
  *) echo "usage: bash tasks.sh {setup|demo|test|bench} [args]"; exit 2 ;;
esac
