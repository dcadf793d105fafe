"""MLflow tracking: where runs go, what each run records, the registry, run comparison."""
