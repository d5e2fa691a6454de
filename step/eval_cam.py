"""mIoU of the CAMs at --cam_eval_thres and over the background-threshold sweep."""
from misc import camutils


def run(args) -> dict:
    return camutils.run_eval(args, args.cam_out_dir, "cam", args.cam_eval_thres)
