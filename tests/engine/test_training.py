"""The training engine: seeded global batches, per-sample augmentation seeds, DDP equal to one process."""
import random

import numpy as np
import pytest
import torch

import run_sample
from engine import checkpoints, seeding, training
from helpers import fake_imagenet_weights, pipeline_argv, run_ddp
from misc.errors import PipelineError


def test_every_rank_gets_its_share_of_each_global_batch_and_no_sample_twice():
    one = list(training.GlobalBatchSampler(22, 8, seed=3))
    ranks = [list(training.GlobalBatchSampler(22, 8, seed=3, rank=r, world=4)) for r in range(4)]
    assert len(one) == 2 and all(len(b) == 8 for b in one)  # 22 // 8 global batches, the rest dropped
    for b, batch in enumerate(one):
        assert [x for r in range(4) for x in ranks[r][b]] == batch
    seen = [i for batch in one for i, _ in batch]
    assert len(set(seen)) == len(seen) == 16


def test_the_order_depends_on_seed_and_epoch_only():
    s = training.GlobalBatchSampler(30, 5, seed=1)
    first = list(s)
    assert list(training.GlobalBatchSampler(30, 5, seed=1)) == first
    s.set_epoch(1)
    assert [i for b in s for i, _ in b] != [i for b in first for i, _ in b]
    with pytest.raises(PipelineError, match="does not divide over 3"):
        training.GlobalBatchSampler(30, 8, seed=1, world=3)


class _Draw(torch.utils.data.Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return random.random(), np.random.rand()


def test_a_sample_draws_the_same_augmentation_whatever_came_before():
    ds = training.SeededSamples(_Draw(), seed=7)
    a = ds[(4, 2)]
    random.seed(99)
    np.random.seed(99)
    before = (random.random(), np.random.rand())
    random.seed(99)
    np.random.seed(99)
    ds[(1, 0)]
    assert ds[(4, 2)] == a and ds[(4, 3)] != a
    assert (random.random(), np.random.rand()) == before  # the caller's generators are untouched


def _weights(path):
    return torch.load(path, weights_only=True)


def _assert_close(a: dict, b: dict, rtol: float):
    """Every floating tensor within ``rtol`` of the other, relative to its norm (near-zero entries carry only
    the float noise of a different summation order)."""
    for k in a:
        if a[k].is_floating_point():
            err = float((a[k] - b[k]).norm() / a[k].norm().clamp(min=1e-12))
            assert err <= rtol, f"{k}: relative difference {err:.2e}"


@pytest.mark.slow
def test_same_seed_same_weights_with_any_worker_count(toy, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run_sample.main(pipeline_argv(toy, a, "--train_cam_pass", "True", "--num_workers", "0", "--seed", "5"))
    run_sample.main(pipeline_argv(toy, b, "--train_cam_pass", "True", "--num_workers", "2", "--seed", "5"))
    wa, wb = _weights(a / "sess" / "res50_cam.pth"), _weights(b / "sess" / "res50_cam.pth")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def ddp_setup(toy, tmp_path_factory):
    """Frozen-BatchNorm initial weights and CAM seeds, made once in one process."""
    base = tmp_path_factory.mktemp("ddp")
    init = fake_imagenet_weights(base / "imagenet.pth")
    run_sample.main(pipeline_argv(toy, base, "--backbone_weights", init, "--amn_backbone_weights", init,
                                  "--irn_backbone_weights", init, "--train_cam_pass", "True", "--make_cam_pass",
                                  "True", "--cam_to_ir_label_pass", "True"))
    return base, init


def _eight(toy, base) -> list[str]:
    """Train on 8 of the toy's images: one global batch of 8 an epoch, the same comparison at half the cost."""
    path = base / "eight.txt"
    path.write_text("\n".join((toy.meta / "train.txt").read_text().split()[:8]))
    return ["--train_list", str(path), "--seg_train_list", str(path)]


@pytest.mark.parametrize("step,weights", [("train_cam", "res50_cam.pth"), ("train_amn", "res50_amn.pth"),
                                          ("train_irn", "res50_irn.pth")])
@pytest.mark.slow
def test_ddp_on_two_processes_equals_one_process(toy, ddp_setup, tmp_path, step, weights):
    base, init = ddp_setup
    out = {}
    for mode in ("one", "ddp"):
        sess = tmp_path / mode
        argv = pipeline_argv(toy, base, "--backbone_weights", init, "--amn_backbone_weights", init,
                             "--irn_backbone_weights", init, "--irn_seeds", "cam", "--amn_eval_every_epoch", "False",
                             f"--{step}_pass", "True", f"--{step.split('_')[1]}_weights_name", str(sess / weights),
                             *_eight(toy, base))
        run_sample.main(argv) if mode == "one" else run_ddp(argv)
        out[mode] = _weights(sess / weights)
    # The runs trained: CAM and AMN moved backbone weights away from the ImageNet file; IRN (frozen backbone)
    # moved its heads' GroupNorm scales away from their initial ones.
    start = torch.load(init, weights_only=True)
    if step == "train_irn":
        moved = [k for k, v in out["one"].items() if k.startswith("edge_layers.") and k.endswith(".1.weight")
                 and not torch.equal(v, torch.ones_like(v))]
    else:
        moved = [k for k, v in out["one"].items() if k.startswith("resnet50.") and k[9:] in start
                 and v.is_floating_point() and not torch.equal(v, start[k[9:]])]
    assert moved
    # Adam (AMN) turns the float noise of another summation order on near-zero gradients into whole steps:
    # measured 1.1e-4 on one BatchNorm bias (the input normalisation's last bit moves the trajectory).
    _assert_close(out["one"], out["ddp"], rtol=3e-4 if step == "train_amn" else 1e-4)


@pytest.mark.slow
def test_a_resumed_ddp_run_equals_an_uninterrupted_one(toy, ddp_setup, tmp_path):
    base, init = ddp_setup
    def argv(name):
        return pipeline_argv(toy, base, "--backbone_weights", init, "--train_cam_pass", "True", "--cam_num_epoches",
                             "2", "--cam_weights_name", str(tmp_path / name), *_eight(toy, base))
    run_ddp(argv("straight.pth"))
    run_ddp(argv("resumed.pth"), stop_after_epoch=1)
    assert (tmp_path / "resumed.pth.resume").is_file() and not (tmp_path / "resumed.pth").exists()
    run_ddp(argv("resumed.pth"))
    a, b = _weights(tmp_path / "straight.pth"), _weights(tmp_path / "resumed.pth")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_inference_under_torchrun_gives_the_files_of_one_process(toy, ddp_setup, tmp_path):
    from PIL import Image

    from misc.fileio import load_cam

    base, init = ddp_setup
    run_ddp(pipeline_argv(toy, base, "--make_cam_pass", "True", "--cam_to_ir_label_pass", "True", "--eval_cam_pass",
                          "True", "--cam_out_dir", str(tmp_path / "cam"), "--ir_label_out_dir", str(tmp_path / "seeds"),
                          "--result_dir", str(tmp_path)))
    names = (toy.meta / "train.txt").read_text().split()
    for n in names:
        a, b = load_cam(base / "result" / "cam" / f"{n}.npz"), load_cam(tmp_path / "cam" / f"{n}.npz")
        assert all(np.array_equal(a[k], b[k]) for k in a), n
        assert np.array_equal(np.asarray(Image.open(base / "result" / "ir_label" / f"{n}.png")),
                              np.asarray(Image.open(tmp_path / "seeds" / f"{n}.png"))), n
    assert (tmp_path / "cam.json").is_file()  # rank 0 evaluated after both ranks had written their share


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["balanced", "ce"])
def test_ddp_segmentation_training_equals_one_process(toy, ddp_setup, tmp_path, loss):
    base, init = ddp_setup
    out = {}
    for mode in ("one", "ddp"):
        weights = tmp_path / mode / "seg.pth"
        argv = pipeline_argv(toy, base, "--train_seg_pass", "True", "--seg_init_weights", init, "--seg_loss", loss,
                             "--sem_seg_out_dir", str(toy.root / "SegmentationClass"),
                             "--seg_weights_name", str(weights), *_eight(toy, base))
        run_sample.main(argv) if mode == "one" else run_ddp(argv)
        out[mode] = _weights(weights)
    _assert_close(out["one"], out["ddp"], rtol=1e-4)


def test_only_trained_batchnorm_statistics_are_broadcast_under_ddp():
    from misc import indexing
    from net import resnet50, resnet50_irn

    irn = resnet50_irn.AffinityDisplacementLoss(indexing.PathIndex(radius=10, default_size=(24, 24))).train()
    assert not training.has_trained_batchnorm(irn)  # its 223 MB of path indices never change
    assert not any(p.requires_grad for p in irn.backbone.parameters())  # no zero gradients to all-reduce
    cam = checkpoints.build_network("net.resnet50_cam", "Net", n_classes=20).train()
    assert not training.has_trained_batchnorm(cam)  # ImageNet statistics stay frozen
    resnet50.set_batchnorm_trainable(cam.resnet50, True)  # --backbone_weights none
    assert training.has_trained_batchnorm(cam.train())


def test_the_stem_is_frozen_before_ddp_sees_the_model(toy, tmp_path, monkeypatch):
    seen = {}

    def spy(model, device):
        seen["stem"] = model.resnet50.conv1.weight.requires_grad
        return model

    monkeypatch.setattr(training, "wrap_ddp", spy)
    init = fake_imagenet_weights(tmp_path / "imagenet.pth")
    run_sample.main(pipeline_argv(toy, tmp_path, "--backbone_weights", init, "--train_cam_pass", "True"))
    assert seen == {"stem": False}


def test_resume_files_carry_every_gpu_generator(monkeypatch):
    """With CUDA in use the resume state holds each GPU's generator and gives it back (AMN's dropout)."""
    gpu_states = [torch.tensor([1], dtype=torch.uint8), torch.tensor([2], dtype=torch.uint8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: gpu_states)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.extend)
    state = seeding.rng_states()
    assert state["cuda_rng"] == gpu_states and torch.equal(state["torch_rng"], torch.get_rng_state())
    seeding.restore_rng_states(state)
    assert restored == gpu_states
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)  # another machine: CPU generator only
    restored.clear()
    seeding.restore_rng_states(state)
    assert restored == []


class _Points(torch.utils.data.Dataset):
    """Eight scalar samples, as packs with an "img" entry."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return {"img": torch.tensor([float(i)])}


def _run(tmp_path, desc: str = "t") -> training.TrainRun:
    return training.TrainRun(weights_name=str(tmp_path / "w.pth"), desc=desc, record={}, device=torch.device("cpu"),
                             overwrite=False, run_dir=str(tmp_path), log_every=1, tensorboard=False, saved_flags={})


def _square_step(net, pack):
    loss = ((net(pack["img"]) - 1) ** 2).mean()
    return loss, {"loss": loss.item()}


def test_an_iteration_of_accumulated_batches_is_one_step_on_their_mean(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = training.train_loader(_Points(), 2, 0, torch.device("cpu"), seed=3)
    training.train(model, optimizer, loader, training.Iterations(iter_max=1, iter_size=2), _run(tmp_path),
                   _square_step)
    loader.batch_sampler.set_epoch(0)
    first, second = list(loader)[:2]
    ref = torch.nn.Linear(1, 1)
    ref.load_state_dict(start)
    loss = (((ref(first["img"]) - 1) ** 2).mean() + ((ref(second["img"]) - 1) ** 2).mean()) / 2
    loss.backward()
    with torch.no_grad():
        expected = {k: p - 0.1 * p.grad for k, p in ref.named_parameters()}
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, expected[k])


def _recorded_saves(monkeypatch) -> list:
    """(count, unit) of every resumable checkpoint the loop saves, instead of saving it."""
    saved = []
    monkeypatch.setattr(checkpoints, "save_resume", lambda name, model, opt, count, unit, extra: saved.append(
        (count, unit)))
    return saved


class _Calls(training.Hook):
    def __init__(self):
        self.calls = []

    def before_step(self, state):
        self.calls.append(("before", state.iteration, state.epoch))

    def after_step(self, state):
        self.calls.append(("after", state.iteration, state.epoch))

    def after_epoch(self, state):
        self.calls.append(("epoch", state.iteration, state.epoch))


def test_hooks_see_steps_and_epochs_in_order_and_validation_reaches_the_metrics(tmp_path, monkeypatch):
    import json

    saved = _recorded_saves(monkeypatch)
    model = torch.nn.Linear(1, 1)
    loader = training.train_loader(_Points(), 4, 0, torch.device("cpu"))
    calls = _Calls()
    scores = training.Validation(lambda epoch: {"miou": 0.5 + epoch})
    training.train(model, torch.optim.SGD(model.parameters(), lr=0.01), loader, training.Epochs(2), _run(tmp_path),
                   _square_step, hooks=[calls, scores])
    assert calls.calls == [("before", 1, 1), ("after", 1, 1), ("before", 2, 1), ("after", 2, 1), ("epoch", 2, 1),
                           ("before", 3, 2), ("after", 3, 2), ("before", 4, 2), ("after", 4, 2), ("epoch", 4, 2)]
    assert saved == [(1, "epoch"), (2, "epoch")]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    # Validation gets the 1-based epoch, as the hooks see it.
    assert [(r["iteration"], r["val_miou"]) for r in rows if "val_miou" in r] == [(2, 1.5), (4, 2.5)]


class _Counter(training.Hook):
    """A hook with state: the steps it has seen, over a killed and resumed run."""

    def __init__(self):
        self.seen, self.ended = 0, []

    def after_step(self, state):
        self.seen += 1

    def after_train(self, state):
        self.ended.append(state.iteration)

    def state_dict(self):
        return {"seen": self.seen}

    def load_state_dict(self, state):
        self.seen = state.get("seen", 0)


def test_after_train_runs_when_a_step_fails_and_resuming_restores_the_hooks_state(tmp_path):
    model = torch.nn.Linear(1, 1)
    loader = training.train_loader(_Points(), 4, 0, torch.device("cpu"))
    counter = _Counter()

    def failing_step(net, pack):
        if counter.seen == 3:  # the second epoch's second step: after the first epoch's checkpoint
            raise RuntimeError("killed")
        return _square_step(net, pack)

    with pytest.raises(RuntimeError, match="killed"):
        training.train(model, torch.optim.SGD(model.parameters(), lr=0.01), loader, training.Epochs(2),
                       _run(tmp_path), failing_step, hooks=[counter])
    assert counter.ended == [4]  # after_train ran in the finally, at the failed step
    resumed = _Counter()
    training.train(model, torch.optim.SGD(model.parameters(), lr=0.01), loader, training.Epochs(2), _run(tmp_path),
                   _square_step, hooks=[resumed])
    # The checkpoint after epoch 1 held seen=2; the resumed run adds epoch 2's two steps.
    assert (resumed.seen, resumed.ended) == (4, [4])


def test_iterations_save_every_n_steps_but_not_after_the_last(tmp_path, monkeypatch):
    saved = _recorded_saves(monkeypatch)
    model = torch.nn.Linear(1, 1)
    loader = training.train_loader(_Points(), 2, 0, torch.device("cpu"))
    lrs = []
    training.train(model, torch.optim.SGD(model.parameters(), lr=0.01), loader,
                   training.Iterations(iter_max=6, save_every=2), _run(tmp_path), _square_step,
                   hooks=[training.LearningRate(lrs.append)])
    assert lrs == [1, 2, 3, 4, 5, 6] and saved == [(2, "iteration"), (4, "iteration")]


def test_the_logging_hook_owns_its_bars_one_per_epoch_or_one_for_iterations(tmp_path, monkeypatch):
    bars = []
    real = training._bar
    monkeypatch.setattr(training, "_bar", lambda desc, total, initial: bars.append((desc, total, initial)) or
                        real(desc, total, initial))
    model = torch.nn.Linear(1, 1)
    loader = training.train_loader(_Points(), 4, 0, torch.device("cpu"))  # 2 batches per epoch
    training.train(model, torch.optim.SGD(model.parameters(), lr=0.01), loader, training.Epochs(2), _run(tmp_path),
                   _square_step)
    training.train(model, torch.optim.SGD(model.parameters(), lr=0.01), loader, training.Iterations(iter_max=3),
                   _run(tmp_path / "it"), _square_step)
    assert bars == [("t 1/2", 2, 0), ("t 2/2", 2, 0), ("t", 3, 0)]
