"""Train IRN's class-boundary and displacement branches on the seeds' pixel-pair labels."""
from __future__ import annotations

from dataset import checks
from dataset.datasets import AffinityDataset, ImageDataset
from engine import checkpoints, evaluators, inference, losses, optim, planner, training
from misc import distributed, indexing
from misc.settings import declared
from step._config import DATA_FLAGS
from step._training import TRAIN_FLAGS, TrainingStep

RESULT_FLAGS = ("dataset", "train_list", "cls_labels", "irn_network", "irn_crop_size", "irn_batch_size",
                "irn_num_epoches", "irn_learning_rate", "irn_weight_decay", "irn_rescale", "irn_seeds", "seed", "amp")
# The flags this step reads (misc/settings.py).
SETTINGS = declared(TRAIN_FLAGS, DATA_FLAGS, RESULT_FLAGS, (
    "amn_ir_label_out_dir", "backbone_weights", "infer_list", "ir_label_out_dir", "irn_backbone_weights",
    "irn_weights_name",
))


def estimate_mean_shift(model, dataset, batch_size: int, workers: int, device):
    """Mean displacement over ``dataset`` (--infer_list, top-left crops) in full batches, subtracted at
    inference."""
    loader = inference.image_loader(dataset, workers, collate_fn=None, batch_size=batch_size,
                                    drop_last=len(dataset) >= batch_size)
    return inference.inference_on_dataset(model, loader, evaluators.MeanDisplacement(), device, "displacement mean")


class TrainIrn(TrainingStep):
    """IRN's train_irn: the boundary and displacement branches on a frozen backbone, PolyOptimizer, the
    affinity and displacement losses; then the mean displacement of --infer_list."""

    name, weights_flag, result_flags = "train_irn", "irn_weights_name", RESULT_FLAGS

    def check(self, names):
        a = self.args
        self.label_dir = a.amn_ir_label_out_dir if a.irn_seeds == "amn" else a.ir_label_out_dir
        producer = "amn_cam_to_ir_label" if a.irn_seeds == "amn" else "cam_to_ir_label"
        self.seeds = planner.upstream_digest(self.label_dir, names, ".png", producer)
        _, _, self.infer_names = checks.check_inputs(self.data, a.infer_list, "--infer_list")
        self.init = a.irn_backbone_weights or a.backbone_weights
        print(f"train_irn: seeds from {self.label_dir}")

    def inputs(self, names):
        return {"seeds": self.seeds, "backbone": checkpoints.init_digest(self.init)}

    def build_model(self, spec):
        size = self.args.irn_crop_size // 4
        self.path_index = indexing.PathIndex(radius=10, default_size=(size, size))
        model = checkpoints.build_network(self.args.irn_network, "AffinityDisplacementLoss", path_index=self.path_index)
        checkpoints.init_backbone(model, self.init)
        return model

    def build_train_dataset(self, spec, root, names):
        a = self.args
        return AffinityDataset(names, label_dir=self.label_dir, root=root, indices_from=self.path_index.src_indices,
                               indices_to=self.path_index.dst_indices, hor_flip=True, crop_size=a.irn_crop_size,
                               crop_method="random", rescale=tuple(a.irn_rescale), cls_labels=a.cls_labels, spec=spec)

    def batch_size(self):
        return self.args.irn_batch_size

    def build_optimizer(self, model, n_train):
        a = self.args
        max_step = (n_train // a.irn_batch_size) * a.irn_num_epoches
        return optim.poly_optimizer(model.trainable_parameters(), a.irn_learning_rate, a.irn_weight_decay,
                                       max_step)

    def schedule(self):
        return training.Epochs(self.args.irn_num_epoches)

    def loss(self, net, pack):
        return losses.irn_losses([o.float() for o in self.forward(net, pack["img"], True)], pack, self.device)

    def after_train(self, model):
        if distributed.is_main():
            a = self.args
            dataset = ImageDataset(self.infer_names, root=self.root, crop_size=a.irn_crop_size, crop_method="top_left",
                                   spec=self.spec)
            mean = estimate_mean_shift(model, dataset, a.irn_batch_size, a.num_workers, self.device)
            model.mean_shift.running_mean = mean.to(self.device)


def run(args) -> None:
    TrainIrn(args).run()
