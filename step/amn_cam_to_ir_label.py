from dataset import registry
from engine import map_stages
from misc.settings import declared

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(map_stages.SEED_SETTINGS, (
    "amn_cam_out_dir", "amn_ir_label_out_dir",
))

"""CRF-refined seeds from the AMN maps (AMN's thresholds), for IRN."""

def run(args) -> None:
    fg, bg = registry.seed_thresholds(args, "amn")
    map_stages.run_seeds(args, args.amn_cam_out_dir, args.amn_ir_label_out_dir, fg, bg, "amn_cam_to_ir_label",
                         "make_amn_cam")
