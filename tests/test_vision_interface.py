"""Every kind of V keeps the interface the pipeline reads (worldmodels.models.vision.Vision), so no code above
the models asks which latent it holds."""

import numpy as np
import pytest
import torch

from worldmodels import get_config
from worldmodels.models.registry import LATENTS, build_vision, latents_class, vision_class
from worldmodels.world.frames import InputSpec


@pytest.fixture(params=LATENTS)
def vision(request):
    cfg = get_config("smoke", gumbel={"num_vars": 4, "num_classes": 5})
    return build_vision(request.param, cfg, InputSpec(crop=False)).eval()


def test_every_kind_offers_the_same_shapes(vision):
    frames = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        posterior = vision.posterior(frames)
        assert tuple(posterior) == vision.posterior_keys
        code = vision.code(posterior)
        assert code.shape == (3, *vision.code_shape) and vision.code_size == int(np.prod(vision.code_shape))
        assert vision.decode(code).shape == (3, 3, 64, 64)
        assert vision.prior_codes(2, torch.Generator().manual_seed(0)).shape == (2, *vision.code_shape)
        assert vision.kl(posterior).shape == (3,)
    loss, parts = vision.loss_step(frames, 0, torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss) and "reconstruction" in parts
    arrays = {k: v.numpy() for k, v in posterior.items()}  # one episode of 3 frames
    inputs, targets = vision.training_codes(arrays, np.random.default_rng(0))
    assert inputs.shape == (3, *vision.code_shape) and len(targets) == 3
    assert vision.input_spec == InputSpec(crop=False)
    assert vision_class(vision.latent) is type(vision) and latents_class(arrays) is type(vision)


def test_soft_codes_only_where_a_kind_has_them(vision):
    posterior = vision.posterior(torch.rand(2, 3, 64, 64))
    if vision.soft_codes:
        soft = vision.controller_input(posterior, soft=True)
        assert soft.shape == (2, *vision.code_shape) and torch.allclose(soft.sum(-1), torch.ones(2, *vision.code_shape[:-1]))
    else:
        with pytest.raises(ValueError, match="no soft codes"):
            vision.controller_input(posterior, soft=True)


def test_an_unknown_kind_is_named():
    with pytest.raises(ValueError, match="unknown kind of V 'beta'"):
        vision_class("beta")
    with pytest.raises(ValueError, match="holds none of the posteriors"):
        latents_class({"action": np.zeros(1)})
