"""IRN at inference, shared by make_sem_seg and make_ins_seg: the trained EdgeDisplacement network, its
boundary and displacement maps for every image on every device, and the output planning of both steps."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from dataset.datasets import ClassificationDatasetMSF
from dataset.spec import DatasetSpec
from engine import checkpoints, devices, inference, planner, precision
from misc import parallel
from misc.errors import PipelineError
from misc.fileio import cam_path, load_cam, load_state_dict, png_path, save_arrays, save_png
from net import resnet50_irn
from postprocess import instances, random_walk
from postprocess.random_walk import Walk

STRIDED = ("keys", "cam")  # what the walk reads of a CAM file: never the full-size maps


@dataclass(frozen=True)
class IrnOutput:
    """One output of every image of an IRN step: its folder, file suffix and the record it is made under."""

    folder: str
    suffix: str
    record: dict


@dataclass(frozen=True)
class IrnTask:
    """An IRN inference step: its name, the checked images (spec, root, IDs, labels), the picklable factory of
    the trained network and its outputs (the first is the step's own; a second is made alongside it)."""

    step: str
    spec: DatasetSpec
    root: Path
    names: list[str]
    cls_labels: str
    build_model: Callable[[], torch.nn.Module]
    outputs: tuple[IrnOutput, ...]


class IrnProcessor(inference.Processor):
    """EdgeDisplacement on an image's flip pair (float32 even under --amp; subclasses hold ``amp``), then
    :meth:`use` on the boundary map and displacement field."""

    def process(self, model, pack, device) -> None:
        with precision.autocast(device, self.amp):
            edge, dp = model(torch.from_numpy(pack["img"][0]).to(device))
        self.use(pack, edge.float(), dp.float())

    def use(self, pack, edge: torch.Tensor, dp: torch.Tensor) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class SemSegWriter(IrnProcessor):
    """make_sem_seg's image: the random walk of its maps on the boundary map, the mask at the background
    threshold, and (with ``map_dir``) the walked maps for eval_sem_seg's sweep."""

    cam_dir: str
    out_dir: str
    map_dir: str | None
    walk: Walk
    power: float
    bg_thres: float
    digests: tuple[str, ...]
    amp: bool = False

    def use(self, pack, edge, dp) -> None:
        cam = load_cam(cam_path(self.cam_dir, pack["name"]), STRIDED)
        mask, maps = random_walk.cams_to_mask_and_maps(cam["cam"], cam["keys"], edge, pack["size"], self.walk,
                                                       self.power, self.bg_thres)
        save_png(png_path(self.out_dir, pack["name"]), mask, record=self.digests[0])
        if self.map_dir is not None:
            save_arrays(Path(self.map_dir) / f"{pack['name']}.npz", record=self.digests[1],
                        keys=cam["keys"], maps=maps, size=np.asarray(pack["size"]))


class CentroidQueue:
    """make_ins_seg's centroid search off the inference loop: each image's displacement field goes to a CPU
    pool as soon as the network has made it, and the images come back in order once their instance maps are
    ready, so the device does not wait on NumPy. At most ``2 * workers`` images wait; ``workers`` <= 1 computes
    in place. The pool is made in the process that uses the queue (a queue travels to spawned device workers
    empty)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = None
        self.pending: deque = deque()

    def __getstate__(self) -> dict:
        return {"workers": self.workers}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["workers"])

    def submit(self, displacement: np.ndarray, payload) -> list[tuple]:
        """Queue one image; returns the ``(payload, instance map)`` of the images now done, in order."""
        if self.workers <= 1:
            return [(payload, instances.instance_map_of(displacement))]
        if self.pool is None:
            self.pool = parallel.spawn_pool(self.workers)
        self.pending.append((payload, self.pool.apply_async(instances.instance_map_of, (displacement,))))
        done = []
        while self.pending and (self.pending[0][1].ready() or len(self.pending) > 2 * self.workers):
            payload, result = self.pending.popleft()
            done.append((payload, result.get()))
        return done

    def drain(self) -> list[tuple]:
        """Every image still queued, in order; closes the pool."""
        done = [(payload, result.get()) for payload, result in self.pending]
        self.pending.clear()
        if self.pool is not None:
            self.pool.close()
            self.pool.join()
            self.pool = None
        return done


@dataclass(frozen=True)
class InstanceWriter(IrnProcessor):
    """make_ins_seg's image: centroids from the displacement field (in a :class:`CentroidQueue` of
    ``centroid_workers`` processes), instance-wise walks of its CAMs, the instances saved as one file."""

    cam_dir: str
    out_dir: str
    walk: Walk
    bg_thres: float
    digests: tuple[str, ...]
    amp: bool = False
    centroid_workers: int = 0
    queue: CentroidQueue = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.queue is None:
            object.__setattr__(self, "queue", CentroidQueue(self.centroid_workers))

    def use(self, pack, edge, dp) -> None:
        displacement = dp.cpu().numpy()
        for payload, instance_map in self.queue.submit(displacement, (pack["name"], pack["size"], edge,
                                                                      displacement)):
            self.write(payload, instance_map)

    def result(self):
        with torch.inference_mode():  # the loop's own mode has ended when it asks for the result
            for payload, instance_map in self.queue.drain():
                self.write(payload, instance_map)
        return None

    def write(self, payload: tuple, instance_map: np.ndarray) -> None:
        name, size, edge, displacement = payload
        cam = load_cam(cam_path(self.cam_dir, name), STRIDED)
        detected = instances.instances_from_cams(cam["cam"], cam["keys"], edge, displacement, size, self.walk,
                                                 self.bg_thres, instance_map)
        instances.save_instances(cam_path(self.out_dir, name), detected, self.digests[0])


def run_irn_step(task: IrnTask, processor_for: Callable[[Sequence[str]], IrnProcessor],
                 config: inference.InferenceConfig) -> None:
    """Plan the task's outputs, then run ``processor_for(digests)`` (a processor writing under the outputs'
    record digests) on this rank's images that miss any of them."""
    todo, digests = set(), []
    for output in task.outputs:
        folder, pending = planner.plan_outputs(task.step, output.folder, task.names, output.suffix, output.record,
                                               config.overwrite)
        todo |= set(pending)
        digests.append(folder.digest)
    todo = devices.rank_share(sorted(todo))
    if not todo:
        return
    dataset = ClassificationDatasetMSF([task.names[i] for i in todo], root=task.root, scales=(1.0,),
                                       cls_labels=task.cls_labels, spec=task.spec)
    inference.run_inference(dataset, inference.InferenceJob(task.build_model, processor_for(tuple(digests)),
                                                            task.step), config)


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
