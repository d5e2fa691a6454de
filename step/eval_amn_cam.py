"""mIoU of the AMN maps at --cam_eval_thres and over the background-threshold sweep."""
from engine import map_stages
from misc.settings import declared
from report import paper
from step._config import DATA_FLAGS, EVAL_FLAGS, data_config, eval_config

# The flags this step reads, its own and those of the config objects it builds (misc/settings.py).
SETTINGS = declared(DATA_FLAGS, ("amn_cam_out_dir", "cam_eval_thres", "sweep_thresholds", "result_dir", *EVAL_FLAGS))


def run(args) -> dict:
    record = map_stages.run_eval(data_config(args), args.amn_cam_out_dir, "amn_cam",
                                 (args.cam_eval_thres, args.sweep_thresholds), args.result_dir, eval_config(args))
    paper.print_beside(record)
    return record
