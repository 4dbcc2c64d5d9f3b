import pytest

from worldmodels.core.presets import get_config


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
