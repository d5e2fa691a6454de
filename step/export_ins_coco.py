"""IRN's instance pseudo labels as a COCO instances file, the input Mask R-CNN trains on (detectron2,
mmdetection), and the instance ground truth of the eval list in the same format.

Writes ``--ins_coco_json`` (default ``<result_dir>/ins_seg_coco.json``): every image of ``--infer_list`` with its
make_ins_seg instances as compressed RLE, box, area and score; and, where the dataset has instance ground truth
(VOC's SegmentationObject/, COCO's instances JSON), ``--ins_gt_coco_json`` (default ``<result_dir>/ins_gt_coco.json``)
for the ``--chainer_eval_set`` images. See docs/instances.md.
"""
from __future__ import annotations

from pathlib import Path

from dataset import checks
from engine import planner
from misc.coco_format import write_instances_file
from misc.fileio import atomic_open
from misc.settings import declared
from postprocess.coco_instances import InstanceTruth, categories_of, pseudo_label_entries
from step._config import DATA_FLAGS, data_config

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(DATA_FLAGS, (
    "infer_list", "ins_coco_json", "ins_coco_min_area", "ins_coco_min_score", "ins_gt_coco_json", "ins_seg_out_dir",
    "num_workers", "result_dir",
))


def output_paths(args) -> tuple[Path, Path]:
    """(pseudo labels, ground truth): the flags', else files in --result_dir."""
    result = Path(args.result_dir)
    return (Path(args.ins_coco_json or result / "ins_seg_coco.json"),
            Path(args.ins_gt_coco_json or result / "ins_gt_coco.json"))


def run(args) -> None:
    data = data_config(args)
    spec, root, names = checks.check_inputs(data, args.infer_list, "--infer_list")
    made_by = planner.upstream_digest(args.ins_seg_out_dir, names, ".npz", "make_ins_seg")
    labels_path, gt_path = output_paths(args)
    info = {"description": f"IRN instance pseudo labels of {args.infer_list}", "made_by": {
        str(args.ins_seg_out_dir): made_by}, "min_score": args.ins_coco_min_score, "min_area": args.ins_coco_min_area}
    entries = pseudo_label_entries(spec, root, names, args.ins_seg_out_dir,
                                   (args.ins_coco_min_score, args.ins_coco_min_area), args.num_workers)
    with atomic_open(labels_path, "w") as f:
        _, n_instances = write_instances_file(f, entries, categories_of(spec), info)
    print(f"export_ins_coco: {n_instances} instances of {len(names)} images in {labels_path} "
          f"(images relative to {root / spec.image_dir})")
    if not spec.has_instances(root):
        print(f"export_ins_coco: dataset {spec.name} has no instance ground truth; no {gt_path}")
        return
    eval_names = checks.read_list(data.eval_list_path(), "--chainer_eval_set list")
    truth = ((image, anns) for image, anns, _ in InstanceTruth(spec, root, eval_names))
    with atomic_open(gt_path, "w") as f:
        _, n_truth = write_instances_file(f, truth, categories_of(spec), {"ground_truth": str(root)})
    print(f"export_ins_coco: ground truth of {len(eval_names)} images ({n_truth} instances) in {gt_path}")
