"""A training script as a trial: ``objective.command`` run as a subprocess, its metrics read back.

The trial step (``hpo_tasks.steps.trial``) calls ``bind(cfg, ...)`` and then the result like any function
objective, so retries, pruning, failures and the child run are the existing path. Per trial:

1. the argument list is rendered (``render``: ``{param}``, ``{seed}``, ``{trial_number}``, ``{python}``,
   ``{arg}`` of ``objective.args``; never through a shell);
2. it runs in its own session and process group, with ``PR_SET_PDEATHSIG`` (Linux) so a ``kill -9`` of the
   task process takes the script down too, and a watcher process beside it (``_WATCH``) that kills the
   whole group, the script's own children included, when the task process dies; env: the worker's,
   ``objective.env``, ``HPO_PARAMS_JSON``, ``HPO_PARAMS_FILE``, ``HPO_METRICS_FILE``, ``HPO_TRIAL_NUMBER``,
   ``HPO_SEED``, and ``MLFLOW_TRACKING_URI`` / ``MLFLOW_EXPERIMENT_ID`` / ``MLFLOW_RUN_ID`` of the trial's
   child run (the script's own ``mlflow.start_run()`` resumes it);
3. stdout and stderr stream line by line to the task log and to ``stdout.txt`` / ``stderr.txt``, artifacts
   of the child run; ``HPO_REPORT {...}`` lines (``hpo_tasks.report``) go to the pruner as they arrive;
4. a timeout or a prune stops the group (SIGTERM, SIGKILL after ``grace_seconds``); after a normal exit,
   whatever the script left in its group is killed;
5. the metrics: ``metric_source: auto`` merges the child run's MLflow metrics (latest value of each), the
   metrics file and the last ``{"hpo_metrics": {...}}`` stdout line, later ones winning per name (stdout >
   file > MLflow); ``mlflow``/``file``/``stdout`` read that source only.

A non-zero exit, a timeout and a missing metric raise ``CommandError`` (the trial FAILs with its message).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo_tasks.objectives.process import die_with_parent, release_watcher, start_watcher, stop_group
from hpo_tasks.report import METRICS_KEY, REPORT_PREFIX

if TYPE_CHECKING:
    from hpo_tasks.config import ObjectiveConfig, SweepConfig

log = logging.getLogger(__name__)
STDERR_TAIL_LINES = 20
# Without objective.timeout_seconds, stop the script at this share of resources.trial_timeout_minutes,
# so the trial FAILs with a message before Airflow's execution_timeout kills the whole task.
AIRFLOW_TIMEOUT_SHARE = 0.9


class CommandError(RuntimeError):
    """The command failed (exit status, timeout, no metric): the trial FAILs with this message."""


def command_objective(params: Mapping[str, Any], *, seed: int, **args: Any) -> float:
    """The registry entry of ``objective.command`` sweeps; the trial step calls ``bind`` instead."""
    raise TypeError("a command objective runs through hpo_tasks.objectives.command.bind(cfg, ...)")


def format_value(v: Any) -> str:
    """A parameter as a command-line argument: floats round-trip exactly (``repr``), bools as true/false."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return repr(v)
    return str(v)


def render(
    command: tuple[str, ...] | list[str],
    params: Mapping[str, Any],
    *,
    seed: int,
    trial_number: int,
    args: Mapping[str, Any] | None = None,
) -> list[str]:
    """The argument list of one trial: each ``{name}`` replaced, ``{{``/``}}`` kept as braces."""
    values = {
        **{k: format_value(v) for k, v in (args or {}).items()},
        **{k: format_value(v) for k, v in params.items()},
        "seed": str(seed),
        "trial_number": str(trial_number),
        "python": sys.executable,
    }
    try:
        return [arg.format_map(values) for arg in command]
    except KeyError as err:
        raise CommandError(f"objective.command: no value for placeholder {{{err.args[0]}}}") from None


def timeout_of(cfg: SweepConfig) -> float | None:
    """Seconds the command may run: ``objective.timeout_seconds``, else 90 % of the task's timeout."""
    if cfg.objective.timeout_seconds is not None:
        return cfg.objective.timeout_seconds
    minutes = cfg.resources.trial_timeout_minutes
    return AIRFLOW_TIMEOUT_SHARE * minutes * 60 if minutes else None


def needed_metrics(cfg: SweepConfig) -> list[str]:
    """The metrics the sweep reads from a command: the score(s), then each constraint's metric."""
    scores = [o.metric for o in cfg.objectives] if cfg.objectives else [cfg.objective.metric]
    return list(dict.fromkeys([*(m for m in scores if m), *(c.metric for c in cfg.outcome_constraints)]))


def bind(cfg: SweepConfig, *, run_id: str, trial_number: int) -> Callable[..., float | dict[str, float]]:
    """The trial's objective: ``fn(params, *, seed, report=None)`` running ``cfg.objective.command``."""
    single = not (cfg.objectives or cfg.constraints)
    return CommandTrial(cfg.objective, needed_metrics(cfg), run_id, trial_number, timeout_of(cfg), single)


@dataclass
class CommandTrial:
    objective: ObjectiveConfig
    metrics: list[str]
    run_id: str
    trial_number: int
    timeout: float | None
    single: bool  # one score, no constraints: return a float

    def __call__(
        self, params: Mapping[str, Any], *, seed: int, report: Callable[[int, float], None] | None = None
    ) -> float | dict[str, float]:
        from hpo_tasks import tracking
        from hpo_tasks.settings import REPO_ROOT, mlflow_tracking_uri

        o = self.objective
        assert o.command is not None
        argv = render(o.command, params, seed=seed, trial_number=self.trial_number, args=o.args)
        cwd = (REPO_ROOT / o.workdir).resolve()
        experiment_id = tracking.run_info(self.run_id).info.experiment_id
        with tempfile.TemporaryDirectory(prefix=f"hpo-trial-{self.trial_number}-") as tmp:
            folder = Path(tmp)
            params_file, metrics_file = folder / "params.json", folder / "metrics.json"
            params_json = json.dumps(dict(params), sort_keys=True)
            params_file.write_text(params_json)
            env = {
                **os.environ,
                **o.env,
                "HPO_PARAMS_JSON": params_json,
                "HPO_PARAMS_FILE": str(params_file),
                "HPO_METRICS_FILE": str(metrics_file),
                "HPO_TRIAL_NUMBER": str(self.trial_number),
                "HPO_SEED": str(seed),
                "MLFLOW_TRACKING_URI": mlflow_tracking_uri(),
                "MLFLOW_EXPERIMENT_ID": experiment_id,
                "MLFLOW_RUN_ID": self.run_id,
            }
            env.setdefault("PYTHONUNBUFFERED", "1")  # Python scripts' lines arrive as they are printed
            env.pop("MLFLOW_EXPERIMENT_NAME", None)  # would contradict the run's experiment
            tracking.log_to_run(self.run_id, tags={"hpo.command": _quote(argv), "hpo.workdir": str(cwd)})
            log.info("trial %d: running %s (in %s)", self.trial_number, _quote(argv), cwd)
            try:
                done = run_command(
                    argv,
                    cwd=cwd,
                    env=env,
                    timeout=self.timeout,
                    grace=o.grace_seconds,
                    report=report,
                    output_dir=folder,
                    label=f"trial {self.trial_number}",
                )
            finally:
                _reopen(self.run_id)  # the script's own mlflow.start_run() ended it; the trial step ends it
                for name in ("stdout.txt", "stderr.txt"):
                    if (folder / name).exists():
                        tracking.client().log_artifact(self.run_id, str(folder / name))
            return self._result(done, metrics_file)

    def _result(self, done: Finished, metrics_file: Path) -> float | dict[str, float]:
        from hpo_tasks import tracking

        if done.timed_out:
            raise CommandError(
                f"command timed out after {self.timeout:g} s (objective.timeout_seconds or 90 % of "
                f"resources.trial_timeout_minutes) and was stopped{_tail(done)}"
            )
        if done.returncode != 0:
            raise CommandError(f"command {_status(done.returncode)}{_tail(done)}")
        source = self.objective.metric_source
        found: dict[str, float] = {}
        looked: list[str] = []
        if source in ("auto", "mlflow"):
            logged = dict(tracking.run_info(self.run_id).data.metrics)
            found.update(logged)
            looked.append(f"MLflow run {self.run_id} (logged: {sorted(logged) or 'nothing'})")
        if source in ("auto", "file"):
            from_file = _read_metrics_file(metrics_file)
            found.update(from_file)
            looked.append(
                f"HPO_METRICS_FILE ({'keys ' + str(sorted(from_file)) if from_file else 'not written'})"
            )
        if source in ("auto", "stdout"):
            found.update(done.stdout_metrics)
            looked.append(
                f'a stdout line {{"{METRICS_KEY}": {{...}}}} '
                f"({'keys ' + str(sorted(done.stdout_metrics)) if done.stdout_metrics else 'none printed'})"
            )
        missing = [m for m in self.metrics if m not in found]
        if missing:
            raise CommandError(
                f"the command exited 0 but reported no metric '{missing[0]}'; looked in " + "; ".join(looked)
            )
        own = {**_read_metrics_file(metrics_file), **done.stdout_metrics} if source != "mlflow" else {}
        if own:  # what the script printed or wrote lands in its child run too
            tracking.log_to_run(self.run_id, metrics={k: v for k, v in own.items() if math.isfinite(v)})
        if self.single:  # the score alone: the trial step logs it as `value`, the script's curve stays as is
            return found[self.metrics[0]]
        return {m: found[m] for m in self.metrics}


@dataclass
class Finished:
    """How a command ended."""

    returncode: int | None
    timed_out: bool = False
    stdout_metrics: dict[str, float] = field(default_factory=dict)
    stderr_tail: list[str] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)


def run_command(
    argv: list[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str],
    timeout: float | None,
    grace: float,
    report: Callable[[int, float], None] | None = None,
    output_dir: Path | None = None,
    label: str = "command",
) -> Finished:
    """Run ``argv`` to its end in its own process group, streaming its lines (see the module doc).

    ``report`` gets each ``HPO_REPORT`` line's step and value; whatever it raises (``optuna.TrialPruned``)
    stops the group and propagates. So does any exception in this process (Airflow stopping the task): the
    group never outlives this call.
    """
    if not Path(cwd).is_dir():
        raise CommandError(f"objective.workdir: {cwd} is not a folder")
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own session and process group: killpg reaches its children
            preexec_fn=die_with_parent(),
            text=True,
            errors="replace",
            bufsize=1,
        )
    except OSError as err:
        raise CommandError(f"objective.command: cannot start {argv[0]!r}: {err}") from None
    watcher = start_watcher(proc.pid)
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    readers = [
        threading.Thread(target=_pump, args=(stream, name, lines), daemon=True)
        for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))
    ]
    for r in readers:
        r.start()
    files = {
        name: open(output_dir / f"{name}.txt", "w", encoding="utf-8") if output_dir else None  # noqa: SIM115
        for name in ("stdout", "stderr")
    }
    done = Finished(returncode=None)
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    deadline = None if timeout is None else time.monotonic() + timeout
    open_streams = 2
    try:
        while open_streams:
            try:
                name, line = lines.get(timeout=0.2)
            except queue.Empty:
                if deadline is not None and time.monotonic() > deadline:
                    done.timed_out = True
                    log.warning("%s: timed out after %g s; stopping its process group", label, timeout)
                    break
                if proc.poll() is not None and lines.empty():
                    break  # the leader exited; a child it left may hold the pipes open
                continue
            if line is None:
                open_streams -= 1
                continue
            text = line.rstrip("\n")
            out = files[name]
            if out is not None:
                out.write(line)
                out.flush()
            log.info("%s %s | %s", label, name, text)
            if name == "stderr":
                tail.append(text)
            elif text.startswith(REPORT_PREFIX):
                _on_report(text, report, done, label)
            elif text.startswith("{") and METRICS_KEY in text:
                done.stdout_metrics = _stdout_metrics(text, done.stdout_metrics, label)
        if not done.timed_out:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                done.timed_out = True
    finally:
        # Normal exit: kill what the script left behind. Timeout, prune or any error here: stop the group.
        stop_group(proc, grace=grace if proc.poll() is None else 0.0)
        release_watcher(watcher)
        for r in readers:
            r.join(timeout=5)
        _drain(lines, files, tail)
        for f in files.values():
            if f is not None:
                f.close()
    done.returncode = proc.returncode
    done.stderr_tail = list(tail)
    return done


def _pump(stream: Any, name: str, lines: queue.Queue) -> None:
    for line in stream:
        lines.put((name, line))
    lines.put((name, None))


def _drain(lines: queue.Queue, files: Mapping[str, Any], tail: deque[str]) -> None:
    """Lines that arrived after the loop stopped: into the output files and the stderr tail."""
    while True:
        try:
            name, line = lines.get_nowait()
        except queue.Empty:
            return
        if line is None:
            continue
        if files[name] is not None:
            files[name].write(line)
        if name == "stderr":
            tail.append(line.rstrip("\n"))


def _on_report(text: str, report: Callable[[int, float], None] | None, done: Finished, label: str) -> None:
    try:
        data = json.loads(text[len(REPORT_PREFIX) :])
        step, value = data["step"], float(data["value"])
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be a non-negative integer (got {step!r})")
    except (ValueError, KeyError, TypeError) as err:
        log.warning(
            '%s: ignored a malformed report line (want HPO_REPORT {"step": 3, "value": 0.9}): %s', label, err
        )
        return
    done.steps.append(step)
    if report is not None:
        report(step, value)  # may raise optuna.TrialPruned: the caller stops the group


def _stdout_metrics(text: str, previous: dict[str, float], label: str) -> dict[str, float]:
    try:
        data = json.loads(text)
        found = data[METRICS_KEY]
        return {str(k): float(v) for k, v in found.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        log.warning('%s: ignored a malformed {"%s": {...}} line: %s', label, METRICS_KEY, err)
        return previous


def _read_metrics_file(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {str(k): float(v) for k, v in data.items()}
    except (ValueError, TypeError, AttributeError) as err:
        raise CommandError(
            f'HPO_METRICS_FILE is not a JSON object of numbers like {{"val_accuracy": 0.93}}: {err}'
        ) from None


def _reopen(run_id: str) -> None:
    from hpo_tasks import tracking

    with contextlib.suppress(Exception):  # a tracking hiccup here is not the trial's result
        tracking.client().update_run(run_id, status="RUNNING")


def _status(returncode: int | None) -> str:
    if returncode is None:
        return "left no exit status"
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _tail(done: Finished) -> str:
    if not done.stderr_tail:
        return " (no stderr)"
    text = "\n".join(done.stderr_tail)[-1500:]
    return f"; stderr ends:\n{text}"


def _quote(argv: list[str]) -> str:
    import shlex

    return shlex.join(argv)
