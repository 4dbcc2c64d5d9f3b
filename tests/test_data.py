"""Reading rollouts: validation errors name the file, streaming stays bounded."""

import numpy as np
import pytest
import torch

from worldmodels import get_config
from worldmodels.cli import main
from worldmodels.core.config import ParallelConfig
from worldmodels.core.storage import save_npz
from worldmodels.world.datasets import FrameDataset, RolloutError, load_episode, split_by_episode, verify
from worldmodels.world.frames import frames_to_tensor
from worldmodels.world.rollouts import collect


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rollouts")
    cfg = get_config("smoke", collect={"episodes": 5, "steps": 12}).collect
    return collect(cfg, folder=folder, progress=False, parallel=ParallelConfig("serial"))


def write_episode(path, steps=5, size=64, **changes):
    arrays = {
        "obs": np.zeros((steps + 1, size, size, 3), np.uint8),
        "action": np.zeros((steps, 3), np.float32),
        "reward": np.zeros(steps, np.float32),
        "terminated": np.zeros(steps, bool),
        "truncated": np.zeros(steps, bool),
        "seed": np.int64(int(path.stem) if path.stem.isdigit() else 0),  # as collect names it
    }
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    save_npz(path, **arrays)
    return path


def test_truncated_file_names_the_file(tmp_path):
    path = write_episode(tmp_path / "000001.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RolloutError, match=r"000001\.npz: corrupt or truncated.*re-run collect"):
        load_episode(path)


def test_garbage_file_names_the_file(tmp_path):
    path = tmp_path / "000002.npz"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(RolloutError, match="000002.npz"):
        load_episode(path)


def test_wrong_shapes_are_reported_with_expected_and_actual(tmp_path):
    path = write_episode(tmp_path / "000003.npz", obs=np.zeros((6, 96, 96, 3), np.uint8))
    with pytest.raises(RolloutError, match=r"obs has shape \(6, 96, 96, 3\) uint8, expected \(6, 64, 64, 3\)"):
        load_episode(path, frame_size=64)
    path = write_episode(tmp_path / "000004.npz", action=np.zeros((5, 2), np.float32))
    with pytest.raises(RolloutError, match="action has shape"):
        load_episode(path)


def test_missing_array_and_nan_actions(tmp_path):
    with pytest.raises(RolloutError, match="missing arrays"):
        load_episode(write_episode(tmp_path / "000005.npz", reward=None))
    nan = np.full((5, 3), np.nan, np.float32)
    with pytest.raises(RolloutError, match="non-finite"):
        load_episode(write_episode(tmp_path / "000006.npz", action=nan))


def test_verify_lists_bad_and_missing_files_and_cli_exits_nonzero(tmp_path, capsys):
    write_episode(tmp_path / "000001.npz")
    bad = write_episode(tmp_path / "000002.npz")
    bad.write_bytes(bad.read_bytes()[:100])
    (tmp_path / "manifest.json").write_text('{"data": {}, "seeds": [1, 3]}')
    assert [p.name for p, _ in verify(tmp_path)] == ["000002.npz", "000003.npz"]
    assert main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "1 of 2 episode files" in out and "000003.npz: missing (the manifest lists seeds 1 to 3)" in out


def test_verify_calls_an_empty_folder_or_one_without_a_manifest_bad(tmp_path, capsys):
    assert [msg.split(": ", 1)[1] for _, msg in verify(tmp_path)] == [
        "missing; how these episodes were collected is unknown", "no episode files; run collect"]
    assert main(["verify", str(tmp_path)]) == 1
    write_episode(tmp_path / "000001.npz")
    assert [p.name for p, _ in verify(tmp_path)] == ["manifest.json"]


def test_stream_yields_every_frame_once_per_epoch(episodes):
    ds = FrameDataset(episodes, shuffle=True, seed=0, episodes_in_memory=2)
    frames = np.stack(list(ds))
    expected = np.concatenate([load_episode(f)["obs"] for f in episodes])
    assert frames.shape == expected.shape == (5 * 13, 64, 64, 3)
    key = lambda a: sorted(x.tobytes() for x in a)
    assert key(frames) == key(expected)
    ds.set_epoch(1)
    assert not np.array_equal(np.stack(list(ds)), frames)  # a new shuffle each epoch


def test_stream_holds_a_bounded_number_of_episodes(episodes, monkeypatch):
    from worldmodels.world import datasets as data

    loaded, real = [], data.load_episode
    monkeypatch.setattr(data, "load_episode", lambda f: loaded.append(f) or real(f))
    it = iter(FrameDataset(episodes, episodes_in_memory=2))
    next(it)
    assert len(loaded) == 2  # only the first group is read to yield the first frame


def test_dataloader_workers_share_the_episodes(episodes):
    ds = FrameDataset(episodes, shuffle=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=7, num_workers=2)
    total = sum(len(batch) for batch in loader)
    assert total == 5 * 13


def test_batches_are_float_chw_in_unit_range(episodes):
    batch = next(FrameDataset(episodes).batches(8))
    assert batch.shape == (8, 3, 64, 64) and batch.dtype == torch.float32
    assert 0.0 <= batch.min() and batch.max() <= 1.0
    frame = load_episode(episodes[0])["obs"][:1]
    assert torch.allclose(frames_to_tensor(frame)[0, :, 3, 5], torch.tensor(frame[0, 3, 5] / 255.0, dtype=torch.float32))


def test_split_is_by_episode_and_reproducible(episodes):
    train, val = split_by_episode(episodes, 0.4, seed=1)
    assert len(val) == 2 and not set(train) & set(val) and sorted(train + val) == sorted(episodes)
    assert split_by_episode(episodes, 0.4, seed=1) == (train, val)


def test_tensor_to_frames_inverts_frames_to_tensor():
    from worldmodels.world.frames import tensor_to_frames

    frames = np.random.default_rng(0).integers(0, 256, (2, 5, 64, 64, 3), dtype=np.uint8)
    assert np.array_equal(tensor_to_frames(frames_to_tensor(frames)), frames)
    assert tensor_to_frames(torch.full((3, 4, 4), 2.0)).max() == 255  # clamped
