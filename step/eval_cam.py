"""mIoU of the CAMs at --cam_eval_thres and over the background-threshold sweep."""
from engine import map_stages
from misc.settings import declared
from step._config import DATA_FLAGS, EVAL_FLAGS, data_config, eval_config

# The flags this step reads, its own and those of the config objects it builds (misc/settings.py).
SETTINGS = declared(DATA_FLAGS, ("cam_eval_thres", "cam_out_dir", "sweep_thresholds", "result_dir", *EVAL_FLAGS))


def run(args) -> dict:
    return map_stages.run_eval(data_config(args), args.cam_out_dir, "cam",
                               (args.cam_eval_thres, args.sweep_thresholds), args.result_dir, eval_config(args))
