"""The transformer's hyperparameters (torch-free, so a configuration is checked before torch is imported).

Invalid values raise ConfigError (a ValueError) naming the value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from fourier_circuits.errors import ConfigError


@dataclass
class TransformerConfig:
    """Hyperparameters. `for_modadd(p, k)` fills vocab = p+2, n_ctx = 2k, n_classes = p (with op tokens), or
    vocab = p+1, n_ctx = k+1 with `op_token=False`."""

    vocab: int
    n_ctx: int
    n_classes: int
    n_layers: int = 1
    n_heads: int = 4
    d_model: int = 128
    d_head: int = 32
    d_mlp: int = 512  # 0 = attention-only
    layer_norm: bool = False
    act: str = "relu"  # "relu" | "gelu"
    mlp_bias: bool = True
    freeze_biases: bool = False  # biases stay 0 and get no gradient (TransformerLens' Grokking demo)
    init_std: float | None = None  # None -> 1/sqrt(d_model)
    seed: int = 0
    op_token: bool = True  # the tokenization `tokenize` applies (see tokenize_modadd)

    def __post_init__(self) -> None:
        if self.act not in ("relu", "gelu"):
            raise ConfigError(f"act must be 'relu' or 'gelu', got act={self.act!r}")
        for name in ("vocab", "n_ctx", "n_classes", "n_layers", "n_heads", "d_model", "d_head"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {name}={getattr(self, name)}")
        if self.d_mlp < 0:
            raise ConfigError(f"d_mlp must be >= 0, got d_mlp={self.d_mlp}")

    @classmethod
    def for_modadd(cls, p: int, k: int = 2, op_token: bool = True, **kwargs) -> "TransformerConfig":
        if op_token:
            return cls(vocab=p + 2, n_ctx=2 * k, n_classes=p, op_token=True, **kwargs)
        return cls(vocab=p + 1, n_ctx=k + 1, n_classes=p, op_token=False, **kwargs)

    @property
    def std(self) -> float:
        return self.init_std if self.init_std is not None else 1.0 / math.sqrt(self.d_model)
