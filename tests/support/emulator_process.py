"""Start and stop `whatsapp-operator emulator` as a real subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

OPERATOR_SRC = Path(__file__).resolve().parents[2] / "operator"


@dataclass
class EmulatorProcess:
    url: str
    process: subprocess.Popen[str]
    stderr_lines: list[str] = field(default_factory=list)
    # Whatever stdout carries after the `listening on` line (nothing, normally).
    stdout_lines: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)


def start_emulator_process(*extra_args: str, deadline_seconds: float = 20.0) -> EmulatorProcess:
    """Run `whatsapp-operator emulator --port 0` and wait for its `listening on` line."""
    src = str(OPERATOR_SRC)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "whatsapp_operator.cli", "emulator", "--port", "0", *extra_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    running = EmulatorProcess(url="", process=process)
    assert process.stderr is not None
    stderr = process.stderr

    def pump_stderr() -> None:
        running.stderr_lines.extend(iter(stderr.readline, ""))

    pump = threading.Thread(target=pump_stderr, daemon=True)
    pump.start()
    running.readers.append(pump)
    found: list[str] = []
    listening = threading.Event()
    assert process.stdout is not None
    stdout = process.stdout

    def read_stdout() -> None:
        # Keeps reading after the URL, so the pipe never fills and tests can see the rest.
        try:
            for line in iter(stdout.readline, ""):
                match = re.fullmatch(r"GREEN-API emulator listening on (http://\S+)\n", line)
                if match and not found:
                    found.append(match.group(1))
                    listening.set()
                else:
                    running.stdout_lines.append(line)
        finally:
            listening.set()

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    running.readers.append(reader)
    listening.wait(deadline_seconds)
    if not found:
        stop_emulator_process(running)
        raise RuntimeError(f"emulator did not start: {''.join(running.stderr_lines)[-2000:]}")
    running.url = found[0]
    return running


def stop_emulator_process(running: EmulatorProcess) -> int:
    """SIGTERM (the emulator's clean stop), SIGKILL after 10 s; returns the exit code."""
    running.process.terminate()
    try:
        code = running.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        running.process.kill()
        code = running.process.wait(timeout=10)
    for reader in running.readers:
        reader.join(timeout=5)
    for pipe in (running.process.stdout, running.process.stderr):
        if pipe is not None:
            pipe.close()
    return code
