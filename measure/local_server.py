"""Start app.py on a free loopback port and call it over plain HTTP, as curl would.

Used by the end-to-end tests, the benchmarks and the soak test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class App:
    url: str
    process: subprocess.Popen
    started_s: float
    log: IO[str]

    def log_text(self) -> str:
        """Everything the server has written to stdout and stderr so far."""
        self.log.seek(0)
        return self.log.read()


@contextmanager
def launched_app(env: dict | None = None, timeout_s: float = 120, module: str = "app"):
    """Yield a freshly started app (URL, process, seconds to its first answer); stop it afterwards."""
    port = free_port()
    environment = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
                   "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=environment,
                               stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    began = time.monotonic()
    deadline = began + timeout_s
    try:
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{module} exited early:\n{log.read()[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{module} did not answer on {url} within {timeout_s} s")
                time.sleep(0.5)
        yield App(url, process, time.monotonic() - began, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def http_predict(url: str, text: str, timeout_s: float = 60) -> tuple[bool, object]:
    """POST to /gradio_api/call/predict, then read the result stream: (True, outputs) or (False, message)."""
    request = urllib.request.Request(f"{url}gradio_api/call/predict", data=json.dumps({"data": [text]}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        event_id = json.load(answer)["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/predict/{event_id}", timeout=timeout_s) as answer:
        stream = answer.read().decode()
    event, data = None, None
    for line in stream.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data = json.loads(line.split(":", 1)[1])
    if event == "complete":
        return True, data
    return False, (data or {}).get("error") if isinstance(data, dict) else data


def resident_mb(pid: int) -> float:
    """Resident memory of a process in MB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def running_app(env: dict | None = None, timeout_s: float = 120, module: str = "app"):
    """Yield the base URL of a freshly started app."""
    with launched_app(env, timeout_s, module) as app:
        yield app.url
