#!/usr/bin/env bash
# GPU smoke test in one command: a short CIFAR-shaped search on CUDA (synthetic tensors unless
# data/cifar10 holds CIFAR-10) that prints children per minute and child-training samples per
# second, first with one child at a time on the GPU, then with 4 worker processes sharing it
# (evaluator.workers=4). Stops with one line and a non-zero status where CUDA is absent, and
# each run after 2 minutes. Arguments go to benchmarks/gpu_smoke.py (e.g. --compile).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # for machines without the editable install
python=.venv/bin/python
[ -x "$python" ] || python=python3
for workers in 1 4; do
  status=0
  timeout 120 "$python" benchmarks/gpu_smoke.py --device cuda --minutes 1.2 \
    --workers "$workers" "$@" || status=$?
  if [ "$status" -eq 124 ]; then
    echo "gpu_smoke: stopped after 2 minutes without finishing (workers=$workers)" >&2
  fi
  [ "$status" -eq 0 ] || exit "$status"
done
