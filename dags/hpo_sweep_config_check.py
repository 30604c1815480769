"""Airflow import check for sweep files: any invalid file in config/sweeps makes *this* DAG file fail to
import, so the Airflow UI lists an import error naming the file, each bad field and the fix. The valid
sweeps load from ``hpo_sweeps.py`` and keep working. (The words airflow and DAG here also let Airflow's
safe-mode scan pick this file up.)
"""

from __future__ import annotations

from hpo_tasks.config import SweepConfigError, discover_sweeps
from hpo_tasks.settings import sweeps_dir

_errors = [str(e) for e in discover_sweeps(sweeps_dir()).values() if isinstance(e, SweepConfigError)]
if _errors:
    raise SweepConfigError("\n\n".join(_errors))
