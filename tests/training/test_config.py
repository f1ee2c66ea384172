"""Config resolution: defaults < recipe < preset < file < overrides; every bad value raises ConfigError."""
import pytest

from fourier_circuits.errors import ConfigError
from fourier_circuits.training.config import TrainConfig, load_config_file, resolve_config, validate
from fourier_circuits.training.presets import PRESETS, RECIPES


def test_defaults_are_fast_recipe():
    cfg = resolve_config()
    assert cfg == TrainConfig(**RECIPES["fast"], rebalance_rounds=2)             # k = 2: the rebalance rounds
    assert (cfg.steps, cfg.reseed_below, cfg.polish_iters) == (2000, 0.05, 300)   # the fast recipe's end
    assert resolve_config(p=11, k=3).steps == 8000 and resolve_config(p=11, k=3, steps=50).steps == 50
    assert resolve_config(p=11, k=3).rebalance_rounds == 2 and resolve_config(p=5, k=4).rebalance_rounds == 0
    assert resolve_config(p=5, rebalance_rounds=0).rebalance_rounds == 0
    assert resolve_config(task="group", group="S3", k=3, p=None).steps == 8000
    assert (resolve_config(p=5, k=5).steps, resolve_config(p=5, k=5).tau_end) == (8000, 30.0)   # d ≥ 5
    assert cfg.recipe == "fast" and cfg.objective == "softmin" and cfg.normalize and cfg.p == 23


def test_recipe_applies():
    cfg = resolve_config(recipe="mo", p=7)
    for key, value in RECIPES["mo"].items():
        assert getattr(cfg, key) == value
    assert cfg.p == 7 and cfg.width == TrainConfig().width


def test_preset_overrides_recipe():
    cfg = resolve_config(preset="mo-modadd-relu")
    assert cfg.recipe == "mo" and cfg.activation == "relu" and cfg.width == 500 and cfg.p == 71
    assert cfg.regularizer == "l2"                      # preset beats the recipe's l2nu
    assert cfg.lr == 0.05 and cfg.lam == 1e-4           # the rest from the recipe


def test_full_precedence(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('width = 100\nlam = 2e-4\nseed = 5\nsteps = 77\n')
    cfg = resolve_config(preset="mo-modadd-quadratic", config_file=f, width=50, steps=None, seed=6)
    assert cfg.recipe == "mo"                           # preset
    assert cfg.lr == 0.05 and cfg.optimizer == "gd"     # recipe
    assert cfg.p == 71                                  # preset (not overridden)
    assert cfg.lam == 2e-4                              # file beats recipe
    assert cfg.steps == 77                              # file beats recipe; None override ignored
    assert cfg.width == 50                              # override beats file and preset
    assert cfg.seed == 6                                # override beats file


def test_file_table_and_recipe_from_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[train]\nrecipe = "li"\np = 11\nbetas = [0.5, 0.6]\n')
    cfg = resolve_config(config_file=f)
    assert cfg.recipe == "li" and cfg.p == 11 and cfg.betas == [0.5, 0.6]
    assert cfg.batch_size == 1024 and cfg.train_fraction == 0.5        # li recipe
    assert load_config_file(f) == {"recipe": "li", "p": 11, "betas": [0.5, 0.6]}


def test_preset_values():
    assert PRESETS["li-nn-k3"] == dict(recipe="li", p=97, k=3, width=1536)
    cfg = resolve_config(preset="li-nn-k4", steps=3)
    assert (cfg.p, cfg.k, cfg.width, cfg.recipe, cfg.steps) == (47, 4, 2944, "li", 3)


def test_to_dict_roundtrip():
    cfg = resolve_config(p=7, width=3, lr_doubling_steps=[1, 2])
    assert TrainConfig(**cfg.to_dict()) == cfg


@pytest.mark.parametrize("kwargs,needle", [
    (dict(p=9), "9"), (dict(p=2), "2"), (dict(k=1), "k=1"), (dict(width=0), "width=0"),
    (dict(width=-4), "-4"), (dict(lam=-1.0), "-1"), (dict(lr=0.0), "lr"), (dict(steps=0), "steps=0"),
    (dict(train_fraction=1.5), "1.5"), (dict(batch_size=0), "batch_size=0"), (dict(degree=0), "degree=0"),
    (dict(activation="tanh"), "tanh"), (dict(recipe="nope"), "nope"), (dict(optimizer="sgdx"), "sgdx"),
    (dict(dtype="float16"), "float16"), (dict(betas=[0.9, 1.0]), "1.0"), (dict(tau_end=0.0), "tau_end"),
    (dict(weight_decay=-0.1), "-0.1"),
])
def test_bad_values_raise_naming_value(kwargs, needle):
    with pytest.raises(ConfigError) as err:
        resolve_config(**kwargs)
    assert needle in str(err.value)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="no-such-preset"):
        resolve_config(preset="no-such-preset")


def test_unknown_key():
    with pytest.raises(ConfigError, match="bogus_key"):
        resolve_config(bogus_key=1)


def test_unknown_key_in_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("p = 7\nwidht = 3\n")
    with pytest.raises(ConfigError, match="widht"):
        resolve_config(config_file=f)


def test_malformed_file(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("p = = 7\n[unterminated\n")
    with pytest.raises(ConfigError) as err:
        resolve_config(config_file=f)
    assert "bad.toml" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.toml"):
        resolve_config(config_file=tmp_path / "missing.toml")


def test_bad_value_in_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("p = 15\n")
    with pytest.raises(ConfigError, match="15"):
        resolve_config(config_file=f)


def test_validate_directly():
    cfg = TrainConfig()
    validate(cfg)
    cfg.width = 0
    with pytest.raises(ConfigError, match="width"):
        validate(cfg)


def test_config_error_is_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("kwargs", [dict(width=2.5), dict(p=11.5), dict(lr="abc"), dict(steps=1.5)])
def test_wrong_types_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        resolve_config(**kwargs)
