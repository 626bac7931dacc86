"""asv benchmarks and the side-by-side comparison script (``python -m benchmarks.compare``)."""
