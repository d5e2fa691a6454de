"""The report page in a real browser: headless Chromium renders it from disk and its DOM is checked."""
import re
import shutil
import subprocess

import numpy as np
import pytest

from report import html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _sweep(peak: float, best_t: float) -> dict:
    thresholds = [round(0.01 * i, 2) for i in range(61)]
    miou = [peak - abs(t - best_t) for t in thresholds]
    return {"thresholds": thresholds, "miou": miou, "best_miou": peak, "best_threshold": best_t, "low": best_t - 0.01,
            "high": best_t + 0.01, "width": 0.02, "per_class": [[m, m / 2] for m in miou]}


def _page(tmp_path):
    label = np.zeros((8, 8), np.uint8)
    label[2:6, 2:6] = 1
    score = (np.linspace(0, 255, 64).reshape(8, 8)).astype(np.uint8)  # threshold t keeps pixels above 255 t
    row = {"name": "a", "width": 8, "height": 8, "image": html.data_uri(np.zeros((8, 8, 3), np.uint8), "JPEG"),
           "cam": {"score": html.data_uri(score), "label": html.data_uri(label)}}
    records = {"cam": {"miou": 0.5, "threshold": 0.25, "sweep": _sweep(0.6, 0.3)},
               "amn_cam": {"miou": 0.7, "threshold": 0.25, "sweep": _sweep(0.8, 0.4)},
               "sem_seg": {"miou": 0.75, "threshold": 0.25, "confusion": [[5, 1], [2, 8]]}}
    data = {"records": records, "classes": ["background", "cat"], "palette": [[0, 0, 0], [128, 0, 0]], "rows": [row],
            "curves": {"train_cam": [{"iteration": 1, "loss": 0.7}, {"iteration": 2, "loss": 0.5}]}, "instances": []}
    return html.write(tmp_path / "report.html", data), records


def test_the_page_is_self_contained(tmp_path):
    path, _ = _page(tmp_path)
    text = path.read_text()
    assert not re.search(r"(src|href)=[\"'](?!data:)", text) and "http://" not in text and "https://" not in text
    assert "default-src 'none'" in text  # the browser itself refuses any other source


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (.ci/run installs Debian's chromium)")
@pytest.mark.parametrize("t", ["0.40", "0.10"])
def test_the_slider_shows_each_stage_at_the_threshold_of_the_url(tmp_path, t):
    path, records = _page(tmp_path)
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", f"{path.as_uri()}#t={t}"], capture_output=True, text=True, timeout=120).stdout
    assert re.search(rf'id="threshold"[^>]*value="{t}"', dom) and f'id="tvalue">{t}<' in dom
    for stage in ("cam", "amn_cam"):
        sweep = records[stage]["sweep"]
        expected = 100 * sweep["miou"][sweep["thresholds"].index(float(t))]
        assert f'id="miou-{stage}">{expected:.1f}<' in dom
    assert 'id="miou-sem_seg"' not in dom  # no sweep, no slider value
    assert "train_cam" in dom and ">gt \\ pred<" in dom and "no segmentation network results yet" in dom


def _seeds(tmp_path) -> dict:
    """A seeds summary of two runs (one failed) and the page data of it, for a page in tmp_path/report."""
    (tmp_path / "seed_0" / "report").mkdir(parents=True)
    (tmp_path / "seed_0" / "report" / "report.html").write_text("<html></html>")
    summary = {"stages": {"cam": {"miou": {"mean": 0.5, "std": 0.1, "min": 0.4, "max": 0.6, "n": 1}}},
               "runs": [{"run": "seed 0", "folder": str(tmp_path / "seed_0"), "status": "ok", "error": None},
                        {"run": "seed 1", "folder": str(tmp_path / "seed_1"), "status": "failed", "error": "boom"}]}
    return html.seeds_data(summary, None, tmp_path / "report")


def test_seeds_data_links_each_run_to_its_own_report(tmp_path):
    assert [r["report"] for r in _seeds(tmp_path)["runs"]] == ["../seed_0/report/report.html", None]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (.ci/run installs Debian's chromium)")
def test_a_seeds_parent_page_explains_itself_and_links_the_seeds(tmp_path):
    seeds = _seeds(tmp_path)
    data = {"records": {}, "classes": ["background", "cat"], "palette": [[0, 0, 0], [128, 0, 0]], "rows": [],
            "curves": {}, "instances": [], "seeds": seeds}
    path = html.write(tmp_path / "report" / "report.html", data)
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "it holds one run per seed" in dom and "no instance results yet" in dom
    assert '<a href="../seed_0/report/report.html">seed 0</a>: ok; <span>seed 1</span>: failed (boom)' in dom
    assert re.search(r'<tr><td class="l">CAM</td><td class="l">[^<]+</td><td class="">50.0</td>', dom)
