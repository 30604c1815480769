"""Early stopping of unpromising trials: the sweep's pruner and the ``report`` callback objectives get.

An objective that declares a ``report`` keyword parameter receives ``report(step, value)``. Each call
records the intermediate value on the Optuna trial in the shared storage (and as MLflow metric
``intermediate_value`` at that step on the trial's child run) and raises ``optuna.TrialPruned`` when the
sweep's pruner says so. ``step`` is the resource used so far (epoch 1, 2, ...), the unit of
``pruner.min_resource``/``max_resource``/``n_warmup_steps``. Objectives without the keyword run unchanged.

Every process rebuilds the same pruner from the config pinned on the study (``record.load`` calls
``record.make_pruner``), and every decision reads the shared storage: intermediate values and successive
halving's rung records are trial attributes there, and Hyperband's bracket of a trial is a CRC32 of the
study name and the trial number (``optuna.pruners.HyperbandPruner._get_bracket_id``), the same in any
process, so ask/tell-driven trials in separate tasks see one consistent Hyperband (Li et al., JMLR 2018;
asynchronous SHA: Li et al., MLSys 2020).
"""

from __future__ import annotations

import inspect
import logging
import math
from typing import TYPE_CHECKING, Any

from hpo_tasks.config import SweepConfig
from hpo_tasks.extrapolation import PROBABILITY_ATTR
from hpo_tasks.record import PRUNED_AT_ATTR, REPORTED_ATTR, get_trial

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
STEP_METRIC = "intermediate_value"
RESOURCE_METRIC = "resource"  # resource spent so far (Reporter.spent): the child run's latest value
RUNG_TAG = "hpo.rung"  # a pruned trial's successive-halving rung (0: the first, at min_resource)
BEAT_TAG = "hpo.beat_probability"  # stopped by pruner.beat_probability: its chance of beating the best
__all__ = [
    "BEAT_TAG",
    "PRUNED_AT_ATTR",
    "RESOURCE_METRIC",
    "RUNG_TAG",
    "STEP_METRIC",
    "Reporter",
    "accepts_report",
    "config_warnings",
]


def accepts_report(objective: Any) -> bool:
    """Whether the objective declares a ``report`` parameter (``**kwargs`` alone does not count: such a
    function might pass its keywords on to code that does not expect one)."""
    try:
        params = inspect.signature(objective).parameters
    except (TypeError, ValueError):
        return False
    p = params.get("report")
    return p is not None and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)


def config_warnings(cfg: SweepConfig) -> list[str]:
    """What makes a pruner useless for this sweep (``hpo validate`` prints it, ``init_sweep`` tags it on
    the parent run). Imports the objective's module, so it is not part of parsing the file."""
    if cfg.pruner.name == "none":
        return []
    from hpo_tasks.objectives import resolve_objective

    out = []
    try:
        objective = resolve_objective(cfg.objective.name)
    except Exception as err:  # noqa: BLE001 - reported as a warning; the trial task will fail loudly
        return [f"pruner '{cfg.pruner.name}': objective '{cfg.objective.name}' cannot be loaded ({err})"]
    if not accepts_report(objective):
        out.append(
            f"pruner '{cfg.pruner.name}' has no effect: objective '{cfg.objective.name}' takes no 'report' "
            f"argument, so it reports no intermediate values; add a 'report' keyword parameter and call "
            f"report(step, value) per epoch, or set pruner: none"
        )
    for arg in ("epochs", "rounds"):  # the objective's last step: epochs (cnn, curves), rounds (xgboost)
        last = cfg.objective.args.get(arg)
        if cfg.pruner.name == "hyperband" and isinstance(last, int) and cfg.max_resource != last:
            out.append(
                f"pruner.max_resource ({cfg.max_resource}) differs from objective.args.{arg} ({last}): "
                f"Hyperband's brackets assume trials report up to step max_resource; make them equal"
            )
    return out


class Reporter:
    """``report(step, value)`` for one trial: records, then asks the pruner (see the module doc).

    Built on the real ``optuna.trial.Trial`` of the trial's id, so the study's pruner (rebuilt from the
    pinned config) decides from the shared storage. A step that an earlier attempt of the same trial task
    already reported is not recorded again and not judged again (a retry replays the same seeded curve).
    At ``max_resource`` (the last step) the pruner is not asked: Optuna's successive halving has a rung
    there and would otherwise throw away a fully trained result.

    Multi-objective studies: Optuna stores no intermediate values for them (``Trial.report`` raises) and a
    sweep with several objectives has no pruner (``SweepConfig`` refuses one), so the steps go to the child
    run's ``intermediate_value`` curve and the trial's user attr ``reported_steps`` only, never judged.
    ``judge=False`` (replicate trials, ``hpo_tasks.replication``: their final value is the point) records
    every step the same way as a search trial but never asks the pruner.

    ``spend`` (``hpo_tasks.fidelity.spend_rule`` of the objective): ``last_step`` (the resource spent is
    the last step reached) or ``sum_of_steps`` (a fresh fit per step: the sum of the steps reported,
    written on the trial as user attr ``fidelity.SPENT_ATTR`` at each step, before the pruner is asked).
    ``spent`` is that figure, also logged as metric ``resource`` by step.
    """

    def __init__(
        self,
        study: optuna.Study,
        trial_id: int,
        *,
        run_id: str | None = None,
        max_resource: int | None = None,
        judge: bool = True,
        spend: str = "last_step",
    ) -> None:
        import optuna

        from hpo_tasks.fidelity import SPEND_RULES, SPENT_ATTR

        self._trial = optuna.trial.Trial(study, trial_id)
        self._run_id = run_id
        self._max_resource = max_resource
        self._multi = len(study.directions) > 1
        self._judge = judge and not self._multi  # False: record the curve, never ask the pruner
        frozen = get_trial(study, trial_id)
        self._reported = set(
            frozen.user_attrs.get(REPORTED_ATTR, ()) if self._multi else frozen.intermediate_values
        )
        self.last_step: int | None = max(self._reported, default=None)
        if spend not in SPEND_RULES:
            raise ValueError(f"spend '{spend}': use one of {', '.join(SPEND_RULES)}")
        self._sum = spend == "sum_of_steps"
        self._spent_attr = SPENT_ATTR
        self.spent: int = int(frozen.user_attrs.get(SPENT_ATTR, 0)) if self._sum else int(self.last_step or 0)

    def __call__(self, step: int, value: float) -> None:
        import optuna

        if isinstance(step, bool) or int(step) != step or step < 0:
            raise ValueError(f"report(step, value): step must be a non-negative integer (got {step!r})")
        step, value = int(step), float(value)
        if step in self._reported:
            return
        if self._multi:
            self._trial.set_user_attr(REPORTED_ATTR, sorted({*self._reported, step}))
        else:
            self._trial.report(value, step)
        self._reported.add(step)
        self.last_step = step if self.last_step is None else max(self.last_step, step)
        if self._sum:
            self.spent += step
            self._trial.set_user_attr(self._spent_attr, self.spent)
        else:
            self.spent = self.last_step
        if self._run_id is not None and math.isfinite(value):
            from hpo_tasks import tracking

            tracking.log_to_run(
                self._run_id, metrics={STEP_METRIC: value, RESOURCE_METRIC: self.spent}, step=step
            )
        if not self._judge or (self._max_resource is not None and step >= self._max_resource):
            return  # not judged (replicates, several objectives); at the last step the work is done
        if self._trial.should_prune():
            log.info("trial %d pruned at step %d (value %g)", self._trial.number, step, value)
            if self._run_id is not None:
                from hpo_tasks import tracking
                from hpo_tasks.fidelity import sha_rung

                frozen = get_trial(self._trial.study, self._trial._trial_id)
                tags: dict[str, Any] = {RUNG_TAG: max(sha_rung(frozen) - 1, 0)}
                if PROBABILITY_ATTR in frozen.user_attrs:  # stopped by pruner.beat_probability
                    tags[BEAT_TAG] = frozen.user_attrs[PROBABILITY_ATTR]
                tracking.log_to_run(self._run_id, tags=tags)
            raise optuna.TrialPruned(f"pruned at step {step} (value {value:g})")
