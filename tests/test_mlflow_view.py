"""What a user sees in MLflow: experiments open as model development (not the GenAI view)
with a description, runs sortable by their final numbers, result.json among the artifacts,
readable names that stay apart, and a sweep's bookkeeping as tags, not charts."""
from __future__ import annotations

import json

from mlflow.tracking import MlflowClient

from runner.result import Result, Series
from runner.tracking.store import final_metrics


def test_final_numbers_become_metrics_but_not_the_series_or_text():
    result = Result(task="optimize", final={"loss": 1.0, "distance_to_minimum": 0.5, "converged": True,
                                            "params": [1.0, 2.0], "kind": "minimum", "nan": float("nan"),
                                            "grad_check": {"max_rel_error": 1e-9, "mode": "coordinates"}},
                    metrics={"loss": Series([0, 1], [2.0, 1.0])})
    assert final_metrics(result) == {"distance_to_minimum": 0.5, "converged": 1.0,
                                     "grad_check.max_rel_error": 1e-9}


def test_a_run_in_mlflow_is_model_development_with_its_final_metrics(run_app, mlflow_uri):
    result, doc, run_dir = run_app("problem=bowl", "optim=gd", "optimize.steps=50")
    client = MlflowClient(mlflow_uri)
    run = client.get_run(doc["mlflow_run_id"])
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "gradient" in exp.tags["mlflow.note.content"]
    assert run.data.metrics["distance_to_minimum"] == doc["final"]["distance_to_minimum"]
    assert run.data.metrics["converged"] == float(doc["final"]["converged"])
    assert "result.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    logged = json.loads(open(client.download_artifacts(run.info.run_id, "result.json")).read())
    on_disk = json.loads((run_dir / "result.json").read_text())
    assert logged["final"] == on_disk["final"] and logged["mlflow_run_id"] == run.info.run_id
    _, doc2, _ = run_app("problem=bowl", "optim=gd", "optimize.steps=50")
    name1, name2 = run.info.run_name, client.get_run(doc2["mlflow_run_id"]).info.run_name
    assert name1 != name2 and name1.split(" · ")[0] == name2.split(" · ")[0]
