"""CRF-refined seeds from the AMN maps (AMN's own seed thresholds)."""
from engine import map_stages
from misc.settings import declared
from step._config import DATA_FLAGS, INFERENCE_FLAGS, data_config, inference_config

# The flags this step reads, its own and those of the config objects it builds (misc/settings.py).
SETTINGS = declared(DATA_FLAGS, INFERENCE_FLAGS, ("amn_cam_out_dir", "amn_ir_label_out_dir", "train_list"))


def run(args) -> None:
    data = data_config(args)
    fg, bg = data.seed_thresholds("amn")
    task = map_stages.SeedTask("amn_cam_to_ir_label", "make_amn_cam", args.amn_cam_out_dir,
                               args.amn_ir_label_out_dir, args.train_list, fg, bg)
    map_stages.run_seeds(task, data, inference_config(args))
