"""Multirun (``python -m runner -m ...``): the sweep around the jobs.

``callback`` is the Hydra callback that creates the MLflow parent run, warms the kernels,
and writes the summary table and plots; ``workers`` starts and warms a joblib launcher's
worker processes while the sweep is prepared; ``batch`` runs the batched launcher's jobs of
one structure through their task's ``run_many`` (validated as ``runner.app`` validates one
run) and records them in bulk; ``heatmap`` draws heat maps and ranks the groups of a grid;
``paths`` draws each group's best path on a 2-D problem's contour.
May import: ``runner.app`` (validation only), ``runner.tasks.registry``, ``runner.tracking``,
``runner.outputs``, ``runner.interrupt``, ``runner.result``, ``runner.errors``, ``runner.config``
(validating a job's tracking and problem nodes), ``runner.problems`` (building the problem whose
contour the best paths are drawn on).
"""
