"""Each plot function writes non-empty PNG and SVG files holding the data it was given: the figures are read
back (the data drawn, the axes, the number of panels) before they are saved."""
import numpy as np
import pytest

from fourier_circuits.analysis import fourier as F
from fourier_circuits.analysis import plots as P
from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.theory.modadd import construct_modadd, gamma_star_modadd


def check(paths, tmp_path, name):
    png, svg = paths
    assert png == tmp_path / f"{name}.png" and svg == tmp_path / f"{name}.svg"
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in svg.read_bytes()[:2000]


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions save, read back just before saving: a list (one per figure) of lists
    (one per panel) of dict(lines=[(x, y, linestyle)], bars=[heights], xlabel, ylabel, xscale, title)."""
    figures = []
    save = P.save_figure

    def reading(fig, path):
        figures.append([dict(lines=[(np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float),
                                     ln.get_linestyle()) for ln in ax.get_lines()],
                             bars=[patch.get_height() for patch in ax.patches], xlabel=ax.get_xlabel(),
                             ylabel=ax.get_ylabel(), xscale=ax.get_xscale(), title=ax.get_title())
                        for ax in fig.axes])
        return save(fig, path)
    monkeypatch.setattr(P, "save_figure", reading)
    return figures


def test_plot_neurons(tmp_path, drawn):
    model = construct_modadd(7, 3)
    check(P.plot_neurons(model, [0, 40], tmp_path / "neurons"), tmp_path, "neurons")
    panels = drawn[0]
    assert len(panels) == 2 * 5                                  # 2 neurons x (u_1, u_2, u_3, w, spectrum)
    for row, neuron in enumerate([0, 40]):
        weights = [model.embed[j, :, neuron] for j in range(3)] + [model.unembed[neuron]]
        for j, vector in enumerate(weights):
            dots = [y for x, y, style in panels[5 * row + j]["lines"] if style == "None"]
            assert np.allclose(dots[0], vector.detach().numpy())   # the neuron's own weights, a = 0..6
        spectrum = panels[5 * row + 4]["bars"]
        assert len(spectrum) == 4 and sum(spectrum) == pytest.approx(1.0)
        assert max(spectrum) == pytest.approx(1.0)                # a construction neuron: one frequency
    assert panels[-1]["xlabel"] == "frequency ζ"


def test_plot_max_power_hist(tmp_path, drawn):
    trained, init = F.neuron_max_power(construct_modadd(11, 2)), F.neuron_max_power(PolyNet(11, 2, 40, 11))
    check(P.plot_max_power_hist(trained, init, tmp_path / "hist"), tmp_path, "hist")
    check(P.plot_max_power_hist(trained.numpy(), None, tmp_path / "hist_only.png"), tmp_path, "hist_only")
    (both,), (alone,) = drawn
    init_bars, trained_bars = both["bars"][:40], both["bars"][40:]
    assert sum(init_bars) == 40 and init_bars[-1] < 40            # 40 random neurons, spread out
    assert trained_bars == [0] * 39 + [40]                        # 40 construction neurons, all at power 1
    assert alone["bars"] == trained_bars and both["ylabel"] == "number of neurons"


def test_plot_dominant_frequency_hist(tmp_path, drawn):
    check(P.plot_dominant_frequency_hist([1, 1, 3, 11, 11, 11], 23, tmp_path / "freq"), tmp_path, "freq")
    (panel,), = drawn
    assert panel["bars"] == [2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3]     # ζ = 1..11
    assert "3/11 frequencies used" in panel["title"] and panel["xlabel"] == "dominant frequency ζ"


def test_plot_margin_curve(tmp_path, drawn):
    steps = np.r_[0, np.unique(np.logspace(0, 4, 40).astype(int))]
    gamma = gamma_star_modadd(11, 2)
    margins = gamma * (1 - np.exp(-steps / 500)) - 1e-4
    check(P.plot_margin_curve(steps, margins, gamma, tmp_path / "sub" / "margin"), tmp_path / "sub", "margin")
    check(P.plot_margin_curve(steps, margins, None, tmp_path / "margin2"), tmp_path, "margin2")
    (with_gamma,), (without,) = drawn
    (x, y, _), (_, line, style) = with_gamma["lines"]
    assert np.array_equal(x, steps[1:]) and np.array_equal(y, margins[1:])   # step 0 cannot go on a log axis
    assert style == "--" and np.all(line == gamma)                            # the dashed γ* line
    assert with_gamma["xscale"] == "log" and with_gamma["ylabel"] == "normalized margin"
    assert "final 0.988 γ*" in with_gamma["title"] and len(without["lines"]) == 1   # 1 − 1e-4/γ* − e^−20
