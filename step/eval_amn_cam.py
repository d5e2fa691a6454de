"""mIoU of the AMN maps at --cam_eval_thres and over the background-threshold sweep."""
from step import stage


def run(args) -> dict:
    return stage.run_eval(args, args.amn_cam_out_dir, "amn_cam", args.cam_eval_thres)
