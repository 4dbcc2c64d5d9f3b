"""Reliability, second round: names that cannot leave the data folder, locks that follow no link, releases that
cannot interleave, one meaning of a relative path, only regular files read, every malformed file refused by name,
a manifest that cannot be fooled, and every input checked before the work. One section per family of the issue."""

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO

from worldmodels.agent.files import load_agent_file
from worldmodels.cli import main, parse, rooted
from worldmodels.core import checkpoint, paths
from worldmodels.core.config import CollectConfig
from worldmodels.core.presets import get_config
from worldmodels.core.storage import RunLockedError, WriteError, file_lock, load_json, open_regular, run_lock, save_json
from worldmodels.core.validation import ConfigError, name_problem
from worldmodels.models.mdnrnn import load as load_mdnrnn
from worldmodels.models.registry import load_vision
from worldmodels.training import memory, release
from worldmodels.world.datasets import LatentSequences, RolloutError, episode_files, read_manifest, verify

SHIPPED_M = sorted((REPO / "checkpoints" / "mdnrnn").glob("*.pt"))
SHIPPED_AGENTS = sorted((REPO / "checkpoints" / "controller").glob("*.pt"))


def copy_shipped(wm_root: Path) -> None:
    """Every shipped checkpoint and card, into the temporary project root."""
    for f in (REPO / "checkpoints").rglob("*"):
        if f.is_file():
            (wm_root / f.relative_to(REPO)).parent.mkdir(parents=True, exist_ok=True)
            (wm_root / f.relative_to(REPO)).write_bytes(f.read_bytes())


def error_of(capsys, argv: list[str]) -> str:
    """Run the command line, which must refuse (exit 2); its message."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    return captured.err + captured.out


def flat(text: str) -> str:
    """A message as one line, without the box tyro draws around it."""
    return " ".join(text.replace("│", " ").split())


# -- 1. every shipped file works with every command that accepts it -------------------------------------------
@pytest.mark.parametrize("path", SHIPPED_M, ids=lambda p: p.stem)
def test_every_shipped_m_loads_and_names_the_data_it_learnt_from(path):
    assert load_mdnrnn(path).cfg.latent in ("vae", "gumbel")
    mix = memory.mix_of_run(path)
    assert mix and all(name_problem(name) is None and weight >= 1 for name, weight in mix)


@pytest.mark.parametrize("path", SHIPPED_AGENTS, ids=lambda p: p.stem)
def test_every_shipped_agent_loads_with_its_v_and_m(path):
    spec, params, _ = load_agent_file(path)
    assert params.ndim == 1 and np.isfinite(params).all()
    load_vision(REPO / spec.vision)


def test_a_new_users_first_iterate_says_which_latents_it_needs_before_any_work(wm_root, capsys):
    copy_shipped(wm_root)
    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 0
    err = error_of(capsys, ["iterate", "--scale", "smoke", "--name", "x", "--quiet"])
    assert "no latents of 'book', which M_0 (checkpoints/mdnrnn/vae_book.pt) learnt from" in err
    assert "python -m worldmodels encode --rollouts book" in err and "KeyError" not in err
    assert not (wm_root / "data" / "runs" / "iterate_vae_x").exists()  # nothing written, so nothing to poison


def test_an_m_file_that_records_no_data_is_named(wm_root):
    payload = torch.load(REPO / "checkpoints" / "mdnrnn" / "vae_paper.pt", weights_only=True)
    del payload["config"]["latents"]
    torch.save(payload, wm_root / "m.pt")
    with pytest.raises(ValueError, match="m.pt: an M file whose config does not record the latents .* --mix"):
        memory.mix_of_run(wm_root / "m.pt")


# -- 2. names are names; locks follow no link ------------------------------------------------------------------
BAD_NAMES = ["../../../x", "/etc", "a/b", "..", ".hidden", "", "with space", "x" * 101, "-flag"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_name_that_is_not_one_safe_path_component_is_refused(name):
    assert name_problem(name) is not None
    with pytest.raises(ConfigError):
        CollectConfig(name=name)
    with pytest.raises(ConfigError):
        paths.rollout_dir(name)
    with pytest.raises(ConfigError):
        paths.controller_release("vae", name)


@pytest.mark.parametrize("argv", [
    ["collect", "--name", "../../../x"], ["train-vae", "--release", "../../../outside/v"],
    ["train-vae", "--rollouts", "../x"], ["train-gumbel", "--run", "a/b"], ["encode", "--rollouts", "/tmp/x"],
    ["train-mdnrnn", "--run", "../r"], ["train-mdnrnn", "--mix", "../x:2"], ["evolve", "--name", "../e"],
    ["evolve", "--world-model", "../w"], ["evolve", "--release", "../r"], ["iterate", "--name", "../i"],
    ["iterate", "--mix", "a/b"], ["dream-check", "m.pt", "--rollouts", "../d"], ["reproduce", "--name", "../p"],
], ids=lambda a: " ".join(a[:2]))
def test_every_name_flag_refuses_a_path_before_any_work(argv, wm_root, capsys):
    before = set(wm_root.parent.iterdir())
    code = main([argv[0], "--scale", "smoke", *argv[1:]])
    captured = capsys.readouterr()
    assert code == 2
    assert "a name is one folder or file name" in flat(captured.err + captured.out)
    assert set(wm_root.parent.iterdir()) == before  # nothing written beside the root
    assert not (wm_root / "data").exists() or not any((wm_root / "data").rglob("*.npz"))


def test_a_planted_lock_link_is_refused_and_its_target_never_made(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    target = tmp_path / "outside" / "planted"
    target.parent.mkdir()
    (run / ".lock").symlink_to(target)
    with pytest.raises(WriteError, match=r"\.lock: a lock file that is a symbolic link, which is never followed"), \
            run_lock(run):
        pass
    assert not target.exists()


def test_a_lock_that_is_a_fifo_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / ".lock")
    started = time.perf_counter()
    with pytest.raises(WriteError, match="not a regular file"), run_lock(tmp_path):
        pass
    assert time.perf_counter() - started < 5


# -- 3. two releases of one name at once -----------------------------------------------------------------------
def test_a_second_release_of_one_name_waits_for_the_first_then_is_refused(tmp_path):
    path = tmp_path / "checkpoints" / "vae" / "dup.pt"
    outcome = {}

    def second():
        try:
            release.write(path, {"kind": "vae", "model": {}, "config": {}}, {"run": "second"})
            outcome["released"] = True
        except release.ReleaseExistsError as e:
            outcome["refused"] = str(e)

    with file_lock(release.lock_path(path)):  # the first release is writing
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive() and not path.exists()  # the second waits rather than interleaving
        checkpoint.save(path, {"kind": "vae", "model": {}, "config": {}, "card": {"run": "first"}})
        save_json(path.with_suffix(".json"), {"run": "first"})
    thread.join(30)
    assert "already released" in outcome["refused"]
    assert load_json(path.with_suffix(".json")) == {"run": "first"}
    assert checkpoint.load(path)["card"] == {"run": "first"}


def test_a_release_lock_held_too_long_is_reported_not_waited_on_forever(tmp_path):
    with file_lock(tmp_path / ".x.lock"), pytest.raises(RunLockedError, match="held this lock for over"), \
            file_lock(tmp_path / ".x.lock", timeout=0.2):
        pass


# -- 5. one meaning of a relative path -------------------------------------------------------------------------
def test_relative_path_flags_are_taken_from_the_project_root_once(wm_root, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    _, args = parse(["evolve", "--scale", "smoke", "--vision", "checkpoints/vae/book.pt", "--mdnrnn", "/abs/m.pt"])
    args = rooted(args)
    assert args.vision == wm_root / "checkpoints" / "vae" / "book.pt" and args.mdnrnn == Path("/abs/m.pt")
    _, args = parse(["dream-check", "m.pt", "--scale", "smoke", "--agents", "a.pt", "b/c.pt"])
    assert rooted(args).agents == (wm_root / "a.pt", wm_root / "b" / "c.pt")


def test_encode_run_from_another_folder_reads_the_roots_v(wm_root, tmp_path, monkeypatch, capsys):
    copy_shipped(wm_root)
    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["encode", "--scale", "smoke", "--checkpoint", "checkpoints/vae/book.pt", "--quiet"]) == 0
    assert LatentSequences.load(paths.latents_path("vae", "smoke"))["source"] == "checkpoints/vae/book.pt"


# -- 6. only regular files are read ----------------------------------------------------------------------------
def test_an_agent_whose_v_is_a_device_is_refused_at_once(wm_root, tmp_path):
    copy_shipped(wm_root)
    payload = torch.load(wm_root / "checkpoints" / "controller" / "vae_book.pt", weights_only=True)
    payload["spec"]["vision"] = "/dev/zero"
    torch.save(payload, tmp_path / "zero.pt")
    started = time.perf_counter()
    with pytest.raises(ValueError, match="/dev/zero: a device, FIFO or socket, not a regular file"):
        load_agent_file(tmp_path / "zero.pt")
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("reader", [checkpoint.load, load_json, open_regular], ids=["checkpoint", "json", "hash"])
def test_devices_fifos_and_folders_are_never_read(reader, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    for path in ("/dev/zero", tmp_path / "fifo", tmp_path):
        with pytest.raises(ValueError, match="not a regular file"):
            reader(path)


def test_a_fifo_named_like_an_episode_or_latents_is_refused_not_waited_on(tmp_path):
    from worldmodels.world.datasets import load_episode

    os.mkfifo(tmp_path / "000001.npz")
    os.mkfifo(tmp_path / "x_vae.npz")
    started = time.perf_counter()
    with pytest.raises(RolloutError, match="not a regular file"):
        load_episode(tmp_path / "000001.npz")
    with pytest.raises(RolloutError, match="not a regular file"):
        LatentSequences.load(tmp_path / "x_vae.npz")
    assert any("not a regular file" in err for _, err in verify(tmp_path))
    assert time.perf_counter() - started < 5


def test_a_file_larger_than_any_checkpoint_is_refused_by_size(tmp_path):
    huge = tmp_path / "huge.pt"
    with open(huge, "wb") as f:
        f.truncate(checkpoint.MAX_BYTES + 1)  # sparse: no disk used
    with pytest.raises(checkpoint.CheckpointError, match="more than any checkpoint holds"):
        checkpoint.load(huge)


# -- 7. malformed files are refused by name, with the fix ------------------------------------------------------
def mutated_agent(tmp_path, change) -> Path:
    payload = torch.load(REPO / "checkpoints" / "controller" / "vae_book.pt", weights_only=True)
    change(payload)
    torch.save(payload, tmp_path / "agent.pt")
    return tmp_path / "agent.pt"


@pytest.mark.parametrize("change, message", [
    (lambda p: p.pop("spec"), "an agent file with no 'spec'"),
    (lambda p: p.update(spec=["x"]), "an agent file with no 'spec'"),
    (lambda p: p["spec"].pop("vision_sha256"), "a 'spec' with keys"),
    (lambda p: p["spec"].update(vision=3), "not paths and hex digests"),
    (lambda p: p["spec"]["controller"].update(inputs="zz"), "controller config is malformed"),
    (lambda p: p["model"].pop("params"), "no flat float 'params'"),
    (lambda p: p["model"].update(params=torch.zeros(2, 2)), "no flat float 'params'"),
    (lambda p: p.update(model=[1, 2]), "its 'model' is not a state dict"),
    (lambda p: p["model"].update(params=p["model"]["params"] * float("nan")), "NaN or infinite"),
], ids=["no spec", "spec a list", "spec key missing", "spec types", "controller", "no params", "params 2d",
        "model a list", "nan"])
def test_a_malformed_agent_file_is_refused_by_name(tmp_path, change, message):
    with pytest.raises(checkpoint.CheckpointError, match=message) as e:
        load_agent_file(mutated_agent(tmp_path, change))
    assert str(e.value).startswith(str(tmp_path / "agent.pt"))


@pytest.mark.parametrize("source, loader", [("vae/book.pt", load_vision), ("mdnrnn/vae_paper.pt", load_mdnrnn),
                                            ("mdnrnn/vae_book.pt", load_mdnrnn)], ids=["V", "M", "M first format"])
@pytest.mark.parametrize("change, message", [
    (lambda p: p.update(config={}), "model section"),
    (lambda p: p.update(config={"model": [1], "training": {}, "vae": "x", "mdnrnn": "x"}), "model section"),
    (lambda p: p["model"].update({k: v * float("nan") for k, v in p["model"].items()}), "NaN or infinite"),
], ids=["config empty", "section not a dict", "nan weights"])
def test_a_malformed_v_or_m_is_refused_by_name(tmp_path, source, loader, change, message):
    payload = torch.load(REPO / "checkpoints" / source, weights_only=True)
    change(payload)
    torch.save(payload, tmp_path / "model.pt")
    with pytest.raises(checkpoint.CheckpointError, match=message):
        loader(tmp_path / "model.pt")


def test_a_planted_pickle_never_passes_on_torchs_weights_only_advice(tmp_path):
    torch.save({"model": {}, "config": {}, "x": Path("/tmp")}, tmp_path / "planted.pt")  # a pickled object
    with pytest.raises(checkpoint.CheckpointError) as e:
        checkpoint.load(tmp_path / "planted.pt")
    assert "weights_only" not in str(e.value) and "never loaded" in str(e.value)


def test_a_broken_release_is_never_to_be_deleted_but_restored(wm_root):
    path = wm_root / "checkpoints" / "vae" / "book.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError) as e:
        checkpoint.load(path)
    assert "delete" not in str(e.value) and "git checkout -- checkpoints/vae/book.pt" in str(e.value)
    run = wm_root / "data" / "runs" / "vae_x" / "last.pt"
    run.parent.mkdir(parents=True)
    run.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(checkpoint.CheckpointError, match="delete it and train again"):
        checkpoint.load(run)


@pytest.mark.parametrize("manifest, message", [
    ([], "a manifest is a JSON object, this one is a list"),
    ({"data": [], "seeds": [0, 1]}, "its 'data'"),
    ({"data": {}, "seeds": [3]}, "its 'seeds'"),
    ({"data": {}, "seeds": [5, 1]}, "its 'seeds'"),
    ({"data": {"steps": "many"}, "seeds": [0, 1]}, "data.steps"),
    ({"data": {}, "seeds": [0, 1], "episode_policies": []}, "'episode_policies' is not a JSON object"),
], ids=["list", "data", "seeds short", "seeds reversed", "steps", "episode_policies"])
def test_a_malformed_manifest_is_refused_by_name(tmp_path, manifest, message):
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RolloutError, match=message):
        read_manifest(tmp_path)
    assert any(message.split(" ")[0] in err for _, err in verify(tmp_path))


def latents(E=2, T=4, **change):
    arrays = {"mu": np.zeros((E, T + 1, 3), np.float32), "logvar": np.zeros((E, T + 1, 3), np.float32),
              "action": np.zeros((E, T, 3), np.float32), "reward": np.zeros((E, T), np.float32),
              "terminated": np.zeros((E, T), bool), "length": np.full(E, T)}
    return {**arrays, **change}


@pytest.mark.parametrize("arrays, message", [
    (latents(length=np.zeros(2, int)), "holds no steps"),
    (latents(E=0), "holds no steps"),
    (latents(action=np.zeros((2, 4), np.float32)), "action has shape"),
    (latents(reward=np.zeros((2, 5), np.float32)), "reward has shape"),
    (latents(length=np.array([4, 9])), "length must be"),
    (latents(length=np.array([4.0, 4.0])), "length must be"),
    (latents(mu=np.zeros((2, 3, 3), np.float32)), "mu has shape"),
], ids=["zero lengths", "no episodes", "action", "reward", "length too long", "length float", "mu"])
def test_malformed_latents_are_refused_by_name(tmp_path, arrays, message):
    np.savez(tmp_path / "x_vae.npz", **arrays)
    with pytest.raises(RolloutError, match=message):
        LatentSequences.load(tmp_path / "x_vae.npz")


# -- 8. verify and the manifest cannot be fooled ---------------------------------------------------------------
@pytest.fixture
def smoke_folder(wm_root):
    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 0
    return wm_root / "data" / "rollouts" / "smoke"


def test_a_foreign_episode_is_named_by_verify_and_never_trained_on(smoke_folder):
    (smoke_folder / "000077.npz").write_bytes((smoke_folder / "000001.npz").read_bytes())
    assert [p.name for p in episode_files(smoke_folder)] == [f"{s:06d}.npz" for s in range(4)]
    assert any(p.name == "000077.npz" and "not one of the manifest's seeds" in err for p, err in verify(smoke_folder))


def test_a_manifest_that_claims_longer_episodes_than_its_files_is_caught(smoke_folder):
    manifest = load_json(smoke_folder / "manifest.json")
    manifest["data"]["steps"] = 1000
    save_json(smoke_folder / "manifest.json", manifest)
    bad = verify(smoke_folder)
    assert len(bad) == 4 and all("where the manifest says 1000" in err for _, err in bad)


def test_an_episode_renamed_to_another_seed_is_caught(smoke_folder):
    (smoke_folder / "000001.npz").write_bytes((smoke_folder / "000002.npz").read_bytes())
    assert any("holds the episode of seed 2, not 1" in err for _, err in verify(smoke_folder))


def test_a_broken_agent_stops_collect_before_it_writes_a_manifest(wm_root, capsys):
    copy_shipped(wm_root)
    (wm_root / "broken.pt").write_bytes(b"PK\x03\x04 not an agent")
    args = ["collect", "--scale", "smoke", "--backend", "serial", "--quiet", "--name", "a", "--policy", "agent"]
    assert "broken.pt: unreadable checkpoint" in error_of(capsys, [*args, "--agent", "broken.pt"])
    assert not (wm_root / "data" / "rollouts" / "a" / "manifest.json").exists()
    assert main([*args, "--agent", "checkpoints/controller/vae_book.pt"]) == 0  # the corrected command runs


# -- 4. inputs that change under a run -------------------------------------------------------------------------
def test_an_m_whose_latents_changed_since_it_trained_is_not_released(world_model, wm_root, capsys):
    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 0
    assert main(["encode", "--scale", "smoke", "--checkpoint", str(world_model[0]), "--quiet"]) == 0
    assert main(["train-mdnrnn", "--scale", "smoke", "--epochs", "1", "--quiet"]) == 0
    latents = paths.latents_path("vae", "smoke")
    arrays = dict(np.load(latents))
    arrays["mu"] = arrays["mu"] + 1.0  # as if encoded again by another V while the run sat finished
    np.savez(latents, **arrays)
    err = error_of(capsys, ["train-mdnrnn", "--scale", "smoke", "--epochs", "1", "--release", "moved", "--quiet"])
    assert "its inputs changed since the run began (data/latents/smoke_vae.npz)" in err  # no resume on other data
    with pytest.raises(ValueError, match="data/latents/smoke_vae.npz changed since this run read them"):
        memory.release("vae", get_config("smoke"), "moved")  # nor a release of it
    assert not (wm_root / "checkpoints" / "mdnrnn" / "vae_moved.pt").exists()


# -- 9. every input checked before the work, every number in a range, every wait bounded ----------------------
@pytest.mark.parametrize("argv, flag", [
    (["reproduce", "--generations", "-3"], "--generations"), (["reproduce", "--generations", "0"], "--generations"),
    (["reproduce", "--episodes", "0"], "--episodes"),
    (["dream-check", "m.pt", "--tau", "0"], "--tau"), (["dream-check", "m.pt", "--tau", "-1"], "--tau"),
    (["dream-check", "m.pt", "--tau", "1e12"], "--tau"), (["evolve", "--dream-tau", "1e12"], "--dream-tau"),
    (["evaluate", "a.pt", "--episodes", "1000000000000"], "--episodes"),
    (["evaluate", "a.pt", "--max-steps", "100000000"], "--max-steps"),
    (["evolve", "--max-steps", "100000000"], "--max-steps"), (["evolve", "--population", "10000000000"], "--population"),
    (["collect", "--episodes", "100000000000"], "--episodes"), (["train-vae", "--epochs", "10000000000"], "--epochs"),
    (["train-mdnrnn", "--sequence-length", "0"], "--sequence-length"),
], ids=lambda x: " ".join(x) if isinstance(x, list) else x)
def test_a_number_outside_its_range_is_refused_before_any_work(argv, flag, wm_root, capsys):
    err = flat(error_of(capsys, argv if argv[0] == "evaluate" else [*argv, "--scale", "smoke"]))  # evaluate: no scale
    assert f"({flag})" in err and ("must be at least" in err or "must be at most" in err)
    assert not (wm_root / "checkpoints").exists() and not (wm_root / "data").exists()


def test_every_number_of_every_config_and_command_declares_its_range_beside_it():
    import dataclasses
    import typing

    from worldmodels import commands
    from worldmodels.core import config
    from worldmodels.core.validation import ranges

    open_ended = []
    for module in (config, commands):
        for cls in vars(module).values():
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)) or cls.__module__ != module.__name__:
                continue
            hints, limits = typing.get_type_hints(cls), ranges(cls)
            for f in dataclasses.fields(cls):
                parts = set(typing.get_args(hints[f.name])) - {type(None), Ellipsis} or {hints[f.name]}
                if parts <= {int, float} and f.name not in limits:
                    open_ended.append(f"{cls.__name__}.{f.name}")
    assert open_ended == []


def test_a_ray_address_that_does_not_answer_is_refused_within_its_timeout():
    from worldmodels.core.parallel import check_ray_address

    started = time.perf_counter()
    with pytest.raises(ValueError, match="--ray-address '127.0.0.1:1': nothing answers"):
        check_ray_address("127.0.0.1:1", timeout=2)
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        check_ray_address("nohost")
    assert time.perf_counter() - started < 5


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_encode_and_dream_check_refuse_a_read_only_data_folder_before_any_work(world_model, wm_root, capsys):
    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 0
    for folder in ("latents", "dream_check"):
        (wm_root / "data" / folder).mkdir(parents=True, exist_ok=True)
        (wm_root / "data" / folder).chmod(0o500)
    try:
        assert "cannot write there" in error_of(capsys, ["encode", "--scale", "smoke", "--checkpoint",
                                                         str(world_model[0]), "--quiet"])
        assert "cannot write there" in error_of(capsys, ["dream-check", str(world_model[1]), "--scale", "smoke"])
    finally:
        for folder in ("latents", "dream_check"):
            (wm_root / "data" / folder).chmod(0o700)


def test_encode_and_dream_check_check_their_folders_before_any_work(world_model, wm_root, capsys, monkeypatch):
    """The same, where the tests run as root (who may write anywhere): the check is made, and made first."""
    from worldmodels.core import storage

    assert main(["collect", "--scale", "smoke", "--backend", "serial", "--quiet"]) == 0

    def refuse(*folders):
        raise WriteError(30, f"{folders[0]}: cannot write there (read-only)")

    monkeypatch.setattr(storage, "check_writable", refuse)
    assert "latents: cannot write there" in error_of(capsys, ["encode", "--scale", "smoke", "--checkpoint",
                                                              str(world_model[0]), "--quiet"])
    assert not (wm_root / "data" / "latents" / "smoke_vae.npz").exists()
    assert "dream_check: cannot write there" in error_of(capsys, ["dream-check", str(world_model[1]), "--scale",
                                                                  "smoke"])
    assert not (wm_root / "data" / "dream_check").exists()


# -- 10. caches are checked against what they summarise --------------------------------------------------------
def test_a_cached_real_return_that_fails_its_check_is_dropped(tmp_path):
    from worldmodels.core.config import DreamCheckConfig
    from worldmodels.training import dream_check as dc

    cfg = DreamCheckConfig(tracks=2, max_steps=30)
    key = {"vision_sha256": "v", "mdnrnn_sha256": "m", "seed": 1, "tracks": 2, "max_steps": 30, "renderer": "fast"}
    good = {"returns": [1.0, 2.0], "steps": 60, "check": dc._entry_check(key, "a", [1.0, 2.0], 60)}
    entries = {"a": good, "edited": {**good, "returns": [900.0, 2.0]}, "b": {**good},
               "steps": {**good, "steps": 10_000}, "nan": {**good, "returns": [float("nan"), 1.0]}}
    save_json(tmp_path / "real.json", {"key": key, "entries": entries})
    assert dc._read_cache(tmp_path / "real.json", key, cfg) == {"a": good}  # "b" carries "a"'s check
    assert dc._read_cache(tmp_path / "real.json", {**key, "mdnrnn_sha256": "other"}, cfg) == {}
    (tmp_path / "real.json").write_text("[1, 2")
    assert dc._read_cache(tmp_path / "real.json", key, cfg) == {}


# -- 11. notebook switches ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [("0", False), ("1", True), (None, False)])
def test_wm_train_accepts_0_and_1(value, expected, monkeypatch):
    from worldmodels.core.presets import env_switch

    if value is None:
        monkeypatch.delenv("WM_TRAIN", raising=False)
    else:
        monkeypatch.setenv("WM_TRAIN", value)
    assert env_switch("WM_TRAIN") is expected


@pytest.mark.parametrize("value", ["maybe", "true", "yes", "", " 1", "2"])
def test_wm_train_refuses_anything_else_with_the_accepted_values(value, monkeypatch):
    from worldmodels.core.presets import env_scale, env_switch

    monkeypatch.setenv("WM_TRAIN", value)
    with pytest.raises(ValueError, match=r"WM_TRAIN=.*expected 0 \(no\) or 1 \(yes\)"):
        env_switch("WM_TRAIN")
    monkeypatch.setenv("WM_SCALE", "huge")
    with pytest.raises(ValueError, match="WM_SCALE='huge': expected one of smoke, book, paper"):
        env_scale()


def test_every_notebook_reads_its_switches_through_the_checked_readers():
    for notebook in sorted((REPO / "notebooks").glob("0*.py")):
        text = notebook.read_text()
        assert "os.environ" not in text, notebook.name
        assert 'SCALE = env_scale("WM_SCALE")' in text, notebook.name
        if "TRAIN" in text:
            assert 'TRAIN = env_switch("WM_TRAIN")' in text, notebook.name


@pytest.mark.parametrize("text, message", [("[1]", "a card is a JSON object, this one is a list"),
                                           ('{"evaluation": [1]}', "its 'evaluation' is not a JSON object"),
                                           ("{", "not valid JSON")])
def test_a_malformed_card_is_refused_by_name(tmp_path, text, message):
    from worldmodels import results
    from worldmodels.core.storage import load_card

    (tmp_path / "agent.json").write_text(text)
    with pytest.raises(ValueError, match=message):
        load_card(tmp_path / "agent.json")
    with pytest.raises(ValueError, match="agent.json"):
        results.card(tmp_path / "agent.pt")
