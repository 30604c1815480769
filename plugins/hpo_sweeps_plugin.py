"""Airflow UI additions for hpo-sweeps.

- A navigation link to the MLflow UI (``MLFLOW_UI_URL``, default http://localhost:5000), in its Model
  training view.
- A *Sweep* tab on every DAG run: progress (trials done / budget, best so far, stop reason, promotion), a
  best-so-far curve, the trials (state, value, params, a link to each child run; a trial that finished while
  its task is still ``running`` is marked: its worker may be lost), links to the MLflow parent run and to
  the runs list of its trials.
- An *MLflow trial* tab on every task instance: the trial it ran (number, state, value, params, wallclock,
  error) and a link to its MLflow run.

The tabs are Airflow 3 external views (iframes of this plugin's FastAPI app, mounted at ``/hpo``). The app
checks the caller like Airflow's own API does (the session cookie or a bearer token, and read access to
the DAG's runs), so nothing is shown to someone who could not see the DAG run itself.
"""

from __future__ import annotations

import re

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from hpo_tasks import summary, tracking, views

app = FastAPI(title="hpo-sweeps", description="Sweep progress and MLflow links for hpo-sweeps DAG runs.")
_can_read_runs = [Depends(requires_access_dag("GET", DagAccessEntity.RUN))]


@app.get("/sweeps/{dag_id}/runs/{run_id}", response_class=HTMLResponse, dependencies=_can_read_runs)
def sweep_page(dag_id: str, run_id: str) -> HTMLResponse:
    p = summary.run_progress(dag_id, run_id)
    states = trial_task_states(dag_id, run_id) if p else {}
    return HTMLResponse(views.render_html(p, dag_id=dag_id, run_id=run_id, task_states=states))


_TRIAL_LABEL = re.compile(r"trial (\d+)$")  # the run_trial tasks' map_index_template


def trial_task_states(dag_id: str, run_id: str) -> dict[int, str]:
    """``{trial number: task-instance state}`` of the DAG run's ``*.run_trial`` tasks (the number from
    the rendered map index ``trial N``), read from Airflow's metadata DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    q = select(TaskInstance.rendered_map_index, TaskInstance.state).where(
        TaskInstance.dag_id == dag_id,
        TaskInstance.run_id == run_id,
        TaskInstance.task_id.like("%.run_trial"),
    )
    with create_session() as session:
        rows = session.execute(q).all()
    out: dict[int, str] = {}
    for label, state in rows:
        m = _TRIAL_LABEL.search(label or "")
        if m and state is not None:
            out[int(m.group(1))] = str(getattr(state, "value", state))
    return out


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
    t = summary.trial_detail(dag_id, run_id, task_id, map_index)
    return HTMLResponse(views.render_trial_html(t, task_id=task_id, map_index=map_index))


class HpoSweepsPlugin(AirflowPlugin):
    name = "hpo_sweeps"
    fastapi_apps = [{"app": app, "url_prefix": "/hpo", "name": "hpo sweeps"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012 - Airflow's plugin interface is a class attribute
        {
            "name": "MLflow (sweeps)",
            "href": tracking.home_url(),
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
