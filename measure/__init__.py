"""What measures the shipped model and app: DS2 evaluation, record-mode and speed benchmarks, the
soak test, a local server to time requests against, and synthetic signals for tests and benchmarks.
"""
