#!/usr/bin/env bash
# The GPU-relevant benchmarks in one go, for whoever has a CUDA GPU (sized for one H200 in under 8 minutes):
#   1. proxy-training throughput on CUDA (bf16 autocast is the trainer's, not used here: fp32 both sides),
#      snnas vs spikingjelly's Spikformer, 4x4 and 8x8 tokens;
#   2. a short real search on CUDA with several trials sharing the GPU (4 worker processes, one study),
#      through bench/main_job.py so its wall time, states and front are recorded;
#   3. the same with the Ray backend and --gpus-per-trial 0.25, when Ray is importable;
#   0. first, the tests marked gpu (pytest -m gpu): rules that must hold on CUDA as on CPU.
# Results land in reports/bench/*-cuda*.json; a copy of each JSON and the log go to $OUT when it is set.
#     bash bench/gpu.sh            (from the repository root, snnas installed: pip install -e .)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! $PY -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "gpu.sh: no CUDA device visible to torch here; nothing to run" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
step() { echo "=== $* ($(date +%T))"; timeout "${STEP_TIMEOUT:-240}" "$@"; echo "=== rc $? ($(date +%T))"; }
step $PY -m pytest -q -m gpu tests   # the CUDA twins of CPU rules (top-k ties on CUDA)
step $PY bench/throughput.py --device cuda --threads 4 --batch 256 --rounds 5 
step $PY bench/throughput.py --device cuda --threads 4 --batch 256 --img 32 --rounds 5 
step $PY bench/main_job.py --name gpu_search --budget 24 --workers 4 --workdir /tmp/snnas-gpu-search \
  --extra --device cuda
if $PY -c 'import ray' 2>/dev/null; then
  step $PY bench/main_job.py --name gpu_search_ray --budget 24 --workers 1 --workdir /tmp/snnas-gpu-ray \
    --extra --device cuda --backend ray --gpus-per-trial 0.25 --cpus-per-trial 2
fi
if [ -n "${OUT:-}" ]; then cp reports/bench/*cuda*.json reports/bench/gpu_search*.json "$OUT"/ 2>/dev/null || true; fi
