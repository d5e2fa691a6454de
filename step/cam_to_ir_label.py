"""CRF-refined seeds from the CAMs: confident foreground, confident background, 255 between."""
from step import stage

# IRN's official thresholds for CAM seeds (AMN's recipe passes them explicitly).
DEFAULT_FG, DEFAULT_BG = 0.30, 0.05


def run(args) -> None:
    fg = DEFAULT_FG if args.conf_fg_thres is None else args.conf_fg_thres
    bg = DEFAULT_BG if args.conf_bg_thres is None else args.conf_bg_thres
    stage.run_seeds(args, args.cam_out_dir, args.ir_label_out_dir, fg, bg, "cam_to_ir_label")
