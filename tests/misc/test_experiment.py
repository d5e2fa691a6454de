import json
import os
import subprocess
import sys

import pytest

from misc import experiment
from misc.errors import PipelineError


def test_a_live_lock_refuses_a_second_run_and_a_stale_one_is_taken_over(tmp_path, capsys):
    with experiment.RunLock(tmp_path):
        with pytest.raises(PipelineError, match=rf"{tmp_path} is in use by process {os.getpid()}"):
            experiment.RunLock(tmp_path).acquire()
    assert not (tmp_path / ".lock").exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename}))
    lock = experiment.RunLock(tmp_path)
    lock.acquire()
    assert f"left by process {int(dead.stdout)}, which is gone" in capsys.readouterr().out
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    lock.release()


def test_the_run_log_keeps_each_line_once_without_progress_redraws(tmp_path, capsys):
    log = experiment.RunLog(tmp_path / "run.log")
    print("step one")
    sys.stderr.write("bar 10%\rbar 50%\rbar 100%\n")
    sys.stderr.write("left open\rleft open 2")
    log.close()
    assert (tmp_path / "run.log").read_text() == "step one\nbar 100%\nleft open 2\n"
    assert "bar 10%" in capsys.readouterr().err  # the terminal still sees the redraws


def test_the_log_stream_holds_only_the_current_line_after_a_million_redraws(tmp_path):
    class Sink:
        def __init__(self):
            self.text = []

        def write(self, s):
            self.text.append(s)

        def flush(self):
            pass

    terminal, log = Sink(), Sink()
    stream = experiment._Stream(terminal, log)
    stream.write("head ")
    for i in range(1_000_000):
        stream.write(f"\rbar {i}")
    assert stream.pending == "bar 999999"  # one line's final state, not a million redraws
    stream.write(" done\nnext\rnext 2\n\rtail")
    assert "".join(log.text) == "bar 999999 done\nnext 2\n"
    stream.finish()
    assert "".join(log.text).endswith("next 2\ntail\n") and stream.pending == ""


def test_metrics_smooth_over_the_window_and_write_json_lines(tmp_path):
    metrics = experiment.Metrics(tmp_path, "train_x", every=2)
    assert metrics.iteration(1, 4, {"loss": 1.0, "lr": 0.1}, images=8, epoch=1) is None
    line = metrics.iteration(2, 4, {"loss": 3.0, "lr": 0.1}, images=8, epoch=1, peak_mb=12.0)
    assert line.startswith("[train_x] it 2/4  loss 2.0000  lr 0.1000") and "eta" in line and "peak 12 MB" in line
    metrics.validation(2, 1, {"miou": 0.5})
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["loss"] == 2.0 and records[0]["iteration"] == 2 and records[0]["epoch"] == 1
    assert records[1]["val_miou"] == 0.5
    assert experiment.Metrics(tmp_path, "off", enabled=False).iteration(2, 4, {"loss": 1.0}, 8) is None


def test_configs_are_yaml_maps_of_flag_names(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("--cam-batch-size: 4\nseed: 3\n")
    assert experiment.load_config(path) == {"cam_batch_size": 4, "seed": 3}
    path.write_text("- a\n- b\n")
    with pytest.raises(PipelineError, match="must map flag names"):
        experiment.load_config(path)
    with pytest.raises(PipelineError, match="does not exist"):
        experiment.load_config(tmp_path / "none.yaml")
    text = experiment.dump_config({"b": (1, 2), "a": "x"}, {"a": "command line"})
    assert text == "a: x  # command line\nb: [1, 2]  # default\n"


def test_tensorboard_events_or_a_clear_message(tmp_path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(PipelineError, match="pip install tensorboard"):
            experiment.Metrics(tmp_path, "train_x", tensorboard=True)
        return
    metrics = experiment.Metrics(tmp_path, "train_x", every=1, tensorboard=True)
    metrics.iteration(1, 1, {"loss": 1.0}, images=2)
    metrics.close()
    assert list((tmp_path / "tb" / "train_x").glob("events.out.tfevents.*"))
