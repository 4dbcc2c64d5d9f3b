import pytest

from worldmodels.core.config import from_dict, to_dict
from worldmodels.core.presets import get_config
from worldmodels.core.validation import ConfigError


def test_presets_follow_the_seed_and_the_paper():
    assert (get_config("book").collect.episodes, get_config("book").collect.steps) == (200, 300)
    assert get_config("book").collect.action_refresh == 20
    assert (get_config("paper").collect.episodes, get_config("paper").collect.steps) == (10_000, 1_000)
    assert get_config("smoke").collect.episodes < 10


def test_overrides_and_errors():
    assert get_config("smoke", collect={"steps": 7}).collect.steps == 7
    with pytest.raises(ValueError, match="unknown scale"):
        get_config("huge")
    with pytest.raises(ValueError, match="no fields \\['stepz'\\]"):
        get_config("smoke", collect={"stepz": 1})
    with pytest.raises(ValueError, match="unknown config sections"):
        get_config("smoke", vea={})


@pytest.mark.parametrize("section, values, flag", [
    ("evolution", {"trials": 0}, "--trials"), ("evolution", {"sigma0": float("nan")}, "--sigma0"),
    ("evolution", {"population": 1}, "--population"), ("collect", {"episodes": -1}, "--episodes"),
    ("collect", {"brownian_sigma": (0.1, -0.1, 0.1)}, "--brownian-sigma"), ("vae_training", {"batch_size": 0}, "--batch-size"),
    ("evaluation", {"max_steps": 0}, "--max-steps"), ("evolution", {"renderer": "pretty"}, "--renderer"),
    ("mdnrnn_training", {"learning_rate": float("inf")}, "--learning-rate"), ("parallel", {"workers": -2}, "--workers"),
])
def test_every_field_is_range_checked_with_its_flag_named(section, values, flag):
    with pytest.raises(ConfigError, match=flag):
        get_config("smoke", **{section: values})


def test_scale_numbers_are_preset_fields():
    smoke, book = get_config("smoke"), get_config("book")
    assert (smoke.evaluation.episodes, smoke.evaluation.max_steps, smoke.figures) == (2, 30, "figures/smoke")
    assert (book.evaluation.episodes, book.evaluation.max_steps, book.figures) == (100, 1000, "figures")


def test_configs_written_before_a_field_was_renamed_read_as_now():
    old = {"evolution": {**to_dict(get_config("book").evolution)}}
    old["evolution"]["release"] = old["evolution"].pop("world_model")
    old["evolution"]["release"] = "mine"
    assert from_dict(old).evolution.world_model == "mine"


def test_a_recorded_evolution_without_vision_precision_ran_in_float32():
    """The field came with float32 and later defaulted to bfloat16, then auto: runs recorded before it read as
    float32, so resuming one in another precision is refused rather than silently switched."""
    recorded = to_dict(get_config("book").evolution)
    assert recorded["vision_precision"] == "auto"
    del recorded["vision_precision"]
    assert from_dict({"evolution": recorded}).evolution.vision_precision == "float32"
    assert from_dict({}).evolution.vision_precision == "auto"  # a section not recorded at all: today's default


def test_configs_written_with_a_pool_in_each_section_read_as_one_parallel_section():
    """Files written before ``parallel`` existed held backend, workers and ray_address in four sections."""
    cfg = get_config("smoke", parallel={"backend": "serial", "workers": 3})
    old = to_dict(cfg)
    del old["parallel"]
    for section in ("collect", "evolution", "evaluation", "dream_check"):
        old[section] = {**old[section], "backend": "serial", "workers": 3, "ray_address": None}
    assert from_dict(old) == cfg
    assert from_dict(to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match="--ray-address"):
        get_config("smoke", parallel={"ray_address": "auto"})  # an address without --backend ray


@pytest.mark.parametrize("seed, episodes", [(799_990, 20), (900_000, 1), (950_000, 200)])
def test_collection_seeds_never_reach_the_held_out_ones(seed, episodes):
    with pytest.raises(ConfigError, match="--seed, --episodes.*held out for dream-check"):
        get_config("smoke", collect={"seed": seed, "episodes": episodes})
    assert get_config("smoke", collect={"seed": 799_980, "episodes": 20}).collect.seed == 799_980
    assert get_config("smoke", collect={"seed": 1_000_000, "episodes": 20}).collect.seed == 1_000_000
