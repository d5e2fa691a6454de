"""CRF-refined seeds from the CAMs: confident foreground, confident background, 255 between."""
from step import datasets, stage


def run(args) -> None:
    fg, bg = datasets.seed_thresholds(args, "cam")
    stage.run_seeds(args, args.cam_out_dir, args.ir_label_out_dir, fg, bg, "cam_to_ir_label", "make_cam")
