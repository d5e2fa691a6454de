"""The command lines users type, as they type them: ``python -m dataset.folder`` and
``bash script/generate_pseudo_mask.sh``, on paths with spaces."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import tiny_settings
from voc12.dataloader import CAT_LIST

REPO = Path(__file__).resolve().parents[1]
# The tiny settings' sizes and schedules; the script's WORK_DIR places every output.
PLACED = {"--cam_weights_name", "--amn_weights_name", "--irn_weights_name", "--seg_weights_name", "--result_dir",
          "--cam_out_dir", "--ir_label_out_dir", "--amn_cam_out_dir", "--amn_ir_label_out_dir", "--sem_seg_out_dir",
          "--sem_seg_map_dir", "--ins_seg_out_dir", "--seg_out_dir", "--log_name", "--amn_backbone_weights",
          "--irn_backbone_weights", "--seg_init_weights"}


def _sizes_only(flags: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(flags):
        if flags[i] in PLACED:
            i += 2
            continue
        out.append(flags[i])
        i += 1
    return out


def _class_folders(toy, images: Path) -> int:
    """The toy's images sorted into class folders (the first class of each), named with spaces."""
    n = 0
    for path in sorted((toy.root / "JPEGImages").glob("*.jpg")):
        seg = np.asarray(Image.open(toy.root / "SegmentationClass" / f"{path.stem}.png"))
        first = min(v for v in np.unique(seg) if 0 < v < 255)
        folder = images / CAT_LIST[first - 1]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / f"{path.stem} photo.jpg")
        n += 1
    return n


@pytest.mark.slow
def test_the_folder_importer_and_the_recipe_script_run_on_paths_with_spaces(toy, tmp_path):
    images, data, work = tmp_path / "my images", tmp_path / "my data", tmp_path / "work dir"
    n = _class_folders(toy, images)
    # As a module run by name: it is also imported by the registry, and must not register itself twice.
    done = subprocess.run([sys.executable, "-m", "dataset.folder", "--images", str(images), "--out_dir", str(data)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    listed = (data / "train.txt").read_text().splitlines() + (data / "val.txt").read_text().splitlines()
    assert len(listed) == n and all(" photo" in name for name in listed)
    env = {**os.environ, "DATASET": "folder", "DATASET_ROOT": str(data), "WORK_DIR": str(work), "NUM_WORKERS": "0",
           "PYTHON": sys.executable,  # this interpreter, not whatever python3 comes first on PATH
           "PATH": f"{_wrong_python3(tmp_path)}{os.pathsep}{os.environ.get('PATH', '')}",
           "SEG_INIT": str(work / "res50_cam_folder.pth"), "INSTANCES": "1"}
    done = subprocess.run(["bash", "script/generate_pseudo_mask.sh", *_sizes_only(tiny_settings(tmp_path))],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # Without masks every evaluation says so and is skipped; the rest of the recipe runs.
    assert "eval_cam: dataset folder has no ground-truth masks" in done.stdout and "skipping the evaluation" in \
        done.stdout
    assert not (work / "cam.json").exists() and (work / "report" / "overlays").is_dir()
    train = (data / "train.txt").read_text().splitlines()
    for folder, suffix in (("cam_folder", ".npz"), ("ir_label_folder", ".png"), ("amn_ir_label_folder", ".png"),
                           ("sem_seg_folder", ".png"), ("ins_seg_folder", ".npz")):
        assert sorted(p.relative_to(work / folder).with_suffix("").as_posix()
                      for p in (work / folder).rglob(f"*{suffix}")) == sorted(train), folder
    sd = torch.load(work / "res50_amn_folder.pth", weights_only=True)
    classes = json.loads((data / "dataset.json").read_text())["classes"]
    assert sd["label_enc.weight"].shape == (2048, len(classes)) and set(classes) <= set(CAT_LIST)
    val = (data / "val.txt").read_text().splitlines()
    assert sorted(p.stem for p in (work / "seg_folder" / "eval" / "crf").rglob("*.png")) == sorted(
        Path(v).name for v in val)
    assert (work / "report" / "report.html").is_file()
    assert (work / "deeplabv2_resnet101_msc_folder.pth").is_file() and (work / "deeplabv2_resnet101_msc_folder.pth.json"
                                                                        ).is_file()


def _wrong_python3(tmp_path):
    """A folder whose python3 fails, put first on PATH: the recipe must run the interpreter PYTHON names."""
    folder = tmp_path / "wrong_bin"
    folder.mkdir()
    (folder / "python3").write_text("#!/bin/sh\necho 'the recipe ran python3 from PATH, not $PYTHON' >&2\nexit 3\n")
    (folder / "python3").chmod(0o755)
    return folder
