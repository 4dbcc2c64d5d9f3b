"""``auto`` precision: bf16 only where this machine computes it natively (emulated bf16 ran V 4.7x slower here)."""

import pytest

from worldmodels.core import hardware
from worldmodels.core.config import CollectConfig
from worldmodels.models.encoder import precision_for


@pytest.mark.parametrize("native, expected", [(True, "bfloat16"), (False, "float32")])
def test_auto_is_bf16_only_where_native(monkeypatch, native, expected):
    monkeypatch.setattr(hardware, "native_bfloat16", lambda: native)
    assert hardware.resolve_precision("auto") == expected
    assert precision_for("vae", "auto") == expected
    assert precision_for("gumbel", "auto") == "float32"  # a discrete V's argmax codes never encode in bf16


def test_an_explicit_precision_is_kept_and_a_bad_one_is_refused(monkeypatch):
    monkeypatch.setattr(hardware, "native_bfloat16", lambda: False)
    assert hardware.resolve_precision("bfloat16") == "bfloat16"
    assert hardware.resolve_precision("float32") == "float32"
    with pytest.raises(ValueError, match="expected one of"):
        hardware.resolve_precision("float16")


def test_collection_defaults_to_auto():
    assert CollectConfig().encoder_precision == "auto"
