"""The shared training loop, on a tiny model and synthetic data (plumbing), and checkpoints."""

import pytest
import torch

from worldmodels.core import checkpoint
from worldmodels.core.config import TrainConfig
from worldmodels.training.loop import fit

X = torch.linspace(-1, 1, 64).reshape(64, 1)
Y = 3 * X + 0.5


def batches(epoch):
    order = torch.randperm(64, generator=torch.Generator().manual_seed(epoch))
    return [(X[order[i:i + 16]], Y[order[i:i + 16]]) for i in range(0, 64, 16)]


def mse_step(model, batch, step, generator):
    x, y = batch
    loss = (model(x) - y).pow(2).mean()
    return loss, {"mse": loss.detach()}


def run(tmp_path, epochs, name="run", lr=0.05, model=None):
    torch.manual_seed(0)
    model = model or torch.nn.Linear(1, 1)
    cfg = TrainConfig(epochs=epochs, learning_rate=lr, batch_size=16)
    history = fit(model, mse_step, batches, lambda: batches(99), cfg, tmp_path / name,
                  {"kind": "toy", "config": {"lr": lr}}, device=torch.device("cpu"), progress=False)
    return model, history


def test_fit_learns_and_writes_history_and_checkpoint(tmp_path):
    _, history = run(tmp_path, epochs=30)
    assert history[-1]["val_mse"] < 0.01 < history[0]["val_mse"]
    assert (tmp_path / "run" / "history.csv").read_text().splitlines()[0].startswith("epoch,step,seconds")
    state = checkpoint.load(tmp_path / "run" / "last.pt", kind="toy")
    assert state["epoch"] == 30 and len(state["history"]) == 30


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    straight, _ = run(tmp_path, epochs=6, name="straight")
    run(tmp_path, epochs=3, name="resumed")  # "killed" after 3 epochs
    resumed, history = run(tmp_path, epochs=6, name="resumed", model=torch.nn.Linear(1, 1))
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_resume_with_another_config_is_refused(tmp_path):
    run(tmp_path, epochs=1, lr=0.05)
    with pytest.raises(checkpoint.CheckpointError, match="another config"):
        run(tmp_path, epochs=2, lr=0.01)


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    def nan_step(model, batch, step, generator):
        loss = model(batch[0]).mean() * float("nan")
        return loss, {}

    cfg = TrainConfig(epochs=1)
    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 1, step 0.*lower learning_rate"):
        fit(torch.nn.Linear(1, 1), nan_step, batches, lambda: batches(0), cfg, tmp_path / "nan",
            {"kind": "toy", "config": {}}, device=torch.device("cpu"), progress=False)


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="missing.pt: no such checkpoint"):
        checkpoint.load(tmp_path / "missing.pt")
    path = checkpoint.save(tmp_path / "model.pt", {"kind": "vae", "model": {"w": torch.ones(3)}})
    with pytest.raises(checkpoint.CheckpointError, match="holds a 'vae' model, expected 'gumbel'"):
        checkpoint.load(path, kind="gumbel")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="model.pt: unreadable checkpoint"):
        checkpoint.load(path)


def test_a_noisy_loss_draws_from_the_loops_seeded_generator_so_resume_is_exact_on_any_device(tmp_path):
    """The loop hands every loss step a generator seeded from (seed, epoch): a resumed run draws the same noise as
    an uninterrupted one without relying on the device's global random state (which a checkpoint of a CUDA run
    does not hold)."""
    seen = {}

    def noisy_step(model, batch, step, generator):
        x, y = batch
        if model.training:  # validation has a generator of its own
            seen.setdefault(step // 4, generator.initial_seed())  # 4 steps an epoch
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        loss = (model(x + 0.1 * noise) - y).pow(2).mean()
        return loss, {"mse": loss.detach()}

    def run_noisy(name, epochs, model):
        cfg = TrainConfig(epochs=epochs, learning_rate=0.05, batch_size=16)
        fit(model, noisy_step, batches, lambda: batches(99), cfg, tmp_path / name, {"kind": "toy", "config": {}},
            device=torch.device("cpu"), progress=False)
        return model

    torch.manual_seed(0)
    straight = run_noisy("straight", 4, torch.nn.Linear(1, 1))
    seeds_straight, seen = dict(seen), {}
    torch.manual_seed(0)
    run_noisy("resumed", 2, torch.nn.Linear(1, 1))
    torch.manual_seed(1234)  # another process, another global random state
    resumed = run_noisy("resumed", 4, torch.nn.Linear(1, 1))
    assert seen == seeds_straight and len(set(seen.values())) == 4
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def split_run(tmp_path, epochs, split):
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=epochs, learning_rate=0.05, batch_size=16)
    return fit(torch.nn.Linear(1, 1), mse_step, batches, lambda: batches(99), cfg, tmp_path / "split",
               {"kind": "toy", "config": {}, "split": split}, device=torch.device("cpu"), progress=False)


def test_a_run_whose_data_changed_is_refused(tmp_path):
    """The split is recorded when a run begins: a resumed run on more episodes (another split) is refused."""
    split_run(tmp_path, 1, {"episodes": 180, "held_out": ["000003.npz", "000011.npz"]})
    with pytest.raises(checkpoint.CheckpointError, match=r"data changed since the run began \(180 episodes then, "
                                                         r"200 now; 1 of its 2 held-out"):
        split_run(tmp_path, 2, {"episodes": 200, "held_out": ["000003.npz", "000150.npz"]})
    assert len(split_run(tmp_path, 2, {"episodes": 180, "held_out": ["000003.npz", "000011.npz"]})) == 2


def test_a_kill_between_the_checkpoint_and_the_history_leaves_nothing_stale(tmp_path):
    run(tmp_path, epochs=2)
    folder = tmp_path / "run"
    rows = (folder / "history.csv").read_text().splitlines()
    (folder / "history.csv").write_text("\n".join(rows[:2]) + "\n")  # killed before the CSV's last write
    (folder / ".last.pt.abc.tmp").write_bytes(b"torn")  # and a temporary file of the checkpoint's
    _, history = run(tmp_path, epochs=2)  # nothing left to train: the same command brings the files up to date
    assert len(history) == 2 and (folder / "history.csv").read_text().splitlines() == rows
    assert not list(folder.glob(".*.tmp"))


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    from worldmodels.core.storage import RunLockedError, run_lock

    with run_lock(tmp_path / "run"), pytest.raises(RunLockedError, match="another run is using this folder"):
        run(tmp_path, epochs=1)
