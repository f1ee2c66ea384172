"""PolyNet's hand-written training passes: f(θ, x) without an autograd graph, and the backward
∂L/∂θ = Σ_x J_f(x)^T ∂L/∂f(x) given ∂L/∂f, both accumulated chunk by chunk in O(rows·m) memory.

Each pass module offers the same three functions on a `PolyNet` net:

    applies(net, budget_rows) -> bool                   can (and should) this pass run on the population?
    logits(net, x, budget_rows) -> (N, classes)         x = None: the whole population Z_p^k, lexicographic
    backward(net, x, grad_logits, budget_rows) -> None  adds ∂L/∂u, ∂L/∂w to .grad

    chunked        any activation, any x: (rows, m) pre-activations z, then σ(z) W
    polarization   z^k on the population (d = k): one multilinear matmul plus 2^k − 2 small subset nets
    binomial       z^d on the population: the d − 1 middle binomial terms as one matmul

budget_rows is how many (rows, m) activation rows the memory budget allows (`PolyNet.rows_per_chunk`).
`tables` holds the embedding tables P, S, X, Y the population passes are built from.
"""
from fourier_circuits.models.passes import binomial, chunked, polarization

PASSES = {"chunked": chunked, "polarization": polarization, "binomial": binomial}
