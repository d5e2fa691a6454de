"""The engines the steps call: the training loop (``training``), checkpoints (``checkpoints``), devices and
distributed set-up (``devices``), precision (``precision``), generators (``seeding``), inference on every
device (``inference``), the output planner with provenance (``planner``), the losses (``losses``) and the
stage implementations that CAM and AMN share (``map_stages``), IRN's inference (``irn_inference``) and the
segmentation network's (``seg_inference``)."""


