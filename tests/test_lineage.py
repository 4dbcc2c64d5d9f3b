"""The lineage of a model whose rollouts are gone: counted from what its cards record, each collection once."""

import json
import shutil

import pytest

from tests.conftest import REPO


def shipped(root, *rels):
    """Copy shipped checkpoints, each with its JSON card, into the temporary project root (no data/ there)."""
    for rel in rels:
        for suffix in (".pt", ".json"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / f"{rel}{suffix}", root / f"{rel}{suffix}")


def test_a_v_whose_rollouts_are_gone_counts_what_its_card_records_and_a_collection_counts_once(wm_root):
    from worldmodels.training.lineage import lineage

    shipped(wm_root, "checkpoints/gumbel/paper10k_st", "checkpoints/vae/paper10k_frames",
            "checkpoints/controller/vae_paper10k_frames")
    assert not (wm_root / "data").exists()
    # the card records the collection's manifest, with its own count of steps: exact
    card = json.loads((wm_root / "checkpoints/gumbel/paper10k_st.json").read_text())["data"]["collection"]
    name = card["rollouts"].rsplit("/", 1)[-1]
    assert lineage(("checkpoints/gumbel/paper10k_st.pt", "vision")) == {
        f"rollouts data/rollouts/{name}": card["mix"]["all"]["steps"]}
    # an older card records episodes and their length only: an upper bound, said as such
    assert lineage(("checkpoints/vae/paper10k_frames.pt", "vision")) == {
        "rollouts data/rollouts/paper10k_frames (at most)": 2500 * 1000}
    # an agent's card counted those rollouts exactly: the exact count stands, once, whichever comes first
    agent = json.loads((wm_root / "checkpoints/controller/vae_paper10k_frames.json").read_text())["lineage"]
    for roots in ([("checkpoints/vae/paper10k_frames.pt", "vision"),
                   ("checkpoints/controller/vae_paper10k_frames.pt", "controller")],
                  [("checkpoints/controller/vae_paper10k_frames.pt", "controller"),
                   ("checkpoints/vae/paper10k_frames.pt", "vision")]):
        parts = lineage(*roots)
        assert parts == agent["parts"] and sum(parts.values()) == agent["real_env_steps"]
    # a card that records neither: the error names the folder and the fix
    path = wm_root / "checkpoints/vae/paper10k_frames.json"
    card = json.loads(path.read_text())
    card["data"].pop("collection")
    path.write_text(json.dumps(card))
    with pytest.raises(FileNotFoundError, match="paper10k_frames: no episodes.*restore the rollouts"):
        lineage(("checkpoints/vae/paper10k_frames.pt", "vision"))
