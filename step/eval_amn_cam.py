from engine import map_stages

"""mIoU of the AMN maps at --cam_eval_thres and over the background-threshold sweep."""

def run(args) -> dict:
    return map_stages.run_eval(args, args.amn_cam_out_dir, "amn_cam", args.cam_eval_thres)
