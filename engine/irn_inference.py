"""IRN at inference, shared by make_sem_seg and make_ins_seg: the trained EdgeDisplacement network, its
boundary and displacement maps for every image on every device, and the output planning of both steps."""
from __future__ import annotations

import functools

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from dataset import checks
from dataset.datasets import ClassificationDatasetMSF
from engine import checkpoints, devices, inference, planner, precision
from misc.errors import PipelineError
from misc.fileio import load_state_dict
from misc.settings import declared
from net import resnet50_irn
from postprocess.random_walk import Walk

# The flags IRN's inference reads (make_sem_seg and make_ins_seg add their own).
SETTINGS = declared(checks.SETTINGS, inference.SETTINGS, precision.SETTINGS,
                    ("infer_list", "overwrite", "irn_weights_name", "irn_crop_size", "beta", "exp_times"))


def irn_outputs(process_id, device, shard, build_model, args, n_devices, desc: str):
    """Yield (pack, boundary map, displacement) of every image of ``shard``, EdgeDisplacement on the flip pair
    (float32 even under --amp)."""
    loader = DataLoader(shard, shuffle=False, collate_fn=inference.first_item, worker_init_fn=inference.init_worker,
                        num_workers=inference.worker_count(args.num_workers, n_devices))
    model = build_model().to(device)
    with torch.inference_mode():
        for pack in tqdm(loader, desc=f"{desc}[{process_id}]", position=process_id, dynamic_ncols=True):
            with precision.autocast(device, args.amp):
                edge, dp = model(torch.from_numpy(pack["img"][0]).to(device))
            yield pack, edge.float(), dp.float()


def run_irn_step(args, step: str, out_dir: str, suffix: str, names, root, spec, checkpoint, record: dict,
                 work, *work_args, extra: tuple | None = None) -> None:
    """Plan the outputs of an IRN inference step, then run ``work`` on this rank's pending images. ``extra``,
    ``(folder, suffix, record)``, is a second output of every image: ``work`` then gets its digest too."""
    folder, todo = planner.plan_outputs(step, out_dir, names, suffix, record, args.overwrite)
    digests = [folder.digest]
    if extra is not None:
        extra_folder, extra_todo = planner.plan_outputs(step, extra[0], names, extra[1], extra[2], args.overwrite)
        todo = sorted(set(todo) | set(extra_todo))
        digests.append(extra_folder.digest)
    todo = devices.rank_share(todo)
    if not todo:
        return
    dataset = ClassificationDatasetMSF([names[i] for i in todo], root=root, scales=(1.0,),
                                       cls_labels=args.cls_labels, spec=spec)
    inference_devices = devices.parse_devices(args.device)
    build = functools.partial(build_model, args.irn_crop_size, str(checkpoint))
    inference.run_on_devices(work, dataset, inference_devices, inference.WorkerSetup.from_args(args), build, args,
                             *work_args, len(inference_devices), *digests)


def build_model(crop_size: int, checkpoint: str) -> resnet50_irn.EdgeDisplacement:
    """IRN at inference with the trained weights, in eval mode (each inference worker builds its own)."""
    model = resnet50_irn.EdgeDisplacement(crop_size=crop_size, stride=4)
    try:
        dropped = resnet50_irn.load_edge_displacement_weights(model, load_state_dict(checkpoint))
    except (RuntimeError, KeyError) as err:
        raise PipelineError(f"{checkpoint} holds the weights of "
                                  f"{checkpoints.describe_checkpoint(load_state_dict(checkpoint))}, not of IRN; pass "
                                  "the right file with --irn_weights_name") from err
    print(f"loaded {checkpoint} (rebuilt, not loaded: {len(dropped)} path-index buffers)")
    return model.eval()


def keeps_maps(map_dir: str | None) -> bool:
    """Whether make_sem_seg keeps the walked maps (``--sem_seg_map_dir``; for eval_sem_seg's threshold sweep)."""
    return str(map_dir or "none").lower() != "none"


def walk_of(args) -> Walk:
    """The random walk of ``--beta`` and ``--exp_times``."""
    return Walk(beta=args.beta, exp_times=args.exp_times)
