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
