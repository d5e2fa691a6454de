"""CRF-refined seeds from the AMN maps (AMN's thresholds), for IRN."""
from step import stage

DEFAULT_FG, DEFAULT_BG = 0.45, 0.15


def run(args) -> None:
    fg = DEFAULT_FG if args.conf_fg_thres is None else args.conf_fg_thres
    bg = DEFAULT_BG if args.conf_bg_thres is None else args.conf_bg_thres
    stage.run_seeds(args, args.amn_cam_out_dir, args.amn_ir_label_out_dir, fg, bg, "amn_cam_to_ir_label")
