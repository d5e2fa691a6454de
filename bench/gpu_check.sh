#!/usr/bin/env bash
# The first GPU run, prepared to run as it is (sized for about 5 minutes on one H200; not yet run on a GPU): fails
# at the first failing part with a non-zero exit status, and writes every figure as JSON under $OUT (default ./gpu_check):
#   env.json         GPU, driver, torch and CUDA versions
#   cuda_tests.json  toy-set mIoU on CPU vs CUDA fp32 / bf16 / bf16 + channels_last, CAM differences to the CPU
#   throughput.json  every network step at VOC size: fp32 vs bf16 vs bf16 + channels_last, speed and peak memory
# plus the logs of each part. The CUDA tests compare with the CPU (not a range check), use ImageNet-layout frozen
# BatchNorm and data workers, check --deterministic on CUDA, and with 2 GPUs the spawn path and nccl DDP of all
# four trained networks.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 GPU_CHECK_OUT="$OUT"
PY=${PYTHON:-python3}

missing=$($PY - <<'PY'
import importlib
need = {"torch": "torch", "numpy": "numpy", "PIL": "pillow", "scipy": "scipy", "tqdm": "tqdm",
        "matplotlib": "matplotlib", "pydensecrf": "pydensecrf2", "pycocotools": "pycocotools", "pytest": "pytest"}
print(" ".join(pkg for mod, pkg in need.items() if importlib.util.find_spec(mod) is None))
PY
)
if [ -n "$missing" ]; then
  $PY -m pip install -q $missing || { echo "gpu_check: missing packages ($missing) and pip could not install them; carry their wheels (see the device notes)" >&2; exit 2; }
fi

$PY - "$OUT/env.json" <<'PY'
import json, sys, torch
assert torch.cuda.is_available(), "gpu_check: PyTorch sees no CUDA device"
env = {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
       "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
       "capability": list(torch.cuda.get_device_capability(0))}
print(env)
json.dump(env, open(sys.argv[1], "w"), indent=1)
PY

echo "== CUDA tests"
$PY -m pytest -x -q -m cuda -rs -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$OUT/cuda_tests.log"

echo "== throughput (VOC size; official batches: CAM 16, AMN 16, IRN 32, DeepLab-v2 10)"
$PY bench/throughput.py --device cuda --images 8 --iters 5 --cam_batch 16 --batch 16 --irn_batch 32 \
  --seg_batch 10 --json "$OUT/throughput.json" 2>&1 | tee "$OUT/throughput.log"

echo "gpu_check: passed; figures in $OUT"
