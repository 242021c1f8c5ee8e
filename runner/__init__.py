"""calclab runner: Hydra composition, validation, task dispatch, outputs and MLflow tracking."""
