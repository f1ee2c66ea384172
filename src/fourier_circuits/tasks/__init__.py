"""Tasks: one module per task kind (its population, model, γ*, construction, analysis, run label and resource
estimate, declared as `KIND`), the registry that finds them, and the train / test split."""
