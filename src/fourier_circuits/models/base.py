"""The training interface every model offers, so that a trainer needs no model-kind branches.

    model.fused_population               True: `logits(None, ..)` means the whole population Z_p^k
                                         (lexicographic); False: x must be given
    model.nu                             homogeneity degree ν, f(αθ) = α^ν f(θ); None if not homogeneous
    model.bytes_per_row()                activation bytes one population row costs in a chunk
    model.rows_per_chunk(budget_bytes)   rows of one chunk within the memory budget
    model.logits(x, rows)                f(θ, x) (N, classes), detached: the loss is built on it as a leaf
    model.backward_from_logits(x, g, rows)   adds ∂L/∂θ = Σ_x J_f(x)^T g(x) to .grad, g = ∂L/∂f(θ, x)
    model.config()                       the dict stored in checkpoints

PolyNet implements `logits` / `backward_from_logits` by hand (`models.passes`); the other models use
`AutogradPass`, which runs the ordinary forward with autograd and back-propagates g through its graph.
"""
from __future__ import annotations

from typing import Protocol

import torch


class TrainableModel(Protocol):
    """What the trainer calls (see the module docstring)."""

    fused_population: bool

    @property
    def nu(self) -> int | None: ...

    def rows_per_chunk(self, budget_bytes: int) -> int: ...

    def logits(self, x: torch.Tensor | None, rows: int) -> torch.Tensor: ...

    def backward_from_logits(self, x: torch.Tensor | None, grad_logits: torch.Tensor, rows: int) -> None: ...

    def config(self) -> dict: ...


def flush_subnormals() -> None:
    """Treat subnormal floats (|x| < 1.2e−38 in float32, 2.2e−308 in float64) as 0 in CPU arithmetic.

    At a large τ most softmin weights π_{x,c} = exp(E − M) of far-off gaps underflow into subnormals, and x86
    cores take a microcode assist on every arithmetic operation that touches one: the S5 run at width 1200
    (fast recipe, τ ≈ 126) went from 0.18 s to 2.9 s a step late in its Adam phase, and one forward and
    backward pass of that state takes 9.4 s with subnormals and 0.42 s without. The values flushed are below
    every quantity this package compares (margins and norms are float64 and many orders larger).
    """
    torch.set_flush_denormal(True)   # a no-op returning False where the CPU has no such mode


# Forward-only passes on the CPU (metric rows, analyses) go at most this many rows at a time: the activations
# then stay in cache. One pass over the 29 791 triples of the two-layer k = 3, p = 31 transformer took
# 7.2 s in 16 384-row chunks and 3.1 s in 1024-row ones (1 thread, cores shared).
CPU_FORWARD_ROWS = 1024


def forward_rows(rows: int, x: torch.Tensor) -> int:
    """`rows`, capped at CPU_FORWARD_ROWS when x lives on the CPU (a GPU takes whole budget-sized chunks)."""
    return min(rows, CPU_FORWARD_ROWS) if x.device.type == "cpu" else rows


def rows_within(budget_bytes: int, bytes_per_row: int) -> int:
    """max(1, budget // bytes_per_row): rows of one chunk, at least one whatever the budget."""
    return max(1, budget_bytes // bytes_per_row)


class HiddenLayerBudget:
    """Chunk size of a one-hidden-layer net (`width` m, parameter `embed`): a chunk of rows holds a
    (rows, m) hidden activation and two temporaries of that shape, so a row costs 3·m·(bytes per value)."""

    width: int
    embed: torch.Tensor

    def bytes_per_row(self) -> int:
        """The memory one row of a chunk costs.

        Returns:
            The bytes one row of a chunk costs: 3·m·(bytes per value of `embed`).
        """
        return self.width * self.embed.element_size() * 3

    def rows_per_chunk(self, budget_bytes: int) -> int:
        """How many rows of inputs one chunk of a pass may hold.

        Args:
            budget_bytes: The memory budget of one chunk's activations, in bytes.

        Returns:
            max(1, budget_bytes // `bytes_per_row()`).
        """
        return rows_within(budget_bytes, self.bytes_per_row())


class AutogradPass:
    """`logits` / `backward_from_logits` for a model (an nn.Module) without a hand-written backward.

    With autograd on, `logits(x)` runs the forward once over the whole batch, keeps the output (and so its
    graph) and returns it detached; `backward_from_logits(x, g)` then calls output.backward(g) and drops it.
    The result is the one of autograd through loss(model(x)): the same forward, the same backward.
    `rows` splits the batch only with autograd off (evaluation): the graph holds every row's activations
    anyway, and splitting it would change the order in which the gradient sums over rows.
    """

    fused_population: bool = False
    _kept_output: torch.Tensor | None = None    # the last `logits` output, with its graph

    def logits(self, x: torch.Tensor | None, rows: int = 1 << 14) -> torch.Tensor:
        """The logits f(θ, x), keeping the graph for `backward_from_logits` when autograd is on.

        Args:
            x: The inputs (N, ...); None (the whole population) needs a model with a fused population pass.
            rows: The rows per chunk when autograd is off (evaluation).

        Returns:
            (N, classes), detached.

        Raises:
            ValueError: If x is None.
        """
        if x is None:
            raise ValueError(f"{type(self).__name__} has no fused population pass: give the inputs x")
        self._kept_output = None
        if torch.is_grad_enabled() and any(q.requires_grad for q in self.parameters()):
            self._kept_output = self(x)
            return self._kept_output.detach()
        if x.shape[0] <= rows:
            return self(x)
        return torch.cat([self(x[s:s + rows]) for s in range(0, x.shape[0], rows)])

    def backward_from_logits(self, x: torch.Tensor | None, grad_logits: torch.Tensor, rows: int = 1 << 14) -> None:
        """Accumulate into .grad Σ_x J_f(x)^T grad_logits(x) through the graph of the last `logits(x)` call
        (x and rows are those of that call; the graph is not re-run).

        Args:
            x: The inputs of the preceding `logits` call (unused: its graph is reused).
            grad_logits: ∂L/∂f, the shape of the logits.
            rows: Unused (kept for the interface of `models.base.TrainableModel`).

        Raises:
            RuntimeError: Without a preceding `logits(x)` call made with autograd on.
        """
        output, self._kept_output = self._kept_output, None
        if output is None:
            raise RuntimeError("backward_from_logits needs a preceding logits(x) call with autograd on")
        output.backward(grad_logits)
