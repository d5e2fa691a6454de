#!/usr/bin/env bash
# The GPU check (about 5 minutes on one GPU): the CUDA tests (a 2-process nccl DDP run when 2 GPUs are visible)
# and images per second of train_cam, train_amn, make_cam and make_sem_seg at VOC size in fp32, bf16 and bf16 with
# channels_last (TF32 off, so fp32 is fp32). Prints everything; writes nothing outside $OUT (default /tmp).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp}
pip install -q -r requirements.txt >/dev/null 2>&1 || true
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -m pytest -q -m cuda -rs tests/test_cuda.py 2>&1 | tail -15 | tee "$OUT/cuda_tests.txt"
for setting in "--amp" "--amp --channels_last"; do   # each run also times fp32 in the same process
  python bench/throughput.py --device cuda --images 8 --batch 16 --cam_batch 16 $setting 2>&1 | tail -14
done | tee "$OUT/throughput.txt"
for setting in "--amp" "--amp --channels_last"; do   # DeepLab-v2 ResNet-101 at AdvCAM's batch 10
  python bench/seg_throughput.py --device cuda --batch 10 --iters 5 --images 8 $setting 2>&1 | tail -10
done | tee "$OUT/seg_throughput.txt"
