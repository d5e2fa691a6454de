from engine import map_stages

"""mIoU of the CAMs at --cam_eval_thres and over the background-threshold sweep."""

def run(args) -> dict:
    return map_stages.run_eval(args, args.cam_out_dir, "cam", args.cam_eval_thres)
