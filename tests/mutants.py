"""Mutation check of the suite: apply one-line mutations of the method in a scratch copy and run the tests.

    python tests/mutants.py                 # every mutant; fast tier first, the slow tier for the survivors
    python tests/mutants.py --only cam_flip amn_label_conditioning
    python tests/mutants.py --json mutants.json

Each mutant is one replacement of an exact line fragment in one file (a plausible bug: a forgotten flip, a
dropped label conditioning, a changed default, a wrong IoU). For each, the scratch copy gets the mutation, then
``pytest -x -m "not slow"`` runs; a mutant that survives it runs ``pytest -x -m slow`` as well. The report says,
per mutant, which tier and which test caught it, or that it survived. The copy is the working tree as it is
(committed or not), without .git, data/, result/ and sess/.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOP_SKIP = {"data", "result", "sess", "work", "gpu_check"}  # the repository's own folders of that name only
SKIP = {".git", "__pycache__", ".pytest_cache"}


@dataclass(frozen=True)
class Mutant:
    name: str
    area: str
    path: str
    old: str
    new: str
    why: str


MUTANTS = [
    Mutant("cam_flip", "CAM", "net/resnet50_cam.py", "return x[0] + x[1].flip(-1)", "return x[0] + x[1]",
           "CAM of the flipped image added without flipping it back"),
    Mutant("cam_stage2_detach", "CAM", "net/resnet50_cam.py", "x = self.stage2(x).detach()", "x = self.stage2(x)",
           "the official detach after stage 2 dropped (stages 1-2 then train)"),
    Mutant("cam_new_layers_lr", "CAM", "engine/optim.py", "new_lr_mult: float = 10", "new_lr_mult: float = 1",
           "the classifier (and IRN's heads) without the official 10x learning rate"),
    Mutant("cam_max_norm", "CAM", "postprocess/cam_maps.py", "F.adaptive_max_pool2d(x, (1, 1)) + 1e-5",
           "F.adaptive_avg_pool2d(x, (1, 1)) + 1e-5", "make_cam divides by the mean instead of the maximum"),
    Mutant("amn_label_conditioning", "AMN", "net/resnet50_amn.py", "return x.float() * y", "return x.float()",
           "AMN's label conditioning dropped"),
    Mutant("amn_flip_average", "AMN", "net/resnet50_amn.py", "return (logit[0] + logit[1].flip(-1)) / 2",
           "return (logit[0] + logit[1]) / 2", "AMN's flipped logits averaged without flipping back"),
    Mutant("amn_unbalanced_loss", "AMN", "engine/losses.py", "masks = [(labels == 0), (labels != 0) & (labels != 255)]",
           "masks = [(labels != 255)]", "AMN's cross-entropy without the background/foreground balance"),
    Mutant("amn_smoothing", "AMN", "engine/losses.py", "eps / (n_classes - 1),", "eps / n_classes,",
           "label smoothing spread over C instead of C - 1 classes"),
    Mutant("amn_lr_groups", "AMN", "step/train_amn.py", '{"params": backbone_params, "lr": a.amn_backbone_lr',
           '{"params": backbone_params, "lr": a.amn_new_lr', "AMN's backbone trained at the new layers' rate"),
    Mutant("irn_mean_shift", "IRN", "net/resnet50_irn.py", "return input - self.running_mean.view(1, 2, 1, 1)",
           "return input", "the displacement mean never subtracted at inference"),
    Mutant("irn_loss_weighting", "IRN", "engine/losses.py", "total = ((pos_aff + neg_aff) / 2 + (dp_fg + dp_bg) / 2)",
           "total = ((pos_aff + neg_aff) / 2 + (dp_fg + dp_bg))", "IRN's displacement terms weighted 2x"),
    Mutant("walk_edge_product", "walk", "postprocess/random_walk.py",
           "return random_walk(x.reshape(-1, height, width) * (1 - edge),",
           "return random_walk(x.reshape(-1, height, width),",
           "the walk starts without the official (1 - edge) product"),
    Mutant("walk_beta", "walk", "postprocess/random_walk.py",
           "aff = torch.pow(aff[torch.from_numpy(np.flatnonzero(keep)).to(device)], beta)",
           "aff = aff[torch.from_numpy(np.flatnonzero(keep)).to(device)]", "affinities not raised to beta"),
    Mutant("seeds_bg_rule", "seeds", "postprocess/seeds.py", "conf[bg_conf + fg_conf == 0] = 0",
           "conf[bg_conf == 0] = 0", "background where the bg CRF alone says so (the fg CRF ignored)"),
    Mutant("seeds_thresholds", "seeds", "voc12/dataloader.py", 'seed_thresholds={"cam": (0.30, 0.05)',
           'seed_thresholds={"cam": (0.35, 0.05)', "IRN's CAM seed threshold moved"),
    Mutant("eval_iou", "evaluation", "misc/evaluation.py", "return inter / (gtj + resj - inter)",
           "return inter / (gtj + resj)", "IoU computed as intersection over the sum"),
    Mutant("eval_threshold_pad", "evaluation", "postprocess/cam_maps.py", "np.maximum(top, cams[k], out=top)",
           "np.minimum(top, cams[k], out=top)", "the foreground score is not the maximum of the maps"),
    Mutant("deeplab_msc_max", "DeepLab-v2", "net/deeplab_v2.py",
           "logits_max = torch.max(torch.stack(upsampled), dim=0)[0]",
           "logits_max = torch.mean(torch.stack(upsampled), dim=0)", "multi-scale fusion by mean instead of max"),
    Mutant("deeplab_aspp_sum", "DeepLab-v2", "net/deeplab_v2.py", "return sum(stage(x) for stage in self.children())",
           "return max(stage(x) for stage in self.children())", "ASPP branches not summed"),
    Mutant("default_cam_lr", "defaults", "cli/flags.py", '"--cam_learning_rate", default=0.1,',
           '"--cam_learning_rate", default=0.01,', "the CAM learning rate default changed"),
    Mutant("default_eps", "defaults", "cli/flags.py", '"--eps", default=0.4,', '"--eps", default=0.3,',
           "AMN's label smoothing default changed"),
    Mutant("default_sem_seg_power", "defaults", "cli/flags.py", '"--sem_seg_power", default=1.3,',
           '"--sem_seg_power", default=1.0,', "the power before the walk changed"),
    Mutant("cam_gap", "CAM", "net/resnet50_cam.py", "x = torchutils.gap2d(x.float(), keepdims=True)",
           "x = F.adaptive_max_pool2d(x.float(), 1)", "the classifier pools by the maximum, not the average"),
    Mutant("cam_relu", "CAM", "net/resnet50_cam.py", "x = F.relu(F.conv2d(x.float(), self.classifier.weight))",
           "x = F.conv2d(x.float(), self.classifier.weight)", "negative class activations kept in the CAM"),
    Mutant("amn_min_max", "AMN", "postprocess/cam_maps.py", "return (x - lo) / (hi - lo + 1e-5)",
           "return x / (hi + 1e-5)", "AMN's CAMs divided by their maximum without subtracting the minimum"),
    Mutant("crf_bilateral", "seeds", "misc/imutils.py", "d.addPairwiseBilateral(sxy=50, srgb=5,",
           "d.addPairwiseBilateral(sxy=50, srgb=13,", "the seed CRF's colour kernel widened"),
    Mutant("default_cam_scales", "defaults", "cli/flags.py", '"--cam_scales", default=(1.0, 0.5, 1.5, 2.0),',
           '"--cam_scales", default=(1.0, 0.5, 1.5),', "make_cam without the 2.0 scale"),
    Mutant("default_sem_seg_bg_thres", "defaults", "cli/flags.py", '"--sem_seg_bg_thres", default=0.25,',
           '"--sem_seg_bg_thres", default=0.35,', "the final masks' background threshold moved"),
    Mutant("default_exp_times", "defaults", "cli/flags.py", '"--exp_times", default=8,', '"--exp_times", default=6,',
           "the random walk run 2^6 instead of 2^8 times"),
]


def scratch_copy(dest: Path) -> None:
    def ignore(folder, names):
        top = Path(folder) == REPO
        return {n for n in names if n in SKIP or (top and (n in TOP_SKIP or (n.startswith(".") and n != ".ci")))}

    shutil.copytree(REPO, dest, ignore=ignore, symlinks=True)


def apply(root: Path, m: Mutant) -> str:
    path = root / m.path
    text = path.read_text()
    if text.count(m.old) != 1:
        raise SystemExit(f"mutant {m.name}: {m.path} holds {text.count(m.old)} copies of {m.old!r}, not one")
    path.write_text(text.replace(m.old, m.new))
    return text


def run_tier(root: Path, marker: str, timeout: int) -> tuple[bool, str]:
    """(caught, the first failing test) for one tier; pytest stops at the first failure."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", marker, "-rfE",
           "--no-header"]
    try:
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return True, f"(timed out after {timeout} s)"
    if proc.returncode == 0:
        return False, ""
    if proc.returncode == 5:  # no test in the tier
        return False, ""
    found = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.M)
    return True, found[0] if found else f"(pytest exit {proc.returncode})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", help="mutant names (default: all)")
    p.add_argument("--fast_only", action="store_true", help="skip the slow tier for survivors")
    p.add_argument("--timeout", type=int, default=900, help="seconds per tier run")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        scratch_copy(root)
        clean, _ = run_tier(root, "not slow", args.timeout)
        if clean:
            raise SystemExit("the unmutated fast tier fails; fix it first")
        for m in chosen:
            t0 = time.time()
            original = apply(root, m)
            try:
                caught, by = run_tier(root, "not slow", args.timeout)
                tier = "fast" if caught else ""
                if not caught and not args.fast_only:
                    caught, by = run_tier(root, "slow", args.timeout)
                    tier = "slow" if caught else ""
            finally:
                (root / m.path).write_text(original)
            row = {"name": m.name, "area": m.area, "why": m.why, "caught": caught, "tier": tier, "by": by,
                   "seconds": round(time.time() - t0)}
            results.append(row)
            print(f"{m.name:24s} {m.area:11s} {'caught' if caught else 'SURVIVED':8s} {tier:4s} "
                  f"{row['seconds']:4d}s  {by}", flush=True)
    survived = [r["name"] for r in results if not r["caught"]]
    print(f"{len(results) - len(survived)} of {len(results)} mutants caught" +
          (f"; survived: {', '.join(survived)}" if survived else ""))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    sys.exit(1 if survived else 0)


if __name__ == "__main__":
    main()
