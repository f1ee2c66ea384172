"""The paper recipes learn (issue 29: no test showed that `mo` or `li` does anything in 5 steps): 100 steps on
addition mod 5 take the random network (margin < 0, accuracy about 1/p) to a positive normalized margin and
100% accuracy on the whole population."""
import pytest

from fourier_circuits.training.config import resolve_config
from fourier_circuits.training.trainer import Trainer


@pytest.mark.parametrize("recipe, ratio_at_least", [("mo", 0.01), ("li", 0.3)])
def test_the_paper_recipes_raise_margin_and_accuracy(recipe, ratio_at_least):
    trainer = Trainer(resolve_config(p=5, width=16, recipe=recipe, steps=100), None, progress=False)
    result = trainer.run()
    first, last = trainer.history[0], trainer.history[-1]
    assert first["normalized_margin"] < 0 and first["train_accuracy"] < 0.5       # the random start
    assert last["train_accuracy"] == 1.0 and last["normalized_margin"] > 0
    assert result["margin_ratio"] >= ratio_at_least                               # measured: mo 0.017, li 0.55
    margins = [r["normalized_margin"] for r in trainer.history]
    assert max(margins[len(margins) // 2:]) > max(margins[: len(margins) // 2])    # still rising
