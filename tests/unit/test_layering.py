"""hpo_tasks never imports airflow; importing it stays cheap (no torch/botorch/mlflow/xgboost)."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO


def test_hpo_tasks_never_imports_airflow() -> None:
    offenders = []
    for path in (REPO / "hpo_tasks").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "airflow"]
    assert offenders == []


def test_import_is_cheap() -> None:
    code = (
        "import sys, hpo_tasks.config, hpo_tasks.dag_docs, hpo_tasks.steps, hpo_tasks.summary;"
        "heavy = {'torch', 'botorch', 'mlflow', 'xgboost', 'sklearn'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
