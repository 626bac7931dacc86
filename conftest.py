"""Root conftest: keep modules that need optional GPU packages out of doctest collection."""

collect_ignore = ["nnnum/backends/cupy.py", "benchmarks", "build"]
