"""Figures whose content is computed (the rest are drawn by the notebooks, which the tests run)."""

from worldmodels import viz


def test_score_curves_plot_only_scored_generations_against_env_steps():
    scored = [{"generation": 1, "env_steps": 500_000}, {"generation": 2, "env_steps": 1_000_000, "mean_score": 300.0},
              {"generation": 3, "env_steps": 2_000_000, "mean_score": 450.0}]
    never = [{"generation": 1, "env_steps": 0, "dream_steps": 10}]
    fig = viz.score_curves({"a": scored, "dream": never})
    (line,) = fig.axes[0].get_lines()
    assert line.get_label() == "a"
    assert list(line.get_xdata()) == [1.0, 2.0] and list(line.get_ydata()) == [300.0, 450.0]


def test_dream_check_scatter_draws_h_free_members_apart_and_reads_old_cards():
    panel = [{"name": "idle", "real": -30.0, "dream": 100.0, "h_free": True},
             {"name": "vae_book_vonly", "real": 700.0, "dream": 30.0, "h_free": True},
             {"name": "vae_book", "real": 780.0, "dream": 130.0, "h_free": False}]
    old = [{k: v for k, v in row.items() if k != "h_free"} for row in panel]  # a card from before h-free members
    fig = viz.dream_check_scatter({"new": {"spearman": 0.5, "spearman_h_free": -1.0, "panel": panel},
                                   "old": {"spearman": 0.5, "panel": old}})
    free, reads_h = fig.axes[0].collections[:2]
    assert len(free.get_offsets()) == 2 and len(reads_h.get_offsets()) == 1
    assert "h-free -1.00" in fig.axes[0].get_title() and "h-free" not in fig.axes[1].get_title()


def test_score_by_lineage_places_evaluated_agents_and_anchors_at_their_steps():
    rows = [{"agent": "vae_a", "what": "continuous V + M + C, trained in the real env", "mean": 840.0, "std": 110.0,
             "real_env_steps": 15_000_000},
            {"agent": "vae_d", "what": "continuous V + M + C, trained in the dream", "mean": 690.0, "std": 220.0,
             "real_env_steps": 20_000_000},
            {"agent": "vae_x", "what": "continuous V + M + C, trained in the real env", "mean": None, "std": None,
             "real_env_steps": 1}]
    fig = viz.score_by_lineage(rows, [("paper", 906.0, 21.0, 1.8e9), ("ppo", 909.0, 10.0, 2.6e6)])
    ax, key = fig.axes
    points = sorted((float(c.get_children()[0].get_xdata()[0]), float(c.get_children()[0].get_ydata()[0]))
                    for c in ax.containers)
    right = ax.get_xlim()[1]
    # the unevaluated agent is left out; the paper, far past the budget, sits on the axis' right edge
    assert points == [(2.6e6, 909.0), (15e6, 840.0), (20e6, 690.0), (right, 906.0)] and right == 20e6 * 1.12
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "A", "B"]  # agents best first, then anchors
    lines = [t.get_text() for t in key.texts]
    assert lines[0].startswith(" 1  vae_a: 840") and lines[2].startswith(" A  paper: 906") and "1.8 G" in lines[2]


def test_crowded_labels_are_spread_and_lone_ones_stay():
    assert viz._spread_labels([100.0, 500.0], 40.0) == [100.0, 500.0]
    placed = viz._spread_labels([200.0, 190.0, 210.0, 600.0], 40.0)
    assert placed[3] == 600.0 and sorted(placed[:3]) == [160.0, 200.0, 240.0]  # centred on the cluster's mean
    assert placed[1] < placed[0] < placed[2]  # in the points' order
