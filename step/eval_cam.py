"""mIoU of the CAMs at --cam_eval_thres and over the background-threshold sweep."""
from step import stage


def run(args) -> dict:
    return stage.run_eval(args, args.cam_out_dir, "cam", args.cam_eval_thres)
