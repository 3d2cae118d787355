"""A short soak in CI: 8 concurrent clients, good and bad beats mixed, every answer checked.

The long run (1,000 requests) is `python -m measure.soak`; its figures are in docs/performance.md.
"""

import os

from measure.local_server import launched_app
from measure.soak import make_requests, run_soak

REQUESTS = int(os.environ.get("SOAK_REQUESTS", "200"))


def test_concurrent_clients_get_every_answer_right_and_memory_stays_flat():
    requests = make_requests(REQUESTS)
    with launched_app() as app:
        result = run_soak(app.url, app.process.pid, requests, clients=8)
    print(f"\nsoak: {REQUESTS} requests, p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms, "
          f"memory growth {result['rss_growth_mb']:+.1f} MB")
    assert result["failed"] == []
    assert result["rss_growth_mb"] < 50
