"""Helpers the tests import (pytest.ini puts tests/ on the path)."""


def pipeline_argv(toy, tmp_path, *extra):
    """Driver flags that run the pipeline on the toy VOC fixture with tiny CPU settings."""
    return ["--voc12_root", str(toy.root), "--train_list", str(toy.meta / "train.txt"),
            "--val_list", str(toy.meta / "val.txt"), "--infer_list", str(toy.meta / "train.txt"),
            "--cls_labels", str(toy.meta / "cls_labels.npy"), *tiny_settings(tmp_path), *extra]


def tiny_settings(tmp_path) -> list[str]:
    """Small crops, one epoch, every output under ``tmp_path``."""
    out = tmp_path / "result"
    sess = tmp_path / "sess"
    return ["--device", "cpu", "--num_workers", "0",
            "--backbone_weights", "none", "--cam_scales", "1.0", "0.5",
            "--cam_crop_size", "64", "--cam_resize_long", "56", "72", "--cam_batch_size", "8", "--cam_num_epoches", "1",
            "--amn_crop_size", "64", "--amn_batch_size", "8", "--amn_num_epoches", "1",
            "--amn_backbone_weights", str(sess / "res50_cam.pth"), "--irn_backbone_weights", str(sess / "res50_cam.pth"),
            "--irn_crop_size", "96", "--irn_batch_size", "8", "--irn_num_epoches", "1", "--exp_times", "4",
            "--cam_weights_name", str(sess / "res50_cam.pth"), "--amn_weights_name", str(sess / "res50_amn.pth"),
            "--irn_weights_name", str(sess / "res50_irn.pth"), "--result_dir", str(out),
            "--cam_out_dir", str(out / "cam"), "--ir_label_out_dir", str(out / "ir_label"),
            "--amn_cam_out_dir", str(out / "amn_cam"), "--amn_ir_label_out_dir", str(out / "amn_ir_label"),
            "--sem_seg_out_dir", str(out / "sem_seg"), "--ins_seg_out_dir", str(out / "ins_seg"),
            "--log_name", str(tmp_path / "log"),
            "--report_images", "3"]
