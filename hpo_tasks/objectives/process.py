"""A script's process group, kept from outliving its trial: ``stop_group`` (SIGTERM, then SIGKILL after a
grace period, then whatever the leader left), ``die_with_parent`` (``PR_SET_PDEATHSIG`` on Linux: the
script dies with the task process) and a watcher process (``start_watcher``) that kills the whole group,
the script's own children included, when the task process dies by ``kill -9`` (the death signal reaches
only the script itself). Used by ``hpo_tasks.objectives.command``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def stop_group(proc: subprocess.Popen, *, grace: float) -> None:
    """SIGTERM to the process group, SIGKILL after ``grace`` seconds if its leader still runs; then SIGKILL
    to whatever remains of the group (children the leader left), and reap the leader."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group's id
    if proc.poll() is None:
        _signal_group(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning("process group %d ignored SIGTERM for %g s; sending SIGKILL", pgid, grace)
    _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` setting ``PR_SET_PDEATHSIG`` to SIGKILL (Linux): when the task process dies, even
    by ``kill -9``, the kernel kills the script. The libc lookup happens here, before the fork."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody will send the signal
            os._exit(1)

    return preexec


# The watcher: a tiny process in its own session that reads one byte from a pipe only this process holds
# open. b"x" (the group was stopped here): exit. End of file (this process died, even by kill -9): SIGKILL
# the script's process group. PR_SET_PDEATHSIG reaches only the script itself, not the children it started.
_WATCH = (
    "import os, signal, sys\n"
    "if os.read(0, 1) != b'x':\n"
    "    try: os.killpg(int(sys.argv[1]), signal.SIGKILL)\n"
    "    except OSError: pass\n"
)


@dataclass
class _Watcher:
    proc: subprocess.Popen
    fd: int


def start_watcher(pgid: int) -> _Watcher | None:
    """Start the watcher of process group ``pgid`` (see ``_WATCH``); None where it cannot start."""
    read_fd, write_fd = os.pipe()  # not inheritable: the script and anything else started later lack it
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCH, str(pgid)],
            stdin=read_fd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # outside the task's group: a signal to the task does not reach it
        )
    except OSError as err:
        os.close(write_fd)
        log.warning("no watcher for process group %d (%s): only PR_SET_PDEATHSIG guards it", pgid, err)
        return None
    finally:
        os.close(read_fd)
    return _Watcher(proc, write_fd)


def release_watcher(watcher: _Watcher | None) -> None:
    """The group is stopped: tell the watcher to exit without killing anything, and reap it."""
    if watcher is None:
        return
    with contextlib.suppress(OSError):
        os.write(watcher.fd, b"x")
    os.close(watcher.fd)
    with contextlib.suppress(subprocess.TimeoutExpired):
        watcher.proc.wait(timeout=5)
