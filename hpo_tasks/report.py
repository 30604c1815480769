"""Report a training script's per-step values to the sweep that runs it (``objective.command``).

Dependency-free and safe to import outside a sweep: it prints one line per call and does nothing else. A
script that cannot import it prints the same line itself::

    HPO_REPORT {"step": 3, "value": 0.91}

``step`` is a non-negative integer (the epoch: the unit of ``pruner.min_resource``/``max_resource``),
``value`` the number the sweep's pruner judges (the score so far, e.g. validation accuracy). The trial
task reads these lines as they arrive; when the pruner stops the trial, the script's process group gets
SIGTERM (then SIGKILL after ``objective.grace_seconds``). A script that wants to save state on SIGTERM may
handle it; it must exit within the grace period.

``metrics(mapping)`` prints the optional final line ``{"hpo_metrics": {...}}`` that names the script's
results when it does not log them to MLflow (docs/features/training-scripts.md).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping

REPORT_PREFIX = "HPO_REPORT "
METRICS_KEY = "hpo_metrics"


def report(step: int, value: float) -> None:
    """Print ``HPO_REPORT {"step": step, "value": value}`` on stdout, flushed."""
    if isinstance(step, bool) or int(step) != step or step < 0:
        raise ValueError(f"report(step, value): step must be a non-negative integer (got {step!r})")
    line = json.dumps({"step": int(step), "value": _number(value)})
    print(REPORT_PREFIX + line, file=sys.stdout, flush=True)


def metrics(values: Mapping[str, float]) -> None:
    """Print the final ``{"hpo_metrics": {...}}`` line on stdout, flushed."""
    print(json.dumps({METRICS_KEY: {str(k): _number(v) for k, v in values.items()}}), flush=True)


def _number(v: float) -> float | str:
    v = float(v)
    return v if math.isfinite(v) else str(v)  # JSON has no NaN/inf; the sweep reads "nan"/"inf" back
