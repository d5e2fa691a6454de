"""The config objects of the engines, read from the flags once, here at the edge: a step's ``run(args)`` calls
these and hands the engines values. Each config dataclass's fields are named after the flags it is read from,
so its defaults are the flags' own (``cli/flags.py``) and a step's ``SETTINGS`` list them with
:func:`misc.settings.flag_names`."""
from __future__ import annotations

from dataset.registry import DataConfig, names
from engine.eval_runs import EvalConfig
from engine.inference import InferenceConfig
from misc.settings import flag_names, from_flags

# The flags a DataConfig is read from: the dataset, every registered dataset's root flag, the labels, ground
# truth, the eval split and the seed thresholds.
DATA_FLAGS = ("dataset", *(f"{name}_root" for name in names()), "gt_dir", "cls_labels", "chainer_eval_set",
              "conf_fg_thres", "conf_bg_thres")
INFERENCE_FLAGS = flag_names(InferenceConfig)
EVAL_FLAGS = flag_names(EvalConfig)


def data_config(args) -> DataConfig:
    """The dataset flags as a :class:`DataConfig` (the root is the chosen dataset's ``--<name>_root``)."""
    return DataConfig(dataset=args.dataset, root=vars(args).get(f"{args.dataset}_root"), cls_labels=args.cls_labels,
                      gt_dir=args.gt_dir, chainer_eval_set=args.chainer_eval_set, conf_fg_thres=args.conf_fg_thres,
                      conf_bg_thres=args.conf_bg_thres)


def inference_config(args) -> InferenceConfig:
    """The run settings every inference step shares."""
    return from_flags(InferenceConfig, args)


def eval_config(args) -> EvalConfig:
    """The run settings of an eval step: its scoring processes and --overwrite."""
    return from_flags(EvalConfig, args)
