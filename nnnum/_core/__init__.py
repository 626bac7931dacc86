"""What several subpackages share, and nothing public.

* :mod:`.jit` - the one place kernel options are set (``kernel``, ``jit``, ``CONTRACT``);
* :mod:`.threads` - the threading layer (TBB where it can nest) and whether it nests;
* :mod:`.cpuinfo` - what the CPU and the compiled kernels use (``nnnum info``);
* :mod:`.regions` - memory-region locks and self-overlap checks for arrays perturbed in place;
* :mod:`.validate` - the checks of the losses' and networks' inputs.
"""
