#!/usr/bin/env bash
# GPU smoke test in one command: a short CIFAR-shaped search on CUDA (synthetic tensors unless
# data/cifar10 holds CIFAR-10) that prints children per minute and child-training samples per
# second. Stops with one line and a non-zero status where CUDA is absent, and after 3 minutes.
# Arguments go to benchmarks/gpu_smoke.py (e.g. --compile, --precision fp32, --children 24).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # for machines without the editable install
python=.venv/bin/python
[ -x "$python" ] || python=python3
status=0
timeout 180 "$python" benchmarks/gpu_smoke.py --device cuda "$@" || status=$?
if [ "$status" -eq 124 ]; then
  echo "gpu_smoke: stopped after 3 minutes without finishing" >&2
fi
exit "$status"
