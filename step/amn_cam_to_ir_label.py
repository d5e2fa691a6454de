"""CRF-refined seeds from the AMN maps (AMN's thresholds), for IRN."""
from step import datasets, stage


def run(args) -> None:
    fg, bg = datasets.seed_thresholds(args, "amn")
    stage.run_seeds(args, args.amn_cam_out_dir, args.amn_ir_label_out_dir, fg, bg, "amn_cam_to_ir_label", "make_amn_cam")
