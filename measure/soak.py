"""Soak test: many concurrent clients, good and bad beats mixed, against a launched app.

    python -m measure.soak [--requests 1000] [--clients 8]

Every answer is checked against what its input deserves: the class predict_proba
gives for a good beat, the app's own message for a bad one. Prints failures,
latency percentiles and the server's memory growth.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import inference
from ecg.labels import CLASS_NAMES
from ecg.synthetic import varied_beat
from measure.local_server import http_predict, launched_app, resident_mb

BAD_INPUTS = {
    "": "No samples given",
    "1, 2, three": "Value 3 is 'three'",
    ", ".join(["0.1"] * 90): "Found 90 numbers",
    ", ".join(["inf"] * 180): "not a finite number",
    ", ".join(["4"] * 180): "flat",
}


def make_requests(n: int) -> list[tuple[str, str]]:
    """(text, expected): expected is the full class name for good beats, the message for bad ones."""
    bad = list(BAD_INPUTS.items())
    requests = []
    for i in range(n):
        if i % 4 == 3:
            requests.append(bad[(i // 4) % len(bad)])
        else:
            beat = varied_beat(i)
            text = ", ".join(f"{v:.6g}" for v in beat)
            label = inference.CLASSES[int(inference.predict_proba(inference.parse_beat(text)).argmax())]
            requests.append((text, f"{CLASS_NAMES[label]} ({label})"))
    return requests


def run_soak(url: str, pid: int, requests: list[tuple[str, str]], clients: int) -> dict:
    """Send every request with `clients` threads; count wrong answers, time them, watch memory."""
    latencies = np.zeros(len(requests))
    wrong: list[str] = []
    memory = {}

    def send(i: int) -> None:
        text, expected = requests[i]
        began = time.perf_counter()
        try:
            ok, data = http_predict(url, text)
        except Exception as err:
            wrong.append(f"request {i}: {type(err).__name__}: {err}")
            return
        latencies[i] = time.perf_counter() - began
        got = data[1]["label"] if ok else str(data)
        if expected not in got:
            wrong.append(f"request {i}: expected {expected!r}, got {got[:120]!r}")
        if i in (100, len(requests) // 2):
            memory[f"after_{i}"] = resident_mb(pid)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, range(len(requests))))
    memory["after_last"] = resident_mb(pid)
    return {
        "requests": len(requests),
        "clients": clients,
        "failed": wrong,
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p95_ms": float(np.percentile(latencies, 95) * 1000),
        "rss_after_100_mb": memory.get("after_100", float("nan")),
        "rss_halfway_mb": memory.get(f"after_{len(requests) // 2}", float("nan")),
        "rss_after_last_mb": memory["after_last"],
        "rss_growth_mb": memory["after_last"] - memory.get("after_100", float("nan")),
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m measure.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--clients", type=int, default=8)
    args = p.parse_args()
    requests = make_requests(args.requests)
    with launched_app() as app:
        result = run_soak(app.url, app.process.pid, requests, args.clients)
    print(f"{result['requests']} requests from {result['clients']} clients: {len(result['failed'])} failed")
    for line in result["failed"][:10]:
        print("  ", line)
    print(f"latency p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms")
    print(f"server memory {result['rss_after_100_mb']:.0f} MB after request 100, "
          f"{result['rss_halfway_mb']:.0f} MB halfway, "
          f"{result['rss_after_last_mb']:.0f} MB after the last: growth {result['rss_growth_mb']:+.1f} MB")


if __name__ == "__main__":
    main()
