#!/usr/bin/env bash
# The official AMN recipe on PASCAL VOC 2012: CAM -> seeds -> AMN -> AMN seeds -> IRN -> masks -> report.
#   DATASET_ROOT=VOCdevkit/VOC2012 bash script/generate_pseudo_mask.sh
# START=cam|amn|irn|masks begins at that stage; GPU selects the CUDA device(s); extra arguments go to every call.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATASET_ROOT:?set DATASET_ROOT to VOCdevkit/VOC2012}"
START=${START:-cam}
GPU=${GPU:-0}
NUM_WORKERS=${NUM_WORKERS:-8}
run() { CUDA_VISIBLE_DEVICES=${GPU} python3 run_sample.py --voc12_root "${DATASET_ROOT}" --num_workers "${NUM_WORKERS}" "$@"; }
stages=(cam amn irn masks)
begin=-1
for i in "${!stages[@]}"; do [[ ${stages[$i]} == "$START" ]] && begin=$i; done
(( begin >= 0 )) || { echo "START must be one of: ${stages[*]}" >&2; exit 2; }

[ -f voc12/cls_labels.npy ] || { echo "run: python -m voc12.prepare --voc12_root ${DATASET_ROOT} --sbd_root SBD" >&2; exit 2; }

# 1. classification network, CAMs and CRF-refined seeds (IRN's thresholds)
(( begin <= 0 )) && run --train_cam_pass True --make_cam_pass True --cam_eval_thres 0.15 --eval_cam_pass True \
    --cam_to_ir_label_pass True --conf_fg_thres 0.30 --conf_bg_thres 0.05 "$@"
# 2. activation manipulation network, its maps and seeds (AMN's thresholds)
(( begin <= 1 )) && run --train_amn_pass True --make_amn_cam_pass True --eval_amn_cam_pass True \
    --amn_cam_to_ir_label_pass True --conf_fg_thres 0.45 --conf_bg_thres 0.15 "$@"
# 3. boundary refinement network (IRN) on the AMN seeds
(( begin <= 2 )) && run --train_irn_pass True "$@"
# 4. final pseudo masks and the threshold report
run --make_sem_seg_pass True --eval_sem_seg_pass True --make_report_pass True "$@"
