"""The results table: shipped agents' cards beside the references."""

import json

import pytest

from worldmodels import results


def card(latent="vae", inputs="z_h", mode="real", evaluation=None):
    out = {"config": {"evolution": {"latent": latent, "mode": mode}, "controller": {"inputs": inputs, "hidden_layer": 0}},
           "training": {"generations": 12, "real_env_steps": 123_456, "dream_steps": 0, "seconds": 7200.0}}
    if evaluation:
        out["evaluation"] = evaluation
    return out


def test_rows_and_markdown_from_cards(tmp_path):
    (tmp_path / "vae_book.json").write_text(json.dumps(card(evaluation={
        "mean": 612.34, "std": 201.2, "episodes": 100, "renderer": "stock"})))
    (tmp_path / "gumbel_z.json").write_text(json.dumps(card(latent="gumbel", inputs="z", mode="dream")))
    rows = results.agent_rows(tmp_path)
    assert [r["agent"] for r in rows] == ["gumbel_z", "vae_book"]
    assert rows[0]["what"] == "discrete (Gumbel) V only + C, trained in the dream" and rows[0]["score"] == "not evaluated"
    assert rows[1]["score"] == "612 +/- 201" and rows[1]["episodes"] == "100 (stock)" and rows[1]["hours"] == 2.0
    table = results.markdown(rows)
    assert "| `vae_book` | continuous V + M + C, trained in the real env | 612 +/- 201 | 100 (stock) | 12 | 123,456 |" in table
    assert "906 +/- 21" in table and len(table.splitlines()) == 2 + 2 + len(results.REFERENCES)


def test_a_shortened_evaluation_says_so(tmp_path):
    (tmp_path / "vae_t.json").write_text(json.dumps(card(evaluation={
        "mean": 13.3, "std": 0.2, "episodes": 2, "renderer": "stock", "max_steps": 30})))
    assert results.agent_rows(tmp_path)[0]["episodes"] == "2 x 30 steps (stock)"


def test_a_soft_code_agent_is_described_as_such():
    soft = card(latent="gumbel")
    soft["config"]["controller"]["code_input"] = "soft"
    assert results.describe(soft) == \
        "discrete (Gumbel) V + M + C, C reads the posterior probabilities, trained in the real env"


def test_an_agent_on_a_straight_through_v_is_described_by_its_estimator(wm_root):
    v_card = wm_root / "checkpoints" / "gumbel" / "st.json"
    v_card.parent.mkdir(parents=True)
    v_card.write_text(json.dumps({"config": {"model": {"estimator": "straight_through", "unimix": 0.01}}}))
    agent = card(latent="gumbel")
    agent["world_model"] = {"vision": "checkpoints/gumbel/st.pt"}
    assert results.describe(agent) == "discrete (straight-through) V + M + C, trained in the real env"
    agent["world_model"] = {"vision": "checkpoints/gumbel/missing.pt"}  # no card: the kind's own description
    assert results.describe(agent).startswith("discrete (Gumbel) V + M + C")


def test_rows_by_score_put_the_best_agent_first_and_the_unevaluated_last(tmp_path):
    for name, mean in (("a", 300.0), ("b", None), ("c", 841.0), ("d", 708.5)):
        (tmp_path / f"vae_{name}.json").write_text(json.dumps(card(evaluation={
            "mean": mean, "std": 1.0, "episodes": 100, "renderer": "stock"} if mean is not None else None)))
    assert [r["agent"] for r in results.agent_rows(tmp_path, by_score=True)] == ["vae_c", "vae_d", "vae_a", "vae_b"]


def test_the_notebooks_read_cards_and_tabulate_scores_through_one_function(tmp_path):
    protocol = {"mean": 259.1, "std": 135.0, "min": -20.0, "max": 700.0, "episodes": 100, "renderer": "stock"}
    (tmp_path / "vae_a.json").write_text(json.dumps({"evaluation": protocol}))
    assert results.card(tmp_path / "vae_a.pt")["evaluation"] == protocol
    assert results.card(tmp_path / "vae_none.pt") == {}  # no card yet: nothing to read
    (tmp_path / "vae_bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="vae_bad.json"):
        results.card(tmp_path / "vae_bad.pt")
    live = {**protocol, "mean": 301.25, "episodes": 2, "renderer": "fast", "max_steps": 30}
    table = results.score_table({"protocol": protocol, "missing": None, "live": live}).splitlines()
    assert table[2] == "| protocol | 100 (stock) | 259.1 | 135.0 | -20.0 | 700.0 |" and len(table) == 4
    assert table[3].startswith("| live | 2 x 30 steps (fast) | 301.2")
    assert results.score(protocol) == "259.1 +/- 135.0 over 100 (stock)"


def test_a_card_summary_holds_what_the_notebooks_show(tmp_path):
    protocol = {"mean": 688.4, "std": 220.9, "min": 217.8, "max": 919.0, "episodes": 100, "renderer": "stock"}
    agent = card(mode="dream", evaluation=protocol)
    agent |= {"kind": "controller", "release": "soup", "evaluation_other_tracks": {**protocol, "mean": 724.6},
              "replicates": [{**protocol, "mean": 548.3}], "world_model": {"mdnrnn": "m0.pt", "ensemble": [1, 2]},
              "lineage": {"real_env_steps": 30, "parts": {"rollouts a": 10, "rollouts b": 20}}}
    agent["config"]["evolution"] |= {"dream_branches": 4096, "max_steps": 400, "trials": 16}
    agent["training"] |= {"runs": 3, "last": {"mean": 158.46}}
    lines = results.summary(agent).splitlines()
    assert lines[0] == "`vae_soup`: continuous V + M + C, trained in the dream"
    assert "- dreams in an ensemble of 2 Ms (m0.pt gives C its h)" in lines
    assert "- 4,096 real branch states, dreams of H = 400 steps, 16 a candidate" in lines
    assert "- 12 generations each, 3 runs averaged (a soup); last generation's mean fitness 158.5" in lines
    assert "- real env steps of its whole lineage: 30" in lines and "    - rollouts b: 20" in lines
    assert [line.split(" |")[0] for line in lines if line.startswith("| ") and line[2:4] != "wh"] == [
        "| protocol", "| 100 other unseen tracks", "| the recipe again, replicate 1"]
    unscored = card()
    unscored["release"] = "bare"
    assert "|" not in results.summary(unscored)  # no scores, no table
    memory = {"kind": "mdnrnn", "latent": "vae", "release": "m", "metrics": {"held_out": {
        "latent_nll": 0.97588, "reward_r2": 0.2979}}, "data": {"episodes": 10_000}}
    assert results.summary(memory).splitlines() == [
        "`vae_m`: 10,000 episodes", "- held out: latent NLL 0.976 nats per dimension, reward R2 0.30"]
    memory["dream_check"] = {"spearman": 0.816, "spearman_h_free": 0.857, "members": [1, 2],
                             "ensemble": {"spearman": 0.807}}
    assert results.summary(memory).splitlines()[-1] == \
        "- dream-check: Spearman 0.816 (h-free 0.857); the ensemble of 2: 0.807"


def test_markdown_can_leave_the_references_out(tmp_path):
    (tmp_path / "vae_a.json").write_text(json.dumps(card()))
    assert len(results.markdown(results.agent_rows(tmp_path), references=False).splitlines()) == 3


def evaluation(returns, first=900_000):
    n = len(returns)
    mean = sum(returns) / n
    return {"returns": list(returns), "seeds": [first, first + n - 1], "episodes": n, "mean": mean,
            "std": (sum((r - mean) ** 2 for r in returns) / n) ** 0.5, "renderer": "stock"}


def test_paired_differences_cancel_the_tracks_own_spread():
    base = evaluation([100.0, 900.0, 500.0, 700.0])
    other = evaluation([90.0, 880.0, 350.0, 820.0])
    p = results.paired(base, other)
    assert p["tracks"] == 4 and p["mean"] == pytest.approx(-15.0)
    diffs = [-10.0, -20.0, -150.0, 120.0]
    se = (sum((d + 15.0) ** 2 for d in diffs) / 3 / 4) ** 0.5
    assert p["se"] == pytest.approx(se) and p["lost"] == 1 and p["won"] == 1
    table = results.paired_table({"a": base, "b": other}).splitlines()
    assert table[2] == "| a | 4 | 550.0 +/- 295.8 | 600.0 | - | - | - |"
    assert table[3].startswith("| b | 4 | 535.0 +/- ") and f"| -15.0 +/- {se:.1f} | 1 | 1 |" in table[3]


def test_paired_refuses_other_tracks_missing_returns_and_nan():
    base = evaluation([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="other drove other tracks than base .*910000 to 910002"):
        results.paired(base, evaluation([1.0, 2.0, 3.0], first=910_000))
    with pytest.raises(ValueError, match="other: an evaluation without its per-track returns"):
        results.paired(base, {"mean": 2.0, "std": 1.0})
    with pytest.raises(ValueError, match="other: 3 returns .* not finite"):
        results.paired(base, evaluation([1.0, float("nan"), 3.0]))
    with pytest.raises(ValueError, match="base: 2 returns for seeds 900000 to 900002"):
        results.paired({**base, "returns": [1.0, 2.0]}, base)
    with pytest.raises(ValueError, match="two tracks or more"):
        results.paired(evaluation([1.0]), evaluation([2.0]))


def test_compare_scores_prints_the_paired_table_and_refuses_one_file(tmp_path, capsys):
    from worldmodels.cli import main

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(evaluation([100.0, 900.0, 500.0, 700.0])))
    b.write_text(json.dumps(evaluation([90.0, 880.0, 350.0, 820.0])))
    assert main(["compare-scores", str(a), str(b), "--loss", "15"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "lost > 15" in out[0] and out[3].endswith("| 2 | 1 |")
    assert main(["compare-scores", str(a)]) == 2 and "name two or more" in capsys.readouterr().err
    assert main(["compare-scores", str(a), str(b), "--loss", "-1"]) == 2  # range-checked
    b.write_text("{broken")
    assert main(["compare-scores", str(a), str(b)]) == 2 and "b.json" in capsys.readouterr().err
