"""Speed measurements, run on demand (``python -m benchmarks.NAME``), never in CI."""
