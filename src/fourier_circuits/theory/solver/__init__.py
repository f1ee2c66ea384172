"""γ* solvers and certificates (THEORY.md §8): the class LP, generic column generation, and `certify`."""
from fourier_circuits.theory.solver.cg import column_generation, lp_max_min, mixture_weights
from fourier_circuits.theory.solver.lp import class_lp, class_lp_modadd, lp_bound_for_q

__all__ = ["class_lp", "class_lp_modadd", "lp_bound_for_q", "column_generation", "lp_max_min",
           "mixture_weights"]
