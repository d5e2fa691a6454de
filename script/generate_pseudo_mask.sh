#!/usr/bin/env bash
# The official AMN recipe: CAM -> seeds -> AMN -> AMN seeds -> IRN -> masks -> report, then the segmentation
# network (DeepLab-v2, AdvCAM's settings) trained on the masks and scored on val.
#   DATASET_ROOT=VOCdevkit/VOC2012 bash script/generate_pseudo_mask.sh
#   DATASET=coco14 DATASET_ROOT=COCO2014 bash script/generate_pseudo_mask.sh   (= script/generate_pseudo_mask_coco.sh)
#   DATASET=folder DATASET_ROOT=data/mine bash script/generate_pseudo_mask.sh  (after python -m dataset.folder)
# START=cam|amn|irn|masks|seg begins at that stage; GPU selects the CUDA device(s); extra arguments go to every call.
# PYTHON names the interpreter (default python3), e.g. PYTHON=.venv/bin/python for an environment not activated.
# SEG_INIT=PATH is the segmentation network's initial backbone (e.g. deeplab-pytorch's
# deeplabv1_resnet101-imagenet.pth); without it the recipe stops after the masks. SEG_TEST=1 also segments
# the test list (VOC: voc12/test.txt, VOC2012test extracted into DATASET_ROOT) for the evaluation server.
# INSTANCES=1 also makes and scores IRN's instance masks after train_irn (default: 1 on VOC, 0 on COCO).
# WORK_DIR (default work/<dataset>) receives everything: weights, maps, seeds, masks, evals, the report, run.log,
# config.yaml and metrics.jsonl; it is locked while a step runs, so two recipes cannot write the same folder.
# Each step keeps the outputs whose provenance matches and redoes the stale ones, so no stage is reused stale.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATASET_ROOT:?set DATASET_ROOT to VOCdevkit/VOC2012 (or the COCO 2014 folder with DATASET=coco14)}"
DATASET=${DATASET:-voc12}
START=${START:-cam}
GPU=${GPU:-0}
NUM_WORKERS=${NUM_WORKERS:-8}
PYTHON=${PYTHON:-python3}
WORK_DIR=${WORK_DIR:-work/${DATASET}}
case "$DATASET" in
  voc12) driver=run_sample.py; instances=${INSTANCES:-1}; labels=voc12/cls_labels.npy; seg_list=voc12/train_aug.txt; test_list=voc12/test.txt; prep="voc12.prepare --voc12_root ${DATASET_ROOT} --sbd_root SBD"
         cam_flags=(--cam_eval_thres 0.15 --conf_fg_thres 0.30 --conf_bg_thres 0.05)
         amn_flags=(--conf_fg_thres 0.45 --conf_bg_thres 0.15) ;;
  # COCO: the official driver's defaults (0.45/0.15 in both seed steps, --sem_seg_bg_thres 0.22) come with it.
  coco14) driver=run_sample_coco.py; instances=${INSTANCES:-0}; labels=coco14/cls_labels.npy; seg_list=coco14/train14.txt; test_list=""; prep="coco14.prepare --coco14_root ${DATASET_ROOT}"
          cam_flags=(); amn_flags=() ;;
  # Own images: DATASET_ROOT is the --out_dir of python -m dataset.folder (lists and labels live there).
  folder) driver="run_sample.py --dataset folder"; instances=${INSTANCES:-0}; labels=${DATASET_ROOT}/cls_labels.npy; seg_list=${DATASET_ROOT}/train.txt; test_list=""; prep="dataset.folder --images DIR --labels FILE --out_dir ${DATASET_ROOT}"
          cam_flags=(); amn_flags=() ;;
  *) echo "DATASET must be voc12, coco14 or folder" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086  # $driver may carry --dataset folder
run() { CUDA_VISIBLE_DEVICES=${GPU} "${PYTHON}" $driver "--${DATASET}_root" "${DATASET_ROOT}" --num_workers "${NUM_WORKERS}" --work_dir "${WORK_DIR}" "$@"; }
stages=(cam amn irn masks seg)
begin=-1
for i in "${!stages[@]}"; do [[ ${stages[$i]} == "$START" ]] && begin=$i; done
(( begin >= 0 )) || { echo "START must be one of: ${stages[*]}" >&2; exit 2; }

[ -f "$labels" ] || { echo "run: python -m ${prep}" >&2; exit 2; }

# 1. classification network, CAMs and CRF-refined seeds
(( begin <= 0 )) && run --train_cam_pass True --make_cam_pass True --eval_cam_pass True \
    --cam_to_ir_label_pass True ${cam_flags[@]+"${cam_flags[@]}"} "$@"
# 2. activation manipulation network, its maps and seeds
(( begin <= 1 )) && run --train_amn_pass True --make_amn_cam_pass True --eval_amn_cam_pass True \
    --amn_cam_to_ir_label_pass True ${amn_flags[@]+"${amn_flags[@]}"} "$@"
# 3. boundary refinement network (IRN) on the AMN seeds, and optionally IRN's instance masks of the CAMs
ins_flags=()
(( instances )) && ins_flags=(--make_ins_seg_pass True --eval_ins_seg_pass True)
(( begin <= 2 )) && run --train_irn_pass True ${ins_flags[@]+"${ins_flags[@]}"} "$@"
# 4. final pseudo masks and the threshold report (train list; then, for the segmentation network, train_aug)
(( begin <= 3 )) && run --make_sem_seg_pass True --eval_sem_seg_pass True --make_report_pass True "$@"
# The paper's figures beside the measured ones (VOC 2012 and COCO 2014 with the official lists; report/paper.py).
paper() { [ "$DATASET" = folder ] || "${PYTHON}" -m report.paper "${WORK_DIR}" || true; }
[ -n "${SEG_INIT:-}" ] || { paper; echo "masks done; set SEG_INIT=PATH (an ImageNet ResNet-101) to train the segmentation network" >&2; exit 0; }
run --make_sem_seg_pass True --infer_list "$seg_list" "$@"
# 5. the segmentation network on the masks: val mIoU before/after CRF, and the test submission with SEG_TEST=1
test_flags=()
[ "${SEG_TEST:-0}" = 1 ] && [ -n "$test_list" ] && test_flags=(--seg_test_list "$test_list")
run --train_seg_pass True --make_seg_pass True --eval_seg_pass True --make_report_pass True \
    --seg_init_weights "$SEG_INIT" --seg_train_list "$seg_list" ${test_flags[@]+"${test_flags[@]}"} "$@"
paper
