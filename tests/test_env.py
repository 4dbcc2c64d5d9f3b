"""The exact and fast renderers against gymnasium's stock CarRacing-v3."""

import math

import numpy as np
import pygame
import pytest
from conftest import driving_actions, random_actions
from gymnasium.envs.box2d import car_racing as cr

from worldmodels.world.env import make_env
from worldmodels.world.frames import preprocess
from worldmodels.world.geometry import rotation
from worldmodels.world.renderers import FastCarRacing

STEPS = 150


def play(renderer, seed, actions, env_cls=None):
    env = make_env(renderer=renderer)
    if env_cls is not None:  # a deliberately broken renderer, to show the checks catch it
        env.unwrapped.__class__ = env_cls
    obs, info = env.reset(seed=seed)
    frames, outcomes = [obs], []
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        frames.append(obs)
        outcomes.append((reward, terminated, truncated, info))
        if terminated or truncated:
            break
    env.close()
    return np.stack(frames), outcomes


def worst_block_difference(a: np.ndarray, b: np.ndarray, block: int = 4) -> float:
    """Largest mean absolute difference (0-255) over block x block patches of any frame."""
    d = np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(-1)  # (N, 96, 96)
    n, h, w = d.shape
    return float(d.reshape(n, h // block, block, w // block, block).mean((2, 4)).max())


CASES = [(seed, kind) for seed in (0, 7, 123) for kind in ("random", "driving")]


@pytest.fixture(scope="module")
def stock_runs():
    runs = {}
    for seed, kind in CASES:
        actions = (random_actions if kind == "random" else driving_actions)(STEPS, seed)
        runs[seed, kind] = (actions, play("stock", seed, actions))
    return runs


@pytest.mark.parametrize("seed,kind", CASES)
def test_exact_is_bit_identical_to_stock(stock_runs, seed, kind):
    actions, (stock_frames, stock_outcomes) = stock_runs[seed, kind]
    frames, outcomes = play("exact", seed, actions)
    assert outcomes == stock_outcomes
    assert frames.shape == stock_frames.shape
    assert np.array_equal(frames, stock_frames)


@pytest.mark.parametrize("seed,kind", CASES)
def test_fast_matches_stock_physics_and_stays_close_in_pixels(stock_runs, seed, kind):
    actions, (stock_frames, stock_outcomes) = stock_runs[seed, kind]
    frames, outcomes = play("fast", seed, actions)
    assert outcomes == stock_outcomes  # rewards, terminations, truncations, info: identical
    mean_difference = np.abs(frames.astype(np.float32) - stock_frames.astype(np.float32)).mean()
    assert mean_difference <= 1.0, f"mean |fast - stock| = {mean_difference:.3f}/255"
    # no road, car or indicator bar missing or misplaced: every 4x4 patch of every frame agrees
    assert worst_block_difference(frames, stock_frames) < 20.0


@pytest.mark.parametrize("crop", [True, False])
@pytest.mark.parametrize("seed,kind", CASES)
def test_direct_draws_the_preprocessed_stock_state(stock_runs, seed, kind, crop):
    """The direct renderer's 64x64 observation against ``preprocess(stock state)``: the same guards as ``fast``."""
    actions, (stock_frames, stock_outcomes) = stock_runs[seed, kind]
    env = make_env(renderer="direct", frame_size=64, crop=crop)
    obs, _ = env.reset(seed=seed)
    frames, outcomes = [obs], []
    for a in actions[: len(stock_outcomes)]:
        obs, reward, terminated, truncated, info = env.step(a)
        frames.append(obs)
        outcomes.append((reward, terminated, truncated, info))
    frames = np.stack(frames)
    reference = np.stack([preprocess(f, 64, crop=crop) for f in stock_frames])
    assert outcomes == stock_outcomes and frames.shape == reference.shape == (len(frames), 64, 64, 3)
    assert env.observation_space.contains(frames[-1])
    mean_difference = np.abs(frames.astype(np.float32) - reference.astype(np.float32)).mean()
    assert mean_difference <= 1.0, f"mean |direct - preprocess(stock)| = {mean_difference:.3f}/255"
    assert worst_block_difference(frames, reference) < 20.0


def test_direct_frames_are_v_input_and_refused_where_they_do_not_fit():
    from worldmodels.core.config import CollectConfig, ConfigError
    from worldmodels.world.frames import InputSpec

    env = make_env(renderer="direct")
    obs, _ = env.reset(seed=2)
    assert np.array_equal(InputSpec(64, crop=True)(obs[None])[0], obs)  # already V's input: passed through
    with pytest.raises(ValueError, match="fast renderer"):
        make_env(renderer="direct", frame_size=96)
    with pytest.raises(ConfigError, match="--renderer fast"):
        CollectConfig(renderer="direct", frame_size=96)


class _FastWithoutCar(FastCarRacing):
    def _car_polygons(self, affine):
        polygons, _colors = super()._car_polygons(affine)
        return polygons[:0], []


def test_block_check_catches_a_missing_car(stock_runs):
    actions, (stock_frames, _) = stock_runs[0, "driving"]
    frames, _ = play("fast", 0, actions, env_cls=_FastWithoutCar)
    assert worst_block_difference(frames, stock_frames) > 20.0


@pytest.mark.parametrize("renderer", ["exact", "fast"])
def test_leaving_the_playfield_terminates_like_stock(renderer):
    results = []
    for name in ("stock", renderer):
        env = make_env(renderer=name)
        env.reset(seed=3)
        env.unwrapped.car.hull.position = (cr.PLAYFIELD + 5.0, 0.0)
        results.append(env.step(np.array([0.0, 0.5, 0.0], dtype=np.float32))[1:])
    assert results[0] == results[1]
    reward, terminated, _truncated, info = results[0]
    assert reward == -100 and terminated and info == {"lap_finished": False}


def test_time_limit_truncates_at_1000_steps():
    env = make_env(renderer="fast")
    env.reset(seed=1)
    truncated = False
    for t in range(1000):
        _, _, terminated, truncated, _ = env.step(np.array([0.0, 0.0, 1.0], dtype=np.float32))
        assert not terminated
    assert truncated and t == 999


@pytest.mark.parametrize("angle", [0.0, math.pi / 2, -math.pi / 2, math.pi, 0.3, -2.9, 7.5, 1e-9])
def test_rotation_matches_pygame_bit_for_bit(angle):
    c, s = rotation(angle)
    for x, y in [(1.0, 0.0), (0.3, -2.7), (123.456, 78.9)]:
        expected = pygame.math.Vector2(x, y).rotate_rad(angle)
        assert (c * x - s * y, s * x + c * y) == (expected[0], expected[1])


def test_make_env_rejects_unknown_renderer():
    with pytest.raises(ValueError, match="renderer='gpu'"):
        make_env(renderer="gpu")


def test_video_frames_use_the_exact_path():
    stock = make_env(renderer="stock", render_mode="rgb_array")
    fast = make_env(renderer="fast", render_mode="rgb_array")
    for env in (stock, fast):
        env.reset(seed=5)
        env.step(np.array([0.1, 0.5, 0.0], dtype=np.float32))
    a, b = stock.render(), fast.render()
    assert a.shape == (400, 600, 3) and np.array_equal(a, b)


def test_preprocess_shapes_and_crop():
    frame = np.zeros((96, 96, 3), dtype=np.uint8)
    frame[84:] = 255  # the indicator bar
    assert preprocess(frame).shape == (64, 64, 3)
    assert preprocess(frame, crop=False).max() == 255
    cropped = preprocess(frame, crop=True)
    assert cropped.dtype == np.uint8 and cropped.shape == (64, 64, 3) and cropped.max() == 0
    with pytest.raises(ValueError, match="uint8"):
        preprocess(frame.astype(np.float32))
