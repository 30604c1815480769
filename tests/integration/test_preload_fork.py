"""A process forked after ``hpo_tasks.preload`` (as LocalExecutor's workers and Airflow's task processes
are) runs sweeps to the end (GP asks with torch/botorch, MLflow child runs, Optuna on SQLite) and imports
nothing heavy there: what the preload lists is what the steps need."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# Imported after the preload only by finalize's plots (once per sweep) and MLflow's migrations (by name).
ALLOWED_LATER = (
    "matplotlib",
    "PIL",
    "optuna.visualization",
    "optuna.terminator",
    "mlflow.store.db.",
    "hpo_tasks.plots",
)
HEAVY = (
    "torch",
    "botorch",
    "gpytorch",
    "linear_operator",
    "mlflow",
    "optuna",
    "sqlalchemy",
    "sympy",
    "scipy",
)

CHILD = """
import json, os, sys
os.environ["HPO_STATE_DIR"] = sys.argv[1]
from hpo_tasks import preload
preload.preload()
before = set(sys.modules)
pid = os.fork()
if pid == 0:  # as LocalExecutor's worker and Airflow's task process: forked after the imports
    code = 1
    try:
        from hpo_tasks.config import parse_sweep
        from hpo_tasks.steps.local import run_in_process
        from tests.helpers import branin_sweep
        out = {}
        for q in (1, 2):  # the fast path / BoTorch's q=1 and a batch with pending points
            data = branin_sweep(f"pre{q}", budget={"max_trials": 6, "n_init": 4, "batch_size": q})
            summary = run_in_process(parse_sweep(data), label="x")
            out[q] = [summary["n_complete"], summary["best_value"]]
        new = sorted(set(sys.modules) - before)
        with open(os.path.join(sys.argv[1], "out.json"), "w") as f:
            json.dump({"best": out, "new": new}, f)
        code = 0
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.integration
def test_a_process_forked_after_the_preload_runs_sweeps_and_imports_nothing_heavy(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert all(n == 6 and isinstance(best, float) for n, best in out["best"].values()), out["best"]
    late = [m for m in out["new"] if m.split(".")[0] in HEAVY and not m.startswith(ALLOWED_LATER)]
    assert late == [], f"imported after the preload (add them to hpo_tasks.preload.MODULES): {late}"
