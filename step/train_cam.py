"""Train the multi-label classifier whose class activation maps start the pipeline."""
from __future__ import annotations

import torch.nn.functional as F

from dataset import checks
from dataset.datasets import ClassificationDataset
from engine import checkpoints, evaluators, inference, optim, training
from misc.settings import declared
from step._config import DATA_FLAGS
from step._training import TRAIN_FLAGS, TrainingStep

# Flags whose change makes a saved .resume file unusable.
RESULT_FLAGS = ("dataset", "train_list", "cls_labels", "cam_network", "cam_crop_size", "cam_resize_long",
                "cam_batch_size", "cam_num_epoches", "cam_learning_rate", "cam_weight_decay", "seed", "amp")
# The flags this step reads (misc/settings.py).
SETTINGS = declared(TRAIN_FLAGS, DATA_FLAGS, RESULT_FLAGS, ("backbone_weights", "cam_weights_name", "val_list"))


class TrainCam(TrainingStep):
    """IRN's train_cam: ResNet-50 CAM network, PolyOptimizer, multilabel soft-margin loss, validation loss."""

    name, weights_flag, result_flags = "train_cam", "cam_weights_name", RESULT_FLAGS

    def check(self, names):
        _, _, self.val_names = checks.check_inputs(self.data, self.args.val_list, "--val_list")

    def inputs(self, names):
        return {"backbone": checkpoints.init_digest(self.args.backbone_weights)}

    def build_model(self, spec):
        model = checkpoints.build_network(self.args.cam_network, "Net", n_classes=spec.n_classes)
        checkpoints.init_backbone(model, self.args.backbone_weights)
        return model

    def build_train_dataset(self, spec, root, names):
        a = self.args
        return ClassificationDataset(names, root=root, resize_long=tuple(a.cam_resize_long), hor_flip=True,
                                     crop_size=a.cam_crop_size, crop_method="random", cls_labels=a.cls_labels,
                                     spec=spec)

    def batch_size(self):
        return self.args.cam_batch_size

    def build_optimizer(self, model, n_train):
        a = self.args
        max_step = (n_train // a.cam_batch_size) * a.cam_num_epoches
        return optim.poly_optimizer(model.trainable_parameters(), a.cam_learning_rate, a.cam_weight_decay,
                                       max_step)

    def schedule(self):
        return training.Epochs(self.args.cam_num_epoches)

    def loss(self, net, pack):
        loss = F.multilabel_soft_margin_loss(self.forward(net, pack["img"]).float(), pack["label"].to(self.device))
        return loss, {"loss": loss.item(), "lr": self.optimizer.param_groups[0]["lr"]}

    def build_hooks(self, model, optimizer):
        a = self.args
        val = ClassificationDataset(self.val_names, root=self.root, crop_size=a.cam_crop_size,
                                    cls_labels=a.cls_labels, spec=self.spec)
        val_loader = inference.image_loader(val, a.num_workers, collate_fn=None, batch_size=a.cam_batch_size,
                                            drop_last=len(val) >= a.cam_batch_size)

        def validate(epoch: int) -> dict:
            loss = inference.inference_on_dataset(model, val_loader, evaluators.ValidationLoss(), self.device,
                                                  "validation")
            print(f"validation loss: {loss:.4f}", flush=True)
            return {"loss": loss}

        return [training.Validation(validate)]


def run(args) -> None:
    TrainCam(args).run()
