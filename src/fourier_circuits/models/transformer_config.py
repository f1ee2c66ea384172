"""The transformer's hyperparameters (torch-free, so a configuration is checked before torch is imported).

Invalid values raise ConfigError (a ValueError) naming the value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from fourier_circuits.errors import ConfigError


@dataclass
class TransformerConfig:
    """The hyperparameters of `Transformer`. `for_modadd(p, k)` fills vocab = p+2, n_ctx = 2k, n_classes = p
    (with op tokens), or vocab = p+1, n_ctx = k+1 with `op_token=False`.

    Args:
        vocab: The number of token ids (p + 2 with op tokens: numbers 0..p−1, op = p, '=' = p+1).
        n_ctx: The sequence length P the position embedding covers (2k with op tokens, k + 1 without).
        n_classes: The number of output classes (p).
        n_layers: The number of blocks.
        n_heads: The number of attention heads H per block.
        d_model: The width of the residual stream.
        d_head: The width of each head's query, key and value.
        d_mlp: The hidden width of each block's MLP; 0 makes the model attention-only.
        layer_norm: Pre-LN LayerNorm before attention, the MLP and the unembedding (False: none).
        act: The MLP activation, "relu" or "gelu".
        mlp_bias: Give the MLP biases b_in, b_out (the attention never has biases).
        freeze_biases: Keep every bias at 0 without a gradient (TransformerLens' Grokking demo).
        init_std: The std of the i.i.d. Gaussian init of every weight matrix (None: 1/sqrt(d_model)).
        seed: The seed of the init.
        op_token: The tokenization: [a_1, op, a_2, .., a_k, =] (True) or [a_1, .., a_k, =] (False, Nanda et
            al.'s layout for k = 2).

    Raises:
        ConfigError: If act is unknown, a size is < 1, or d_mlp < 0.
    """

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
        """The configuration for k-input addition mod p.

        Args:
            p: The modulus (number tokens 0..p−1, p classes).
            k: The number of summands.
            op_token: Put an op token between the numbers (vocab p+2, n_ctx 2k) or not (vocab p+1, n_ctx k+1).
            **kwargs: Any other field, e.g. d_mlp=0, n_heads=160.

        Returns:
            The `TransformerConfig`.

        Raises:
            ConfigError: If a field is invalid.
        """
        if op_token:
            return cls(vocab=p + 2, n_ctx=2 * k, n_classes=p, op_token=True, **kwargs)
        return cls(vocab=p + 1, n_ctx=k + 1, n_classes=p, op_token=False, **kwargs)

    @property
    def std(self) -> float:
        """The init std actually used: init_std, or 1/sqrt(d_model) when it is None."""
        return self.init_std if self.init_std is not None else 1.0 / math.sqrt(self.d_model)
