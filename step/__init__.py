"""Pipeline steps: each module ``step/<name>.py`` has ``run(args)``."""

# (flag, module) in pipeline order.
STEPS = [
    ("train_cam_pass", "step.train_cam"),
    ("make_cam_pass", "step.make_cam"),
    ("eval_cam_pass", "step.eval_cam"),
    ("cam_to_ir_label_pass", "step.cam_to_ir_label"),
    ("train_amn_pass", "step.train_amn"),
    ("make_amn_cam_pass", "step.make_amn_cam"),
    ("eval_amn_cam_pass", "step.eval_amn_cam"),
    ("amn_cam_to_ir_label_pass", "step.amn_cam_to_ir_label"),
    ("train_irn_pass", "step.train_irn"),
    ("make_ins_seg_pass", "step.make_ins_seg_labels"),
    ("export_ins_coco_pass", "step.export_ins_coco"),
    ("eval_ins_seg_pass", "step.eval_ins_seg"),
    ("make_sem_seg_pass", "step.make_sem_seg_labels"),
    ("eval_sem_seg_pass", "step.eval_sem_seg"),
    ("train_seg_pass", "step.train_seg"),
    ("make_seg_pass", "step.make_seg"),
    ("eval_seg_pass", "step.eval_seg"),
    ("make_report_pass", "step.make_report"),
]

# The recipe's stages (script/generate_pseudo_mask.sh's START values) and the steps each runs, in order; --steps,
# --start and --stop choose by these names or by step names (the flags without _pass).
STAGES = {
    "cam": ("train_cam", "make_cam", "eval_cam", "cam_to_ir_label"),
    "amn": ("train_amn", "make_amn_cam", "eval_amn_cam", "amn_cam_to_ir_label"),
    "irn": ("train_irn",),
    "instances": ("make_ins_seg", "export_ins_coco", "eval_ins_seg"),
    "masks": ("make_sem_seg", "eval_sem_seg"),
    "seg": ("train_seg", "make_seg", "eval_seg"),
    "report": ("make_report",),
}
