"""Airflow UI additions for hpo-sweeps: a navigation link to the MLflow UI where sweeps are compared.

Thin on purpose: the URL comes from ``MLFLOW_UI_URL`` (default http://localhost:5000, what
``make mlflow`` serves).
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin


class HpoSweepsPlugin(AirflowPlugin):
    name = "hpo_sweeps"
    external_views = [  # noqa: RUF012 - Airflow's plugin interface is a class attribute
        {
            "name": "MLflow (sweeps)",
            "href": os.environ.get("MLFLOW_UI_URL", "http://localhost:5000"),
            "destination": "nav",
            "category": "browse",
        }
    ]
