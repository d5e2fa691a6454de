from engine import map_stages
from misc.settings import declared
from report import paper

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(map_stages.EVAL_SETTINGS, (
    "amn_cam_out_dir", "cam_eval_thres",
))

"""mIoU of the AMN maps at --cam_eval_thres and over the background-threshold sweep."""

def run(args) -> dict:
    record = map_stages.run_eval(args, args.amn_cam_out_dir, "amn_cam", args.cam_eval_thres)
    paper.print_beside(record)
    return record
