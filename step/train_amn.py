"""Train AMN per pixel on the CAM seeds, with label conditioning, label smoothing and a balanced cross-entropy."""
from __future__ import annotations

import torch

from dataset import checks
from dataset.datasets import ClassificationDataset, SeedDataset
from engine import checkpoints, evaluators, inference, losses, planner, training
from misc.settings import declared
from step._config import DATA_FLAGS
from step._training import TRAIN_FLAGS, TrainingStep

# Flags whose change makes a saved .resume file unusable.
RESULT_FLAGS = ("dataset", "train_list", "cls_labels", "amn_network", "amn_crop_size", "amn_batch_size",
                "amn_num_epoches", "amn_backbone_lr", "amn_new_lr", "amn_weight_decay", "amn_rescale", "eps", "seed",
                "amp", "amn_dropout_at_inference")
# The flags this step reads (misc/settings.py).
SETTINGS = declared(TRAIN_FLAGS, DATA_FLAGS, RESULT_FLAGS, (
    "amn_backbone_weights", "amn_eval_every_epoch", "amn_weights_name", "backbone_weights", "infer_list",
    "ir_label_out_dir",
))


class TrainAmn(TrainingStep):
    """AMN's train_amn: ResNet-50 with the label encoder, Adam on two groups, the balanced soft cross-entropy
    on smoothed seeds; optionally AMN's own mIoU on --infer_list after each epoch."""

    name, weights_flag, result_flags = "train_amn", "amn_weights_name", RESULT_FLAGS

    def check(self, names):
        a = self.args
        self.seeds = planner.upstream_digest(a.ir_label_out_dir, names, ".png", "cam_to_ir_label")
        self.val_names = None
        if a.amn_eval_every_epoch:
            spec, root, infer = checks.check_inputs(self.data, a.infer_list, "--infer_list")
            self.val_names = [n for n in infer if spec.gt_path(root, n).is_file()] or None
            if not self.val_names:
                print("train_amn: no ground truth for --infer_list, the per-epoch evaluation is skipped")
        self.init = a.amn_backbone_weights or a.backbone_weights

    def inputs(self, names):
        return {"seeds": self.seeds, "backbone": checkpoints.init_digest(self.init)}

    def build_model(self, spec):
        model = checkpoints.build_network(self.args.amn_network, "Net", n_classes=spec.n_classes,
                                          dropout_at_inference=self.args.amn_dropout_at_inference)
        checkpoints.init_backbone(model, self.init)
        return model

    def build_train_dataset(self, spec, root, names):
        a = self.args
        return SeedDataset(names, label_dir=a.ir_label_out_dir, root=root, hor_flip=True, crop_size=a.amn_crop_size,
                           crop_method="random", rescale=tuple(a.amn_rescale), cls_labels=a.cls_labels, spec=spec)

    def batch_size(self):
        return self.args.amn_batch_size

    def build_optimizer(self, model, n_train):
        a = self.args
        backbone_params, new_params = model.trainable_parameters()
        return torch.optim.Adam([
            {"params": backbone_params, "lr": a.amn_backbone_lr, "weight_decay": a.amn_weight_decay},
            {"params": new_params, "lr": a.amn_new_lr, "weight_decay": a.amn_weight_decay},
        ])

    def schedule(self):
        return training.Epochs(self.args.amn_num_epoches)

    def loss(self, net, pack):
        logit = self.forward(net, pack["img"], pack["label_cls"].to(self.device))
        label = losses.resize_labels(pack["label"], logit.shape[-2:]).to(self.device)
        target = losses.smoothed_target(label, logit.size(1), self.args.eps)
        loss = losses.balanced_soft_cross_entropy(logit.float(), label, target)
        return loss, {"loss": loss.item()}

    def build_hooks(self, model, optimizer):
        if not self.val_names:
            return []
        a = self.args
        val = ClassificationDataset(self.val_names, root=self.root, cls_labels=a.cls_labels, spec=self.spec)

        def evaluate(epoch: int) -> dict:
            loader = inference.image_loader(val, a.num_workers, collate_fn=None)
            miou = inference.inference_on_dataset(model, loader, evaluators.AmnMiou(self.spec, self.root),
                                                  self.device, "eval amn")
            print(f"[{epoch}/{a.amn_num_epoches}] AMN mIoU on {a.infer_list}: {100 * miou:.2f}")
            return {"miou": miou}

        return [training.Validation(evaluate)]


def run(args) -> None:
    TrainAmn(args).run()
