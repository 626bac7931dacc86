"""Root conftest: keep modules that need optional GPU packages out of doctest collection."""

collect_ignore = ["nnnum/_backend_cupy.py", "benchmarks", "build"]
