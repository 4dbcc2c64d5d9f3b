"""C: parameter counts, flat get/set, and actions that always stay inside the action space."""

import numpy as np
import pytest

from worldmodels.core.config import ControllerConfig
from worldmodels.models.controller import LinearController, squash


def test_paper_controller_has_867_parameters():
    assert LinearController(ControllerConfig()).num_params == 867
    assert LinearController(ControllerConfig(inputs="z")).num_params == 32 * 3 + 3
    assert LinearController(ControllerConfig(hidden_layer=16)).num_params == 288 * 16 + 16 + 16 * 3 + 3
    assert LinearController(ControllerConfig(), latent_size=32 * 32).num_params == (1024 + 256) * 3 + 3


def test_flat_round_trip_and_layout():
    c = LinearController(ControllerConfig(inputs="z"), latent_size=2)
    params = np.arange(9, dtype=np.float64)  # W (3, 2) row by row, then b (3,)
    c.set_flat(params)
    assert np.array_equal(c.get_flat(), params)
    weight, bias = c.layers[0]
    assert np.array_equal(weight, [[0, 1], [2, 3], [4, 5]]) and np.array_equal(bias, [6, 7, 8])
    raw = np.array([[1.0, -1.0]]) @ weight.T + bias
    assert np.allclose(c.act(np.array([[1.0, -1.0]])), squash(raw))


def test_bad_parameters_and_inputs_are_refused():
    c = LinearController(ControllerConfig())
    with pytest.raises(ValueError, match="expects 867 parameters"):
        c.set_flat(np.zeros(866))
    with pytest.raises(ValueError, match="non-finite"):
        c.set_flat(np.full(867, np.nan))
    with pytest.raises(ValueError, match="pass the MDN-RNN's hidden state"):
        c.act(np.zeros((1, 32)))
    with pytest.raises(ValueError, match="not finite"):
        c.act(np.full((1, 32), np.nan), np.zeros((1, 256)))
    with pytest.raises(ValueError, match="expected 288"):
        c.act(np.zeros((1, 30)), np.zeros((1, 256)))


@pytest.mark.parametrize("scale", [0.1, 10.0, 1e6])
def test_actions_are_finite_and_inside_the_action_space(scale):
    rng = np.random.default_rng(0)
    c = LinearController(ControllerConfig(hidden_layer=8), rng.normal(0, scale, 288 * 8 + 8 + 8 * 3 + 3))
    actions = c.act(rng.normal(0, scale, (500, 32)), rng.normal(0, 1, (500, 256)))
    assert actions.shape == (500, 3) and actions.dtype == np.float32 and np.all(np.isfinite(actions))
    assert np.all(actions >= [-1, 0, 0]) and np.all(actions <= [1, 1, 1])


def test_discrete_codes_are_flattened():
    c = LinearController(ControllerConfig(), latent_size=4 * 5)
    codes = np.eye(5)[np.array([[0, 1, 2, 3]])]  # (1, 4, 5) one-hot
    assert c.act(codes, np.zeros((1, 256))).shape == (1, 3)
