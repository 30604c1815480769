"""hpo-sweeps: scheduled hyperparameter sweeps driven by GP Bayesian optimisation.

All logic lives here; ``dags/`` and ``plugins/`` are thin. This package never imports airflow, and
importing it stays cheap: torch, botorch, mlflow and xgboost load inside the functions that use them.
"""

__version__ = "0.1.0"
