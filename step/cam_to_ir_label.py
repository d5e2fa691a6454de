from dataset import registry
from engine import map_stages
from misc.settings import declared

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(map_stages.SEED_SETTINGS, (
    "cam_out_dir", "ir_label_out_dir",
))

"""CRF-refined seeds from the CAMs: confident foreground, confident background, 255 between."""

def run(args) -> None:
    fg, bg = registry.seed_thresholds(args, "cam")
    map_stages.run_seeds(args, args.cam_out_dir, args.ir_label_out_dir, fg, bg, "cam_to_ir_label", "make_cam")
