"""The paper-scale collection path: the scripted pilot, the blend of policies, the direct renderer, latents encoded
as collected (frames kept for some episodes only), the manifest's per-episode records and the data card."""

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import REPO

from worldmodels import get_config
from worldmodels.core import paths
from worldmodels.core.config import CollectConfig, ConfigError
from worldmodels.core.hardware import resolve_precision
from worldmodels.core.storage import save_npz
from worldmodels.models.encoder import FrameEncoder, collection_encoder
from worldmodels.models.registry import load_vision
from worldmodels.world import datacard
from worldmodels.world.datasets import RolloutError, frame_files, load_episode, verify
from worldmodels.world.env import make_env
from worldmodels.world.policies import PilotPolicy, make_policy
from worldmodels.world.rollouts import collect, collection, manifest_for, run_episode

VISION = "checkpoints/vae/book.pt"


@pytest.fixture
def vision_file(wm_root):
    (wm_root / VISION).parent.mkdir(parents=True)
    shutil.copy(REPO / VISION, wm_root / VISION)
    return wm_root / VISION


def paper_like(**overrides) -> CollectConfig:
    """The paper preset's collection, at smoke size."""
    return get_config("paper", collect={"episodes": 6, "steps": 60, "name": "scale",
                                        **overrides}).collect


def test_a_careful_pilot_follows_the_road_and_a_reckless_one_leaves_it():
    env = make_env(renderer="direct")

    def drive(speed, gain, seed=3, steps=400):
        cfg = get_config("smoke", collect={"policy": "pilot", "steps": steps, "pilot_speed": (speed, speed),
                                           "pilot_gain": (gain, gain), "pilot_noise": (0.0, 0.0),
                                           "renderer": "direct"}).collect
        return run_episode(env, make_policy(cfg), seed, cfg)

    careful = drive(40, 1.5)
    assert careful["reward"].sum() > 250 and careful["on_grass"].mean() < 0.05  # a random policy: about 0
    assert 30 < careful["speed"][100:].mean() < 45
    record = json.loads(str(careful["policy"]))
    assert record["policy"] == "pilot" and record["target_speed"] == 40 and record["gain"] == 1.5
    reckless = drive(100, 3.0)
    assert reckless["on_grass"].mean() > 5 * max(careful["on_grass"].mean(), 0.01)


def test_the_pilot_draws_its_style_per_episode_from_the_seed_within_its_ranges():
    policy = PilotPolicy(speed=(25, 100), gain=(0.6, 3.0), noise=(0.0, 0.3))
    env = make_env(seed=1).unwrapped
    records = [policy.reset(np.random.default_rng([seed, 0x5EED]), env) for seed in range(40)]
    again = [policy.reset(np.random.default_rng([seed, 0x5EED]), env) for seed in range(40)]
    assert records == again
    speeds = [r["target_speed"] for r in records]
    assert min(speeds) >= 25 and max(speeds) <= 100 and np.std(speeds) > 10
    assert all(0.6 <= r["gain"] <= 3.0 and 0 <= r["noise"] <= 0.3 and 0 <= r["caution"] <= 1 for r in records)
    careful = PilotPolicy(speed=(25, 100), gain=(0.6, 3.0), noise=(0.0, 0.3), caution=(0.7, 1.0))
    cautions = [careful.reset(np.random.default_rng([seed, 0x5EED]), env)["caution"] for seed in range(40)]
    assert min(cautions) >= 0.7 and max(cautions) <= 1.0 and np.std(cautions) > 0.05
    assert manifest_for(get_config("smoke", collect={"policy": "pilot", "pilot_caution": (0.7, 1.0)}).collect)[
        "data"]["pilot_caution"] == [0.7, 1.0]
    assert "pilot_caution" not in manifest_for(get_config("smoke", collect={"policy": "pilot"}).collect)["data"]


def test_the_pilots_throttle_hands_gas_and_brake_to_chance_on_its_share_of_the_steps():
    env = make_env(renderer="direct")

    def drive(throttle, seed=3, steps=600):
        cfg = get_config("smoke", collect={"policy": "pilot", "steps": steps, "pilot_speed": (60.0, 60.0),
                                           "pilot_gain": (1.0, 1.0), "pilot_noise": (0.0, 0.0),
                                           "pilot_caution": (1.0, 1.0), "pilot_throttle": throttle,
                                           "renderer": "direct"}).collect
        return run_episode(env, make_policy(cfg), seed, cfg)

    steady, chance = drive((0.0, 0.0)), drive((0.5, 0.5))
    assert "throttle" not in json.loads(str(steady["policy"]))  # off: the episode is drawn as before the flag
    assert json.loads(str(chance["policy"]))["throttle"] == 0.5
    def held(actions):
        """Share of steps that repeat the last step's gas and brake at a gas strictly between 0 and 1: chance's
        held segments (the pilot's own rule gives 0, 1 or a level that moves with the speed)."""
        gas = actions[1:, 1]
        return np.mean(np.all(np.diff(actions[:, 1:], axis=0) == 0, axis=1) & (gas > 0) & (gas < 1))

    assert np.abs(chance["action"][:, 0]).mean() > 0.01  # the pilot still steers
    assert 0.25 < held(chance["action"]) < 0.75 and held(steady["action"]) < 0.02
    assert manifest_for(get_config("smoke", collect={"policy": "pilot", "pilot_throttle": (0.2, 0.6)}).collect)[
        "data"]["pilot_throttle"] == [0.2, 0.6]
    assert "pilot_throttle" not in manifest_for(get_config("smoke", collect={"policy": "pilot"}).collect)["data"]
    with pytest.raises(ConfigError, match="--pilot-throttle"):
        CollectConfig(policy="pilot", pilot_throttle=(0.5, 0.95))
    with pytest.raises(ConfigError, match="--pilot-throttle"):
        CollectConfig(policy="pilot", pilot_throttle=(0.6, 0.2))


def test_blend_draws_each_episode_a_policy_by_its_weights(wm_root):
    cfg = get_config("smoke", collect={"policy": "blend", "blend": (0.5, 0.0, 0.5), "episodes": 40}).collect
    policy = make_policy(cfg)
    env = make_env(seed=1).unwrapped
    names = [policy.reset(np.random.default_rng([s, 0x5EED]), env)["policy"] for s in range(cfg.episodes)]
    assert set(names) == {"random", "pilot"} and 10 < names.count("pilot") < 30


def test_collection_encodes_as_it_goes_and_keeps_frames_every_kth_episode(vision_file):
    cfg = paper_like(frames_every=3, seed=30)
    files = collect(cfg, progress=False, make_encoder=collection_encoder)
    vision = load_vision(vision_file)
    full = FrameEncoder(vision, "float32")
    for f in files:
        seed = int(f.stem)
        with np.load(f) as npz:
            assert ("obs" in npz.files) == (seed % 3 == 0)
            assert npz["mu"].dtype == np.float16 and npz["mu"].shape == (len(npz["action"]) + 1, 32)
            if "obs" in npz.files:  # the stored latents are V's posterior of the stored frames, in bf16
                exact = full(npz["obs"])
                sigma = exact["logvar"].mul(0.5).exp()
                assert float(((torch.from_numpy(npz["mu"]).float() - exact["mu"]).abs() / sigma).mean()) < 0.03
    assert frame_files(files[0].parent) == [f for f in files if int(f.stem) % 3 == 0]
    assert verify(files[0].parent) == []
    latents_only = next(f for f in files if int(f.stem) % 3)
    with pytest.raises(RolloutError, match="keeps only its latents"):
        load_episode(latents_only)
    assert "mu" in load_episode(latents_only, frames=False)


def test_the_manifest_lists_every_episode_and_the_card_sums_them_by_policy(vision_file):
    cfg = paper_like(blend=(0.5, 0.0, 0.5), seed=40)
    files = collect(cfg, progress=False, make_encoder=collection_encoder)
    folder = files[0].parent
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["data"]["encoder_sha256"] and manifest["data"]["renderer"] == "direct"
    assert manifest["data"]["encoder_precision"] == resolve_precision("auto")  # what ran, never "auto"
    assert sorted(manifest["episode_policies"]) == [f.stem for f in files]
    assert len(manifest["runs"]) == 1 and manifest["runs"][0]["episodes"] == len(files)
    card = json.loads((folder / datacard.CARD).read_text())
    by_policy = card["by_policy"]
    assert sum(g["episodes"] for g in by_policy.values()) == card["all"]["episodes"] == 6
    assert set(by_policy) <= {"random", "pilot"}
    assert card["all"]["steps"] == sum(len(np.load(f)["action"]) for f in files)
    assert abs(sum(card["all"]["speed_histogram"]["share"]) - 1) < 1e-3 and card["wall_seconds"] > 0
    assert card["bytes_per_step"] == round(sum(f.stat().st_size for f in files) / card["all"]["steps"], 1)
    assert "| all | 6 |" in datacard.markdown(card)
    # a second run that finds nothing to do leaves the manifest as it is (a subset names it by its SHA-256)
    before = (folder / "manifest.json").read_bytes()
    collect(cfg, progress=False, make_encoder=collection_encoder)
    assert (folder / "manifest.json").read_bytes() == before


def test_a_resumed_collection_refuses_another_encoder_and_recollects_a_file_missing_its_latents(vision_file, wm_root):
    cfg = paper_like(episodes=3, seed=50)
    files = collect(cfg, progress=False, make_encoder=collection_encoder)
    (wm_root / "checkpoints/gumbel").mkdir()
    shutil.copy(REPO / "checkpoints/gumbel/book.pt", wm_root / "checkpoints/gumbel/book.pt")
    with pytest.raises(ValueError, match="encoder: folder has 'checkpoints/vae/book.pt'"):
        collect(paper_like(episodes=3, seed=50, encoder="checkpoints/gumbel/book.pt"), progress=False,
                make_encoder=collection_encoder)
    with np.load(files[1]) as npz:  # as if written by a collection without the encoder
        arrays = {k: npz[k] for k in npz.files if k not in ("mu", "logvar")}
    save_npz(files[1], **arrays)
    before = files[0].stat().st_mtime_ns
    collect(cfg, progress=False, make_encoder=collection_encoder)
    with np.load(files[1]) as npz:
        assert "mu" in npz.files
    assert files[0].stat().st_mtime_ns == before


def test_collection_settings_are_checked_before_any_work(wm_root):
    with pytest.raises(ConfigError, match="--frames-every"):
        CollectConfig(frames_every=4)
    with pytest.raises(ConfigError, match="--pilot-speed"):
        CollectConfig(policy="pilot", pilot_speed=(80.0, 20.0))
    with pytest.raises(ConfigError, match="--pilot-caution"):
        CollectConfig(policy="pilot", pilot_caution=(0.5, 1.5))
    with pytest.raises(ConfigError, match="--pilot-caution"):
        CollectConfig(policy="pilot", pilot_caution=(0.9, 0.2))
    with pytest.raises(ConfigError, match="--blend"):
        CollectConfig(policy="blend", blend=(0.0, 0.0, 0.0))
    with pytest.raises(ConfigError, match="--renderer fast"):
        CollectConfig(renderer="direct", frame_size=96)
    with pytest.raises(ConfigError, match="--steps"):
        CollectConfig(steps=10**9)
    with pytest.raises(ValueError, match="make_encoder"):
        collect(paper_like(), progress=False)
    with pytest.raises(FileNotFoundError, match="--encoder"):
        collect(paper_like(encoder="checkpoints/vae/missing.pt"), progress=False, make_encoder=collection_encoder)
    assert not list((paths.rollout_dir("scale")).glob("*.npz"))


def test_an_encoder_for_other_frames_is_refused_by_name(vision_file):
    with pytest.raises(ValueError, match="--frame-size 64"):
        collect(paper_like(frame_size=32), progress=False, make_encoder=collection_encoder)


def test_the_card_tells_how_episodes_ended(wm_root, tmp_path):
    def episode(name, reward, terminated, truncated):
        n = len(reward)
        save_npz(tmp_path / f"{name}.npz", action=np.zeros((n, 3), np.float32), reward=np.asarray(reward, np.float32),
                 terminated=np.asarray(terminated), truncated=np.asarray(truncated), seed=np.int64(0),
                 speed=np.full(n, 55.0, np.float32), on_grass=np.asarray([True] + [False] * (n - 1)),
                 policy=np.array(json.dumps({"policy": "pilot"})))
        return tmp_path / f"{name}.npz"

    files = [episode("000001", [3.0, -100.1], [False, True], [False, False]),
             episode("000002", [3.0, 3.0], [False, True], [False, False]),
             episode("000003", [-0.1, -0.1], [False, False], [False, True])]
    card = datacard.describe(files)
    assert card["all"]["ended"] == {"lap_complete": 1, "left_playfield": 1, "time_limit": 1, "running": 0}
    assert card["all"]["grass_share"] == 0.5 and card["all"]["speed_histogram"]["share"][5] == 1.0
    bad = tmp_path / "000004.npz"
    bad.write_bytes(files[0].read_bytes()[:100])
    with pytest.raises(datacard.DataCardError, match="000004.npz"):
        datacard.describe([bad])


def test_encode_packs_the_collected_latents_into_a_memory_mapped_store(vision_file, wm_root):
    from worldmodels.training import vision
    from worldmodels.world.datasets import LatentSequences

    files = collect(paper_like(frames_every=2, seed=60), progress=False, make_encoder=collection_encoder)
    model = load_vision(vision_file)
    store = vision.encode(model, "scale", progress=False, source=VISION)
    assert store == paths.latents_store("vae", "scale") == paths.latents_path("vae", "scale") and store.is_dir()
    latents = LatentSequences.load(store)
    assert isinstance(latents["mu"], np.memmap) and latents["mu"].dtype == np.float16
    assert str(latents["source"]) == VISION and list(latents["seed"]) == [int(f.stem) for f in files]
    for e, f in enumerate(files):
        ep = load_episode(f, frames=False)
        n = len(ep["action"])
        assert latents["length"][e] == n
        assert np.array_equal(latents["mu"][e, : n + 1], ep["mu"]) and not latents["mu"][e, n + 1 :].any()
        assert np.array_equal(latents["reward"][e, :n], ep["reward"])
    stamp = (store / "mu.npy").stat().st_mtime_ns
    assert vision.latents_for(model, "scale", VISION, progress=False) == store  # reused, not packed again
    assert (store / "mu.npy").stat().st_mtime_ns == stamp
    # another V reads the episodes that kept their frames (every 2nd here), into its own latents file
    (wm_root / "checkpoints/gumbel").mkdir()
    shutil.copy(REPO / "checkpoints/gumbel/book.pt", wm_root / "checkpoints/gumbel/book.pt")
    gumbel = load_vision(wm_root / "checkpoints/gumbel/book.pt")
    path = vision.encode(gumbel, "scale", progress=False, source="checkpoints/gumbel/book.pt")
    assert path == paths.latents_store("gumbel", "scale") == paths.latents_path("gumbel", "scale")
    kept = frame_files(paths.rollout_dir("scale"))
    assert len(kept) == 3 < len(files)
    codes = LatentSequences.load(path)
    assert list(codes["seed"]) == [int(f.stem) for f in kept] and str(codes["source"]) == "checkpoints/gumbel/book.pt"
    frames = load_episode(kept[0])["obs"]
    expected = gumbel.encode_frames(frames)["logits"].astype(np.float16)
    assert np.array_equal(codes["logits"][0, : len(frames)], expected)
    stamp = (path / "logits.npy").stat().st_mtime_ns
    assert vision.latents_for(gumbel, "scale", "checkpoints/gumbel/book.pt", progress=False) == path  # reused
    assert (path / "logits.npy").stat().st_mtime_ns == stamp
    # another V of the collection's own kind: its latents would be the encoder's store, so it is refused
    from worldmodels.core import checkpoint

    payload = checkpoint.load(vision_file, kind="vae")
    checkpoint.save(wm_root / "checkpoints/vae/other.pt", {**payload, "history": []})
    with pytest.raises(ValueError, match="encoded as collected by checkpoints/vae/book.pt.*same kind"):
        vision.encode(load_vision(wm_root / "checkpoints/vae/other.pt"), "scale", progress=False,
                      source="checkpoints/vae/other.pt")
    (store / "logvar.npy").unlink()
    with pytest.raises(RolloutError, match="logvar.npy"):
        LatentSequences.load(store)


def test_a_subset_of_the_frame_bearing_episodes_trains_and_encodes_another_v_of_the_collectors_kind(vision_file,
                                                                                                     capsys):
    from worldmodels.cli import main
    from worldmodels.core import checkpoint
    from worldmodels.training import vision
    from worldmodels.training.lineage import lineage
    from worldmodels.world.datasets import LatentSequences, episode_files
    from worldmodels.world.subset import subset

    files = collect(paper_like(frames_every=2, seed=90), progress=False, make_encoder=collection_encoder)
    kept = frame_files(files[0].parent)
    assert main(["subset", "--rollouts", "scale", "--name", "scale_frames"]) == 0
    assert "3 episodes of data/rollouts/scale that kept their frames" in capsys.readouterr().out
    out = paths.rollout_dir("scale_frames")
    assert [f.name for f in episode_files(out)] == [f.name for f in kept] == ["000090.npz", "000092.npz", "000094.npz"]
    assert all((out / f.name).samefile(f) for f in kept)  # hard links: no copy
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["members"] == [90, 92, 94] and manifest["episodes"] == 3 and "encoder" not in manifest["data"]
    assert manifest["subset_of"]["rollouts"] == "scale" and set(manifest["episode_policies"]) == {"000090", "000092",
                                                                                                  "000094"}
    assert verify(out) == [] and frame_files(out) == episode_files(out)
    mix = collection("scale_frames")["mix"]  # what M's card shows of its data
    assert mix["all"]["episodes"] == 3 and mix["subset_of"]["rollouts"] == "scale" and "wall_seconds" not in mix
    assert subset("scale", "scale_frames") == out  # again: the same folder, nothing changed
    # its lineage is its own episodes' steps, not the source's
    steps = sum(len(load_episode(f)["action"]) for f in kept)
    assert lineage(("scale_frames", "rollouts")) == {"rollouts data/rollouts/scale_frames": steps}
    # a V of the collector's kind, refused on the source, encodes the subset like any collection
    payload = checkpoint.load(vision_file, kind="vae")
    checkpoint.save(paths.root() / "checkpoints/vae/other.pt", {**payload, "history": []})
    other = load_vision(paths.root() / "checkpoints/vae/other.pt")
    path = vision.encode(other, "scale_frames", progress=False, source="checkpoints/vae/other.pt")
    latents = LatentSequences.load(path)
    assert path == paths.latents_path("vae", "scale_frames") and list(latents["seed"]) == [90, 92, 94]
    # collect does not fill the gaps between the members; a missing member or a stray file is named
    with pytest.raises(ValueError, match="is a subset of data/rollouts/scale"):
        collect(paper_like(frames_every=2, seed=90), folder=out, progress=False, make_encoder=collection_encoder)
    (out / "000092.npz").unlink()
    assert [str(p.name) for p, _ in verify(out)] == ["000092.npz"] and "subset again" in verify(out)[0][1]
    assert subset("scale", "scale_frames") == out and verify(out) == []  # re-made
    shutil.copy(files[1], out / files[1].name)
    assert "not one of the manifest's seeds (the 3 members of a subset)" in verify(out)[0][1]
    with pytest.raises(ValueError, match="not frame-bearing episodes"):
        subset("scale", "scale_frames")
    with pytest.raises(ValueError, match="the source folder itself"):
        subset("scale", "scale")
    with pytest.raises(FileNotFoundError, match="no rollout folder"):
        subset("nothing", "scale_x")


def test_m_windows_built_in_groups_cover_every_step_once(vision_file):
    from worldmodels.models.vae import ConvVAE
    from worldmodels.training import vision
    from worldmodels.world.datasets import LatentSequences

    collect(paper_like(episodes=7, seed=70), progress=False, make_encoder=collection_encoder)
    latents = LatentSequences.load(vision.encode(load_vision(vision_file), "scale", progress=False, source=VISION))

    def steps(data, epoch):
        seen = []
        for batch in data.batches(3, epoch):
            for latent, mask in zip(batch["latent"], batch["mask"]):
                seen += [tuple(np.round(x, 4)) for x in latent[mask.bool()].numpy()]
        return seen

    whole = LatentSequences(latents, ConvVAE, range(7), 16, seed=1)
    grouped = LatentSequences(latents, ConvVAE, range(7), 16, seed=1, episodes_in_memory=2)
    assert len(steps(grouped, 0)) == len(steps(whole, 0)) == int(latents["length"].sum())
    assert steps(grouped, 0) == steps(grouped, 0) and steps(grouped, 0) != steps(grouped, 1)
    one_group = LatentSequences(latents, ConvVAE, range(7), 16, seed=1, episodes_in_memory=7)
    assert steps(one_group, 3) == steps(whole, 3)  # as many as there are episodes: the same as all at once


def test_m_trains_on_a_store(vision_file):
    from worldmodels.training import memory, vision

    collect(paper_like(episodes=4, seed=80), progress=False, make_encoder=collection_encoder)
    vision.encode(load_vision(vision_file), "scale", progress=False, source=VISION)
    cfg = get_config("smoke", collect={"name": "scale"}, mdnrnn_training={"episodes_in_memory": 2})
    _, history = memory.train("vae", cfg, progress=False)
    assert len(history) == cfg.mdnrnn_training.epochs and np.isfinite(history[-1]["val_loss"])
    card = json.loads(memory.release("vae", cfg, "scale").with_suffix(".json").read_text())
    assert card["data"]["latents"] == ["data/latents/scale_vae"] and card["data"]["encoded_by"] == VISION
    mix = card["data"]["collection"]["mix"]  # the shipped M's card shows its data mix
    assert mix["all"]["episodes"] == 4 and set(mix["by_policy"]) <= {"random", "brownian", "pilot"}


def test_one_group_of_windows_is_held_at_a_time(monkeypatch):
    """The windows of 1,000 episodes of 64-class codes take about 17 GB: a group's are let go before the next
    group's are built (holding both ran the 24 GB machine out of memory)."""
    import gc
    import weakref

    from worldmodels.models.vae import ConvVAE
    from worldmodels.world.datasets import LatentSequences

    class Window(dict):  # a dict that a weak reference can watch
        pass

    E, T = 4, 5
    latents = {"mu": np.zeros((E, T + 1, 32), np.float32), "logvar": np.zeros((E, T + 1, 32), np.float32),
               "action": np.zeros((E, T, 3), np.float32), "reward": np.zeros((E, T), np.float32),
               "terminated": np.zeros((E, T), bool), "length": np.full(E, T)}
    data = LatentSequences(latents, ConvVAE, range(E), 8, episodes_in_memory=2)
    built, alive_when_building = [], []
    windows = data.windows

    def watched(*args, **kwargs):
        gc.collect()
        alive_when_building.append(sum(ref() is not None for ref in built))
        group = [Window(w) for w in windows(*args, **kwargs)]
        built.extend(weakref.ref(w) for w in group)
        return group

    monkeypatch.setattr(data, "windows", watched)
    assert sum(len(batch["mask"]) for batch in data.batches(1)) == E
    assert alive_when_building == [0, 0]  # two groups; none of the first's windows left when the second is built


def test_m_learns_leaving_the_playfield_as_an_end_and_a_finished_lap_as_none():
    from worldmodels.models.vae import ConvVAE
    from worldmodels.world.datasets import LatentSequences

    E, T = 2, 5
    reward = np.full((E, T), -0.1, np.float32)
    reward[0, -1], reward[1, -1] = 3.2, -100.1  # the last tile of a lap; leaving the playfield
    terminated = np.zeros((E, T), bool)
    terminated[:, -1] = True
    latents = {"mu": np.zeros((E, T + 1, 32), np.float32), "logvar": np.zeros((E, T + 1, 32), np.float32),
               "action": np.zeros((E, T, 3), np.float32), "reward": reward, "terminated": terminated,
               "length": np.full(E, T)}
    windows = LatentSequences(latents, ConvVAE, [0, 1], 8).windows(0, shuffle=False)
    assert windows[0]["done"].tolist() == [0.0] * 8  # the lap: no end M should charge -100 for
    assert windows[1]["done"][: T].tolist() == [0, 0, 0, 0, 1.0]


def test_posteriors_too_large_for_memory_go_into_a_store_and_replace_any_npz(vision_file, wm_root, monkeypatch):
    """A plain collection whose posteriors pass ``STORE_ABOVE`` (2,500 episodes of 64-class codes: 20 GB as float32)
    is encoded one episode at a time into the memory-mapped store; once a store is there, small posteriors go into
    it too, so no stale store of another V is read in their place; M trains from it."""
    from worldmodels.training import memory, vision
    from worldmodels.world.datasets import LatentSequences

    cfg = get_config("smoke", collect={"name": "plain", "episodes": 3}, mdnrnn_training={"episodes_in_memory": 2})
    files = collect(cfg.collect, progress=False)
    model = load_vision(vision_file)
    assert vision.encode(model, "plain", progress=False, source=VISION) == wm_root / "data/latents/plain_vae.npz"
    small = vision._posterior_bytes(model, files)
    assert small == 4 * 64 * sum(len(load_episode(f, frames=False)["action"]) + 1 for f in files)  # mu, logvar
    monkeypatch.setattr(vision, "STORE_ABOVE", small - 1)
    store = vision.encode(model, "plain", progress=False, source=VISION)
    assert store == paths.latents_store("vae", "plain") == paths.latents_path("vae", "plain") and store.is_dir()
    latents = LatentSequences.load(store)
    frames = load_episode(files[1])["obs"]
    assert np.array_equal(latents["mu"][1, : len(frames)], model.encode_frames(frames)["mu"].astype(np.float16))
    assert list(latents["seed"]) == [int(f.stem) for f in files] and str(latents["source"]) == VISION
    stamp = (store / "mu.npy").stat().st_mtime_ns
    assert vision.latents_for(model, "plain", VISION, progress=False) == store  # reused, not encoded again
    assert (store / "mu.npy").stat().st_mtime_ns == stamp
    monkeypatch.setattr(vision, "STORE_ABOVE", 2 * 2**30)
    record = json.loads((store / "store.json").read_text())
    (store / "store.json").write_text(json.dumps({**record, "source_sha256": "0" * 64}))  # another V's store
    assert vision.latents_for(model, "plain", VISION, progress=False) == store  # encoded again, into the store
    assert json.loads((store / "store.json").read_text()) == record and (store / "mu.npy").stat().st_mtime_ns != stamp
    _, history = memory.train("vae", cfg, progress=False)
    assert np.isfinite(history[-1]["val_loss"])
