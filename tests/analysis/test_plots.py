"""Each plot function writes non-empty PNG and SVG files."""
import numpy as np

from fourier_circuits.analysis import fourier as F
from fourier_circuits.analysis import plots as P
from fourier_circuits.models.polynet import PolyNet
from fourier_circuits.theory.modadd import construct_modadd, gamma_star_modadd


def check(paths, tmp_path, name):
    png, svg = paths
    assert png == tmp_path / f"{name}.png" and svg == tmp_path / f"{name}.svg"
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in svg.read_bytes()[:2000]


def test_plot_neurons(tmp_path):
    check(P.plot_neurons(construct_modadd(7, 3), [0, 40], tmp_path / "neurons"), tmp_path, "neurons")


def test_plot_max_power_hist(tmp_path):
    trained, init = F.neuron_max_power(construct_modadd(11, 2)), F.neuron_max_power(PolyNet(11, 2, 40, 11))
    check(P.plot_max_power_hist(trained, init, tmp_path / "hist"), tmp_path, "hist")
    check(P.plot_max_power_hist(trained.numpy(), None, tmp_path / "hist_only.png"), tmp_path, "hist_only")


def test_plot_dominant_frequency_hist(tmp_path):
    freqs = F.neuron_dominant_frequency(PolyNet(23, 2, 100, 23))
    check(P.plot_dominant_frequency_hist(freqs, 23, tmp_path / "freq"), tmp_path, "freq")


def test_plot_margin_curve(tmp_path):
    steps = np.r_[0, np.unique(np.logspace(0, 4, 40).astype(int))]
    gamma = gamma_star_modadd(11, 2)
    margins = gamma * (1 - np.exp(-steps / 500)) - 1e-4
    check(P.plot_margin_curve(steps, margins, gamma, tmp_path / "sub" / "margin"), tmp_path / "sub", "margin")
    check(P.plot_margin_curve(steps, margins, None, tmp_path / "margin2"), tmp_path, "margin2")
