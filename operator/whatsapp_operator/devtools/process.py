"""One long-running child process with its output in a log file."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import shlex
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # A test runner killed by a CI timeout must not leave an apiserver and etcd
    # behind holding ports and 400 MB. SIGKILL rather than SIGTERM: all three
    # would get it at once, and an apiserver whose etcd is gone hangs in its
    # graceful shutdown. Linux sends it when the thread that spawned the child
    # exits, so start the control plane from a long-lived thread.
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


class ManagedProcess:
    """One child process, in a session of its own, with its output appended to `log_path`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The process id, None before `start()`."""
        return self._popen.pid if self._popen is not None else None

    def start(self) -> None:
        """Start the process, its output appended to the log file."""
        with self.log_path.open("ab") as log:
            log.write(f"$ {shlex.join(self.argv)}\n".encode())
            log.flush()
            # A session of its own keeps a terminal's Ctrl-C away from the child,
            # so the parent can stop the components in dependency order.
            self._popen = subprocess.Popen(  # noqa: S603 - argv comes from resolved binaries
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            )

    def exit_code(self) -> int | None:
        """None while running (or never started), else the exit status."""
        return self._popen.poll() if self._popen is not None else None

    def running(self) -> bool:
        """Whether the process has been started and has not exited."""
        return self._popen is not None and self._popen.poll() is None

    def stop(self, timeout: float) -> None:
        """SIGTERM, then SIGKILL if it is still alive after `timeout` seconds."""
        if self._popen is None or self._popen.poll() is not None:
            return
        self._popen.terminate()
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self._popen.kill()
            self._popen.wait()

    def tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the log, "" when there is none."""
        try:
            with self.log_path.open("r", encoding="utf-8", errors="replace") as log:
                return "".join(deque(log, maxlen=lines))
        except FileNotFoundError:
            return ""
