#!/usr/bin/env bash
# The official AMN recipe on MS COCO 2014 (run python -m coco14.prepare --coco14_root DIR first):
#   DATASET_ROOT=COCO2014 bash script/generate_pseudo_mask_coco.sh      [START=cam|amn|irn|masks, GPU=..]
DATASET=coco14 exec bash "$(dirname "$0")/generate_pseudo_mask.sh" "$@"
