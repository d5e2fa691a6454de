from dataset import registry
from engine import map_stages

"""CRF-refined seeds from the CAMs: confident foreground, confident background, 255 between."""

def run(args) -> None:
    fg, bg = registry.seed_thresholds(args, "cam")
    map_stages.run_seeds(args, args.cam_out_dir, args.ir_label_out_dir, fg, bg, "cam_to_ir_label", "make_cam")
