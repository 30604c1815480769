"""Warm start: begin a sweep run from an earlier study (``warm_start:`` in the sweep file).

Nightly sweeps give each DAG run its own study (``<sweep>:<run label>``). With warm start, ``init_sweep``
takes from one earlier study (``from: latest``: the newest *finished* earlier study of the same sweep,
never the run's own; or a study named in full):

* its best ``top_k`` completed configurations, enqueued as the new study's first trials (Optuna
  ``enqueue_trial``). They are ordinary trials of the new run: they count towards its budget, are
  evaluated again (tonight's data, tonight's code) and replace the first ``top_k`` points of the seed
  design; at most ``n_init`` are taken, so the DAG's round shape does not change;
* its completed trials as *prior observations* (``observations: true``, at most ``max_observations``,
  best first), snapshotted on the new study at init. The GP sampler adds them to its training set
  (``hpo_tasks.gp.sampler``); they are never trials of the new study, so they count for no budget, no
  stopping rule and no "best". Age rule: one generation only; the earlier study's own prior observations
  are not carried on, older nights reach the new run only through the configurations they passed on.

An earlier space that differs from tonight's is mapped, never crashed on (each case is a warning in the
task log and a ``hpo.warning.warm_start`` tag on the parent run):
    removed parameter      dropped from the earlier configurations
    new parameter          enqueued configurations take the centre of its range (first choice); prior
                           observations where it is active are skipped (their value of it is unknown)
    changed bounds / type  enqueued configurations are clipped (rounded) onto the new space; prior
                           observations outside it are dropped (clipping would misplace their outcome)
    changed choices        configurations with a choice that is gone are skipped
    other direction        nothing is taken; other objective or objective args: only configurations
                           are enqueued (earlier outcomes would mislead the GP)
All of this is decided once, at init, and pinned on the study: a retried init, or a later task, sees the
same source and the same prior data.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import optuna
from optuna.trial import TrialState

from hpo_tasks import record
from hpo_tasks.config import CategoricalParam, FloatParam, IntParam, SweepConfig, SweepConfigError
from hpo_tasks.space import SearchSpace, _active, _decode_one

log = logging.getLogger(__name__)
WARM_ATTR = record.WARM_ATTR
FINISHED_ATTR = record.FINISHED_ATTR
FROM_ATTR = record.WARM_FROM_ATTR  # user attr of an enqueued trial: the study its configuration came from


@dataclass
class WarmStart:
    """What a run took from an earlier study (pinned on the new study as JSON)."""

    source: str | None
    enqueued: list[dict[str, Any]] = field(default_factory=list)
    observations: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# -- choosing the source ----------------------------------------------------------------------------


def is_finished(study: optuna.Study) -> bool:
    """Finalize ran (or, for studies from before that was recorded, it stopped with nothing in flight)."""
    attrs = study.user_attrs
    if FINISHED_ATTR in attrs:
        return True
    if record.STOP_ATTR not in attrs:
        return False
    unfinished = (TrialState.RUNNING, TrialState.WAITING)
    return not any(t.state in unfinished for t in study.get_trials(deepcopy=False))


def resolve_source(cfg: SweepConfig, study_name: str) -> str | None:
    """The study a run warm-starts from, or None. A named study that does not exist is an error."""
    ws = cfg.warm_start
    if ws is None or ws.source == "none":
        return None
    if ws.source != "latest":
        names = {s.name for s in record.list_studies()}
        if ws.source not in names:
            mine = sorted(n for n in names if n.startswith(f"{cfg.name}:"))[-5:]
            raise SweepConfigError(
                f"{cfg.name}: warm_start.from: no study '{ws.source}'; use latest, none or an existing "
                f"study such as {mine or ['<sweep>:<run label>']}"
            )
        if ws.source == study_name:
            raise SweepConfigError(
                f"{cfg.name}: warm_start.from: '{ws.source}' is this run's own study; use latest or an "
                f"earlier study"
            )
        return ws.source
    studies = record.list_studies(cfg.name)  # newest first
    started = next((s.started for s in studies if s.name == study_name), None)
    started = math.inf if started is None else started
    for s in studies:
        if s.name == study_name or s.started is None or s.started >= started:
            continue
        if FINISHED_ATTR in s.user_attrs or is_finished(
            optuna.load_study(study_name=s.name, storage=record.storage())
        ):
            return s.name
    return None


# -- mapping an earlier configuration onto tonight's space ------------------------------------------


def fit_to_space(
    params: Mapping[str, Any], space: SearchSpace, *, clip: bool
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """``params`` of an earlier study as a valid configuration of ``space``.

    ``clip=True`` (configurations to enqueue): values outside the space are clipped or rounded onto it
    and new parameters take the centre of their range. ``clip=False`` (observations): such a point is
    rejected (None). Returns the configuration and ``(parameter, what happened)`` notes.
    """
    out: dict[str, Any] = {}
    notes: list[tuple[str, str]] = []
    for name, p in space.params:
        if not _active(p, out):
            continue
        if name not in params:
            if not clip:
                return None, [(name, "new")]
            out[name] = _centre(p)
            notes.append((name, "new"))
            continue
        v = params[name]
        if isinstance(p, CategoricalParam):
            if v not in p.choices:
                return None, [(name, "choice gone")]
            out[name] = v
            continue
        fitted = _fit_number(p, v)
        if fitted is None:
            return None, [(name, "not a number")]
        if not _same(fitted, v):
            if not clip:
                return None, [(name, "outside")]
            notes.append((name, "clipped"))
        out[name] = fitted
    notes += [(name, "removed") for name in params if name not in out and name not in space.names]
    return out, notes


def _centre(p: FloatParam | IntParam | CategoricalParam) -> Any:
    return p.choices[0] if isinstance(p, CategoricalParam) else _decode_one(p, 0.5)


def _fit_number(p: FloatParam | IntParam, v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    lo, hi = float(p.low), float(p.high)
    clipped = min(max(float(v), lo), hi)
    u = SearchSpace._encode_one(p, clipped)
    return _decode_one(p, u)


def _same(a: Any, b: Any) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


# -- taking from the source ---------------------------------------------------------------------------


def collect(cfg: SweepConfig, source: str) -> WarmStart:
    """The configurations to enqueue and the prior observations ``cfg``'s run takes from ``source``."""
    ws = cfg.warm_start
    assert ws is not None
    src, src_cfg = record.load(source)
    out = WarmStart(source=source)
    if src_cfg.direction != cfg.direction:
        out.warnings.append(
            f"{source} was a {src_cfg.direction} study, this sweep is {cfg.direction}: nothing taken"
        )
        return out
    use_values = ws.observations
    if use_values and cfg.sampler.name != "gp":
        out.warnings.append(
            f"sampler {cfg.sampler.name} takes no prior observations (sampler gp does): only "
            f"configurations are enqueued"
        )
        use_values = False
    if (src_cfg.objective.name, src_cfg.objective.args) != (cfg.objective.name, cfg.objective.args):
        if use_values:
            out.warnings.append(
                f"{source} measured objective {src_cfg.objective.name} {src_cfg.objective.args}, this "
                f"sweep {cfg.objective.name} {cfg.objective.args}: its outcomes are not fed to the GP, "
                f"only its configurations are enqueued"
            )
        use_values = False
    done = [
        t
        for t in record.search_trials(src.get_trials(deepcopy=False))
        if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)
    ]
    done.sort(key=lambda t: (-cfg.sign * cast(float, t.value), t.number))  # best first
    space = SearchSpace.from_config(cfg)
    counts: Counter[tuple[str, str, str]] = Counter()

    n_enqueue = min(ws.top_k, cfg.n_init, cfg.budget.max_trials)
    seen: set[Any] = set()
    for t in done:
        if len(out.enqueued) >= n_enqueue:
            break
        params, notes = fit_to_space(t.params, space, clip=True)
        counts.update((name, what, "enqueue") for name, what in notes)
        if params is None or space.key(params) in seen:
            continue
        seen.add(space.key(params))
        out.enqueued.append({"params": params, "from_trial": t.number, "value": t.value})

    if use_values:
        for t in done:
            if len(out.observations) >= ws.max_observations:
                break
            params, notes = fit_to_space(t.params, space, clip=False)
            counts.update((name, what, "observe") for name, what in notes)
            if params is not None:
                out.observations.append((params, float(t.value)))  # type: ignore[arg-type]
    out.warnings += _describe(counts, src_cfg, cfg)
    return out


def _describe(counts: Counter[tuple[str, str, str]], old: SweepConfig, new: SweepConfig) -> list[str]:
    """One sentence per changed parameter."""
    by_param: dict[str, list[str]] = {}
    for (name, what, use), n in sorted(counts.items()):
        if what == "removed":
            if use == "enqueue":
                by_param.setdefault(name, []).insert(0, "no longer in the space, dropped from its configs")
            continue
        subject = "enqueued config(s)" if use == "enqueue" else "prior observation(s)"
        verb = {
            "new": "took its centre value" if use == "enqueue" else "skipped (its value there is unknown)",
            "clipped": "clipped onto the new range",
            "outside": "outside the new range, dropped",
            "choice gone": "with a choice no longer offered, skipped",
            "not a number": "with a non-numeric value, skipped",
        }[what]
        by_param.setdefault(name, []).append(f"{n} {subject} {verb}")
    out = []
    for name, parts in by_param.items():
        change = _change(old.space.get(name), new.space.get(name))
        out.append(f"parameter '{name}'{change}: " + "; ".join(parts))
    return out


def _change(old: Any, new: Any) -> str:
    def show(p: Any) -> str:
        if isinstance(p, CategoricalParam):
            return str(list(p.choices))
        return f"{p.type} [{p.low}, {p.high}]"

    if old is None or new is None or old == new:
        return ""
    return f" ({show(old)} -> {show(new)})"


# -- init and the sampler's view ----------------------------------------------------------------------


def apply(cfg: SweepConfig, study: optuna.Study) -> WarmStart:
    """Decide the run's warm start once (found again on a retry), enqueue its configurations and pin
    the prior observations on the study."""
    if WARM_ATTR in study.user_attrs:
        return load(study)
    source = resolve_source(cfg, study.study_name)
    ws = WarmStart(source=None) if source is None else collect(cfg, source)
    for item in ws.enqueued:
        study.enqueue_trial(
            item["params"],
            user_attrs={FROM_ATTR: source, record.WARM_TRIAL_ATTR: item["from_trial"]},
            skip_if_exists=True,  # a retried init never enqueues twice
        )
    for note in ws.warnings:
        log.warning("warm start from %s: %s", source, note)
    study.set_user_attr(WARM_ATTR, asdict(ws))
    if source is None and cfg.warm_start is not None and cfg.warm_start.source != "none":
        log.info("warm start: no finished earlier study of %s; cold start", cfg.name)
    else:
        log.info(
            "warm start from %s: %d config(s) enqueued, %d prior observation(s)",
            source,
            len(ws.enqueued),
            len(ws.observations),
        )
    return ws


def load(study: optuna.Study) -> WarmStart:
    raw = study.user_attrs.get(WARM_ATTR)
    if not raw:
        return WarmStart(source=None)
    return WarmStart(
        source=raw["source"],
        enqueued=list(raw["enqueued"]),
        observations=[(dict(p), float(v)) for p, v in raw["observations"]],
        warnings=list(raw["warnings"]),
    )


def prior_observations(study: optuna.Study) -> list[tuple[dict[str, Any], float]]:
    """The earlier study's outcomes the GP may use: ``[(params, value)]`` in the study's direction."""
    return load(study).observations


def tracking_record(ws: WarmStart) -> tuple[dict[str, str], dict[str, float]]:
    """Tags and metrics for the parent run."""
    tags = {"hpo.warm_start.from": ws.source or "none"}
    if ws.warnings:
        tags["hpo.warning.warm_start"] = "; ".join(ws.warnings)
    metrics = {
        "warm_start.enqueued": float(len(ws.enqueued)),
        "warm_start.observations": float(len(ws.observations)),
    }
    return tags, metrics
