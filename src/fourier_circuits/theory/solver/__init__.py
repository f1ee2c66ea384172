"""γ* solvers and certificates (docs/theory.md §8): the class LP, generic and symmetric column generation, certify."""
from fourier_circuits.theory.solver.certify import certify, construct_from_duals, measured_margin
from fourier_circuits.theory.solver.cg import column_generation, lp_max_min, mixture_weights, polish
from fourier_circuits.theory.solver.lp import class_lp, class_lp_modadd, lp_bound_for_q
from fourier_circuits.theory.solver.symmetric import column_generation_group, group_population

__all__ = ["class_lp", "class_lp_modadd", "lp_bound_for_q", "column_generation", "lp_max_min",
           "mixture_weights", "polish", "column_generation_group", "group_population", "certify",
           "construct_from_duals", "measured_margin"]
