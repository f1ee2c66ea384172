"""A small decoder-only transformer for k-input modular addition, with named activation sites.

Tokenization (docs/theory.md §2, the standard grokking layout): the tuple (a_1, .., a_k) becomes the 2k tokens

    [a_1, op, a_2, op, .., op, a_k, =]      number tokens 0..p-1,  op = p,  eq = p+1   (vocab p+2)

or, with `op_token=False` (Nanda et al.'s layout for k = 2), the k+1 tokens

    [a_1, a_2, .., a_k, =]                  number tokens 0..p-1,  eq = p              (vocab p+1)

and the model reads out p class logits at the last ('=') position. `Transformer.tokenize` applies the
layout of the model's config.

Architecture (nanoGPT / TransformerLens-like, attention-only when d_mlp = 0):

    x_0         = W_E[t] + W_pos[i]                                  (token i of a sequence)
    per block l (LN(·) is the identity when layer_norm = False):
        q_h     = LN1(x) W_Q[h],  k_h = LN1(x) W_K[h],  v_h = LN1(x) W_V[h]        (no biases)
        A_h     = softmax_keys( q_h k_h^T / sqrt(d_head) + causal mask )
        x_mid   = x + Σ_h A_h v_h W_O[h]                                             (no bias)
        x_post  = x_mid + act(LN2(x_mid) W_in + b_in) W_out + b_out                  (if d_mlp > 0)
    logits      = LN_final(x_post)[last position] W_U                               (no bias)

The attention has **no biases**, so the query/key interaction of head h is exactly the bilinear form
W^KQ_h = W_Q[h] W_K[h]^T on the (normalized) residual stream (analysed in `attention.py`). The MLP has
biases b_in, b_out (as in the grokking recipe); `mlp_bias=False` removes them, `freeze_biases=True` keeps
them at 0 without training them (TransformerLens' Grokking demo; with LayerNorm its biases are frozen too).
LayerNorm (if enabled) is pre-LN with a learned gain and bias: ln1 before attention, ln2 before the MLP,
ln_final before W_U.

Initialization: every weight matrix (W_E, W_pos, W_Q, W_K, W_V, W_O, W_in, W_out, W_U) is i.i.d.
N(0, init_std²), init_std = 1/sqrt(d_model) by default; biases 0, LayerNorm gains 1. Seeded by `seed`.

Activation sites (`run_with_cache`, `site_names`); N = batch, P = sequence length, H = n_heads:

    embed                      (N, P, d_model)     W_E[t]
    pos_embed                  (N, P, d_model)     W_pos[i]
    blocks.{l}.resid_pre       (N, P, d_model)
    blocks.{l}.ln1.out         (N, P, d_model)     only if layer_norm
    blocks.{l}.attn.q/.k/.v    (N, P, H, d_head)
    blocks.{l}.attn.scores     (N, H, P_q, P_k)    scaled scores, -inf above the diagonal
    blocks.{l}.attn.pattern    (N, H, P_q, P_k)    softmax over keys
    blocks.{l}.attn.z          (N, P, H, d_head)   Σ_k pattern · v
    blocks.{l}.attn.out        (N, P, d_model)     Σ_h z_h W_O[h]
    blocks.{l}.resid_mid       (N, P, d_model)     resid_pre + attn.out (= resid_post if d_mlp = 0)
    blocks.{l}.ln2.out         (N, P, d_model)     only if layer_norm and d_mlp > 0
    blocks.{l}.mlp.pre         (N, P, d_mlp)       only if d_mlp > 0
    blocks.{l}.mlp.post        (N, P, d_mlp)       act(mlp.pre), only if d_mlp > 0
    blocks.{l}.mlp.out         (N, P, d_model)     only if d_mlp > 0
    blocks.{l}.resid_post      (N, P, d_model)
    ln_final.out               (N, P, d_model)     only if layer_norm
    logits                     (N, n_classes)      at the last position

Recording is a plain callback passed down through `forward`; there is no global hook state.

Training interface (`models.base`): `logits` / `backward_from_logits` by autograd (`AutogradPass`);
`bytes_per_row(P)` / `rows_per_chunk(budget_bytes, P)` size evaluation chunks; `nu` is None (softmax
attention and LayerNorm make f non-homogeneous in θ); `config()` is the checkpoint dict.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from fourier_circuits.models.base import AutogradPass, rows_within
from fourier_circuits.models.transformer_config import TransformerConfig

Recorder = Callable[[str, torch.Tensor], None]


def _no_record(name: str, t: torch.Tensor) -> None:
    pass


def tokenize_modadd(inputs: torch.Tensor, p: int, op_token: bool = True) -> torch.Tensor:
    """(N, k) tuples in 0..p-1 -> tokens ending in '='.

    op_token=True: (N, 2k) tokens [a_1, op, a_2, op, .., a_k, =], op = p, eq = p+1; position 2j holds
    a_{j+1} (j = 0..k-1), odd positions 1, 3, .., 2k-3 hold op, position 2k-1 holds '='.
    op_token=False: (N, k+1) tokens [a_1, .., a_k, =], eq = p; position j holds a_{j+1}.
    """
    if inputs.ndim != 2:
        raise ValueError(f"inputs must have shape (N, k), got {tuple(inputs.shape)}")
    n, k = inputs.shape
    if not op_token:
        return torch.cat([inputs.long(), torch.full((n, 1), p, dtype=torch.long, device=inputs.device)], dim=1)
    tokens = torch.full((n, 2 * k), p, dtype=torch.long, device=inputs.device)
    tokens[:, 0::2] = inputs.long()
    tokens[:, -1] = p + 1
    return tokens


def site_names(cfg: TransformerConfig) -> list[str]:
    """All activation-site names of a model with this config, in forward order."""
    names = ["embed", "pos_embed"]
    for l in range(cfg.n_layers):
        b = f"blocks.{l}."
        names.append(b + "resid_pre")
        if cfg.layer_norm:
            names.append(b + "ln1.out")
        names += [b + s for s in ("attn.q", "attn.k", "attn.v", "attn.scores", "attn.pattern", "attn.z", "attn.out")]
        names.append(b + "resid_mid")
        if cfg.d_mlp > 0:
            if cfg.layer_norm:
                names.append(b + "ln2.out")
            names += [b + "mlp.pre", b + "mlp.post", b + "mlp.out"]
        names.append(b + "resid_post")
    if cfg.layer_norm:
        names.append("ln_final.out")
    names.append("logits")
    return names


def _gather(table: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """out[n, i] = table[i, tokens[n, i]]: table (P, V, ...), tokens (N, P) -> (N, P, ...)."""
    P, V = table.shape[:2]
    rows = (tokens + V * torch.arange(P, device=tokens.device)).reshape(-1)  # row i·V + t
    # index_select, not advanced indexing: its backward (index_add) is fast and deterministic on CPU
    return table.reshape(P * V, -1).index_select(0, rows).reshape(*tokens.shape, *table.shape[2:])


def _lookup(h_table: torch.Tensor, W: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(h W)[n, i] for a stream h[n, i] = h_table[i, tokens[n, i]]: h_table (P, V, d), W (H, d, e), tokens (N, P)
    -> (N, P, H, e), with h_table W computed once, on P·V rows instead of N·P."""
    return _gather(torch.einsum("pvd,hde->pvhe", h_table, W), tokens)


class Block(nn.Module):
    """One pre-LN block: causal multi-head attention (no biases) then an optional MLP."""

    def __init__(self, cfg: TransformerConfig, gen: torch.Generator) -> None:
        super().__init__()
        self.cfg = cfg
        H, d, e, s = cfg.n_heads, cfg.d_model, cfg.d_head, cfg.std

        def w(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.randn(*shape, generator=gen) * s)

        self.ln1 = nn.LayerNorm(d) if cfg.layer_norm else None
        self.W_Q, self.W_K, self.W_V = w(H, d, e), w(H, d, e), w(H, d, e)
        self.W_O = w(H, e, d)
        self.register_buffer("mask", torch.tril(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool)), persistent=False)
        if cfg.d_mlp > 0:
            self.ln2 = nn.LayerNorm(d) if cfg.layer_norm else None
            self.W_in, self.W_out = w(d, cfg.d_mlp), w(cfg.d_mlp, d)
            self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp)) if cfg.mlp_bias else None
            self.b_out = nn.Parameter(torch.zeros(d)) if cfg.mlp_bias else None

    def forward(self, x: torch.Tensor, rec: Recorder = _no_record, last_only: bool = False,
                table: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """x (N, P, d_model) -> resid_post (N, P, d_model), or (N, 1, d_model) at the last position if `last_only`.

        Two exact shortcuts for the logits-only pass (`Transformer.forward`):
        - `last_only`: queries, attention output and MLP only at the last position (keys and values at all);
        - `table = (x_table, tokens)` in block 0, where x[n, i] = x_table[i, tokens[n, i]] depends only on
          (position, token): q, k, v are computed once per (position, token), (P, vocab) rows, and gathered.
        """
        cfg = self.cfg
        P = x.shape[1]
        rec("resid_pre", x)
        queries = slice(P - 1, P) if last_only else slice(0, P)
        if table is None:
            h = self._ln1(x, rec)
            q = torch.einsum("npd,hde->nphe", h[:, queries], self.W_Q)
            k, v = (torch.einsum("npd,hde->nphe", h, W) for W in (self.W_K, self.W_V))
        else:
            x_table, tokens = table
            h_table = self._ln1(x_table)
            q = _lookup(h_table[queries], self.W_Q, tokens[:, queries])
            k, v = _lookup(h_table, self.W_K, tokens), _lookup(h_table, self.W_V, tokens)
        x = x[:, queries]
        rec("attn.q", q), rec("attn.k", k), rec("attn.v", v)
        Q = q.shape[1]  # query positions P-Q..P-1
        scores = torch.einsum("nqhe,nkhe->nhqk", q, k) / math.sqrt(cfg.d_head)
        scores = scores.masked_fill(~self.mask[P - Q:P, :P], float("-inf"))
        rec("attn.scores", scores)
        pattern = scores.softmax(dim=-1)
        rec("attn.pattern", pattern)
        z = torch.einsum("nhqk,nkhe->nqhe", pattern, v)
        rec("attn.z", z)
        attn_out = torch.einsum("nqhe,hed->nqd", z, self.W_O)
        rec("attn.out", attn_out)
        x = x + attn_out
        rec("resid_mid", x)
        if cfg.d_mlp > 0:
            h = x
            if self.ln2 is not None:
                h = self.ln2(x)
                rec("ln2.out", h)
            pre = h @ self.W_in
            if self.b_in is not None:
                pre = pre + self.b_in
            rec("mlp.pre", pre)
            post = F.relu(pre) if cfg.act == "relu" else F.gelu(pre)
            rec("mlp.post", post)
            mlp_out = post @ self.W_out
            if self.b_out is not None:
                mlp_out = mlp_out + self.b_out
            rec("mlp.out", mlp_out)
            x = x + mlp_out
        rec("resid_post", x)
        return x

    def _ln1(self, x: torch.Tensor, rec: Recorder = _no_record) -> torch.Tensor:
        if self.ln1 is None:
            return x
        h = self.ln1(x)
        rec("ln1.out", h)
        return h


class Transformer(AutogradPass, nn.Module):
    """Token + position embedding, n_layers blocks, optional final LayerNorm, unembedding at the last position.

    The attention has no biases, so head h's query/key interaction is the bilinear form W^KQ_h = W_Q[h] W_K[h]^T
    that `heads_sparsity` analyses; the architecture and the activation sites are in the module docstring.
    `nu` is None: softmax attention makes f non-homogeneous in θ, so there is no normalized margin or γ*.

    Args:
        cfg: The hyperparameters, e.g. `TransformerConfig.for_modadd(p=113, k=2)`.
    """

    nu = None  # not homogeneous in θ

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        s = cfg.std
        self.W_E = nn.Parameter(torch.randn(cfg.vocab, cfg.d_model, generator=gen) * s)
        self.W_pos = nn.Parameter(torch.randn(cfg.n_ctx, cfg.d_model, generator=gen) * s)
        self.blocks = nn.ModuleList([Block(cfg, gen) for _ in range(cfg.n_layers)])
        self.ln_final = nn.LayerNorm(cfg.d_model) if cfg.layer_norm else None
        self.W_U = nn.Parameter(torch.randn(cfg.d_model, cfg.n_classes, generator=gen) * s)
        if cfg.freeze_biases:  # zero biases that never train: no gradient, so AdamW neither steps nor decays them
            for name, q in self.named_parameters():
                if name.rsplit(".", 1)[-1] in ("b_in", "b_out", "bias"):
                    q.requires_grad_(False)

    def site_names(self) -> list[str]:
        """The names of the activation sites.

        Returns:
            Every activation-site name of this model, in forward order ("embed", "blocks.0.attn.pattern", ...,
            "logits"), the keys `run_with_cache` can record.
        """
        return site_names(self.cfg)

    def config(self) -> dict:
        """The architecture, as checkpoints store it.

        Returns:
            The checkpoint dict: {"kind": "transformer", **the TransformerConfig fields}.
        """
        return {"kind": "transformer", **dataclasses.asdict(self.cfg)}

    def bytes_per_row(self, n_tokens: int | None = None) -> int:
        """Bytes of one sequence's activations in a full pass over P = n_tokens positions (default n_ctx),
        counted as 8-byte values:  P·(6·d_model + 4·H·d_head + 2·d_mlp) + 2·H·P² + 2·n_classes
        (six residual-sized streams, q/k/v/z, the MLP's pre/post, scores and pattern, logits and a copy).

        Args:
            n_tokens: The sequence length P (default n_ctx).

        Returns:
            The bytes of one sequence's activations.
        """
        c = self.cfg
        P = c.n_ctx if n_tokens is None else n_tokens
        per_row = P * (6 * c.d_model + 4 * c.n_heads * c.d_head + 2 * c.d_mlp) + 2 * c.n_heads * P * P + 2 * c.n_classes
        return 8 * per_row

    def rows_per_chunk(self, budget_bytes: int, n_tokens: int | None = None) -> int:
        """How many sequences of P = n_tokens positions one chunk of an evaluation may hold.

        Args:
            budget_bytes: The memory budget of one chunk's activations, in bytes.
            n_tokens: The sequence length P (default n_ctx).

        Returns:
            max(1, budget_bytes // `bytes_per_row(n_tokens)`).
        """
        return rows_within(budget_bytes, self.bytes_per_row(n_tokens))

    def tokenize(self, inputs: torch.Tensor) -> torch.Tensor:
        """The token sequences of some tuples, in this model's layout (`tokenize_modadd` with the config's op_token).

        Args:
            inputs: (N, k) tuples of residues in 0..p−1, e.g. `ModularAddition(p, k).inputs()`.

        Returns:
            (N, n_ctx) int64 tokens ending in '=': [a_1, op, .., a_k, =] or [a_1, .., a_k, =].
        """
        return tokenize_modadd(inputs, self.cfg.n_classes, self.cfg.op_token)

    def _check(self, tokens: torch.Tensor) -> None:
        if tokens.ndim != 2 or not 1 <= tokens.shape[1] <= self.cfg.n_ctx:
            raise ValueError(f"tokens must have shape (N, P) with 1 <= P <= {self.cfg.n_ctx}, got {tuple(tokens.shape)}")

    def _forward(self, tokens: torch.Tensor, rec: Recorder) -> torch.Tensor:
        """The full pass over every position, recording each activation site."""
        self._check(tokens)
        P = tokens.shape[1]
        embed = self.W_E[tokens]
        pos = self.W_pos[:P].expand_as(embed)
        rec("embed", embed), rec("pos_embed", pos)
        x = embed + pos
        for l, block in enumerate(self.blocks):
            x = block(x, lambda name, t, b=f"blocks.{l}.": rec(b + name, t))
        if self.ln_final is not None:
            x = self.ln_final(x)
            rec("ln_final.out", x)
        logits = x[:, -1] @ self.W_U
        rec("logits", logits)
        return logits

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (N, P) int64 -> logits (N, n_classes) read at the last position.

        The same function as `run_with_cache`'s full pass, computing only what the last position's logits
        depend on (see `Block.forward`): in a one-layer model on [a_1, op, .., a_k, =] that is the attention
        output, MLP and unembedding of one position per sequence instead of 2k.

        Args:
            tokens: (N, P) int64 tokens, 1 ≤ P ≤ n_ctx (from `tokenize`).

        Returns:
            (N, n_classes) logits.

        Raises:
            ValueError: If tokens is not (N, P) with 1 ≤ P ≤ n_ctx.
        """
        self._check(tokens)
        P = tokens.shape[1]
        x_table = self.W_E[None, :, :] + self.W_pos[:P, None, :]           # x_0 as a function of (i, t)
        x = _gather(x_table, tokens)
        last = len(self.blocks) - 1
        for l, block in enumerate(self.blocks):
            x = block(x, last_only=l == last, table=(x_table, tokens) if l == 0 else None)
        if self.ln_final is not None:
            x = self.ln_final(x)
        return x[:, -1] @ self.W_U

    def run_with_cache(
        self, tokens: torch.Tensor, names: Iterable[str] | None = None, detach: bool = True
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A full forward pass that also records the activations (as TransformerLens' `run_with_cache`).

        Args:
            tokens: (N, P) int64 tokens, 1 ≤ P ≤ n_ctx.
            names: The activation sites to keep (see `site_names`; default all).
            detach: Store detached activations (False keeps their graph).

        Returns:
            (logits, cache): logits (N, n_classes) and {site name: activation}, shapes in the module docstring.

        Raises:
            KeyError: If `names` holds an unknown site.
            ValueError: If tokens is not (N, P) with 1 ≤ P ≤ n_ctx.
        """
        wanted = None if names is None else set(names)
        if wanted is not None:
            unknown = wanted - set(self.site_names())
            if unknown:
                raise KeyError(f"unknown activation sites {sorted(unknown)}; known: {self.site_names()}")
        cache: dict[str, torch.Tensor] = {}

        def rec(name: str, t: torch.Tensor) -> None:
            if wanted is None or name in wanted:
                cache[name] = t.detach() if detach else t

        logits = self._forward(tokens, rec)
        return logits, cache
