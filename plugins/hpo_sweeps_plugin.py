"""Airflow UI additions for hpo-sweeps.

- A navigation link to the MLflow UI (``MLFLOW_UI_URL``, default http://localhost:5000).
- A *Sweep* tab on every DAG run: progress (trials done / budget, best so far, stop reason, promotion) and a
  link to the run's MLflow parent run.
- An *MLflow trial* tab on every task instance: a link to the MLflow run of the trial it ran.

The tabs are Airflow 3 external views (iframes of this plugin's FastAPI app, mounted at ``/hpo``). The app
checks the caller like Airflow's own API does (the session cookie or a bearer token, and read access to
the DAG's runs), so nothing is shown to someone who could not see the DAG run itself.
"""

from __future__ import annotations

import html
import os

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from hpo_tasks import summary

app = FastAPI(title="hpo-sweeps", description="Sweep progress and MLflow links for hpo-sweeps DAG runs.")
_can_read_runs = [Depends(requires_access_dag("GET", DagAccessEntity.RUN))]


@app.get("/sweeps/{dag_id}/runs/{run_id}", response_class=HTMLResponse, dependencies=_can_read_runs)
def sweep_page(dag_id: str, run_id: str) -> HTMLResponse:
    p = summary.run_progress(dag_id, run_id)
    return HTMLResponse(summary.render_html(p, dag_id=dag_id, run_id=run_id))


@app.get("/sweeps/{dag_id}/runs/{run_id}/progress.json", dependencies=_can_read_runs)
def sweep_json(dag_id: str, run_id: str) -> JSONResponse:
    p = summary.run_progress(dag_id, run_id)
    return JSONResponse(p, status_code=200 if p else 404)


@app.get(
    "/sweeps/{dag_id}/runs/{run_id}/tasks/{task_id}/{map_index}",
    response_class=HTMLResponse,
    dependencies=_can_read_runs,
)
def trial_page(dag_id: str, run_id: str, task_id: str, map_index: int) -> HTMLResponse:
    url = summary.trial_run_url(dag_id, run_id, task_id, map_index)
    e = html.escape
    body = (
        f'<a id="mlflow-link" href="{e(url)}" target="_blank" rel="noopener">Open this trial in MLflow</a>'
        if url
        else "<p>This task instance is not a trial of a sweep run (or has not started yet).</p>"
    )
    return HTMLResponse(
        f"<!doctype html><html><body style='font-family:sans-serif'><h3>{e(task_id)} [{map_index}]</h3>"
        f"{body}</body></html>"
    )


class HpoSweepsPlugin(AirflowPlugin):
    name = "hpo_sweeps"
    fastapi_apps = [{"app": app, "url_prefix": "/hpo", "name": "hpo sweeps"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012 - Airflow's plugin interface is a class attribute
        {
            "name": "MLflow (sweeps)",
            "href": os.environ.get("MLFLOW_UI_URL", "http://localhost:5000"),
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Sweep",
            "href": "/hpo/sweeps/{DAG_ID}/runs/{RUN_ID}",
            "destination": "dag_run",
            "url_route": "hpo_sweep",
        },
        {
            "name": "MLflow trial",
            "href": "/hpo/sweeps/{DAG_ID}/runs/{RUN_ID}/tasks/{TASK_ID}/{MAP_INDEX}",
            "destination": "task_instance",
            "url_route": "hpo_trial",
        },
    ]
