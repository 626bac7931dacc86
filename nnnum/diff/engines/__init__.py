"""Engines: how a plan of perturbations is evaluated.

Each engine takes the rows of perturbed values ``points`` (R, n) (row ``r``,
column ``i``: the value of ``x_i`` in evaluation ``r``, every other element
unchanged) and returns ``F`` (R, n) of ``f`` values. The engines know nothing
of stencils or steps:

* :mod:`.loop` - a Python ``f``, ``x`` perturbed in place and restored;
* :mod:`.prange` - a Numba-compiled ``f``, a parallel kernel on private copies;
* :mod:`.batched` - a batched ``f`` on an array namespace (NumPy or CuPy);
* :mod:`.executors` - any ``f`` on a process pool, an Executor or a Dask cluster
  (``workers=``), each worker running the in-place loop on its own copy.
"""
