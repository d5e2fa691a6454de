"""Train the segmentation network (DeepLab-v2 MSC) on the final pseudo masks, with AdvCAM's settings on
deeplab-pytorch's training protocol."""
from __future__ import annotations

from dataset.datasets import PseudoMaskDataset
from dataset.transforms import deeplab_augmentation
from engine import checkpoints, losses, optim, planner, training
from misc import distributed
from misc.errors import PipelineError
from misc.settings import declared
from net import deeplab_v2
from step._config import DATA_FLAGS
from step._training import TRAIN_FLAGS, TrainingStep

# Flags whose change makes a saved .resume file unusable.
RESULT_FLAGS = ("dataset", "seg_train_list", "cls_labels", "seg_depth", "seg_batch_size", "seg_iter_size",
                "seg_iter_max", "seg_lr", "seg_momentum", "seg_weight_decay", "seg_poly_power", "seg_lr_decay",
                "seg_crop_size", "seg_scales", "seg_loss", "seed", "amp")
# The flags this step reads (misc/settings.py).
SETTINGS = declared(TRAIN_FLAGS, DATA_FLAGS, RESULT_FLAGS, (
    "seg_init_weights", "seg_input_norm", "seg_save_interval", "seg_weights_name", "sem_seg_out_dir",
))
class TrainSeg(TrainingStep):
    """deeplab-pytorch's DeepLab-v2 MSC on the final masks: SGD on three groups under the poly schedule, frozen
    BatchNorm, accumulated batches; the metadata make_seg reads is written beside the weights."""

    name, weights_flag, list_flag, result_flags = "train_seg", "seg_weights_name", "seg_train_list", RESULT_FLAGS

    def check(self, names):
        a = self.args
        self.labels = planner.upstream_digest(a.sem_seg_out_dir, names, ".png", "make_sem_seg (with --infer_list = "
                                              "--seg_train_list)")
        self.init = optim.check_seg_init(a.seg_init_weights)
        if a.seg_batch_size % a.seg_iter_size:
            raise PipelineError(f"--seg_batch_size {a.seg_batch_size} does not split into --seg_iter_size "
                                f"{a.seg_iter_size} equal batches")

    def build_model(self, spec):
        model = deeplab_v2.deeplabv2_msc(spec.n_classes + 1, depth=self.args.seg_depth)
        try:
            self.init_kind, described = deeplab_v2.load_init_weights(model, self.init)
        except (ValueError, KeyError) as err:
            raise PipelineError(f"--seg_init_weights: {err}") from err
        self.norm = self.init_kind if self.args.seg_input_norm == "auto" else self.args.seg_input_norm
        print(f"train_seg: init {described}; input normalisation {self.norm}")
        return model

    def inputs(self, names):
        return {"labels": self.labels, "init": checkpoints.init_digest(str(self.init)), "input_norm": self.norm}

    def build_train_dataset(self, spec, root, names):
        a = self.args
        return PseudoMaskDataset(names, a.sem_seg_out_dir, root, self.norm,
                                 deeplab_augmentation(a.seg_scales, a.seg_crop_size, flip=True), spec=spec)

    def batch_size(self):
        return self.args.seg_batch_size // self.args.seg_iter_size

    def build_optimizer(self, model, n_train):
        self.frozen_bn = model.base.freeze_bn
        return optim.seg_optimizer(model, self.args.seg_lr, self.args.seg_weight_decay, self.args.seg_momentum)

    def schedule(self):
        return training.Iterations(self.args.seg_iter_max, self.args.seg_iter_size, self.args.seg_save_interval)

    def loss(self, net, pack):
        self.frozen_bn()  # the engine's train() turned BatchNorm back on
        loss = losses.msc_loss([o.float() for o in self.forward(net, pack["img"])], pack["label"], self.args.seg_loss)
        return loss, {"loss": loss.item(), "lr": self.optimizer.param_groups[0]["lr"]}

    def build_hooks(self, model, optimizer):
        a = self.args
        poly = (a.seg_iter_max, a.seg_poly_power, a.seg_lr_decay)
        return [training.LearningRate(lambda it: optim.set_seg_learning_rate(optimizer, it, a.seg_lr, poly))]

    def after_save(self, model):
        a = self.args
        distributed.save_on_master(checkpoints.write_seg_meta, a.seg_weights_name, {
            "network": "deeplabv2_msc", "depth": a.seg_depth, "n_classes": self.spec.n_classes + 1,
            "input_norm": self.norm, "init": str(self.init), "init_kind": self.init_kind,
            "iterations": a.seg_iter_max, "loss": a.seg_loss})


def run(args) -> None:
    TrainSeg(args).run()
