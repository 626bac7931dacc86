from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import nnnum
from nnnum import backends as _backend


def run_py(code: str, **env: str) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k != "NNNUM_BACKEND"}
    e.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=120
    )


def test_default_and_env_selection():
    assert run_py("import nnnum; print(nnnum.get_backend())").stdout.strip() == "numba"
    out = run_py("import nnnum; print(nnnum.get_backend())", NNNUM_BACKEND="numpy")
    assert out.stdout.strip() == "numpy"


def test_unknown_env_value_lists_valid_ones():
    out = run_py("import nnnum; nnnum.softmax([1.0, 2.0])", NNNUM_BACKEND="nmba")
    assert out.returncode != 0
    assert "'nmba' is not a backend" in out.stderr
    assert "'numba', 'numpy', 'cupy'" in out.stderr


@pytest.mark.jit_only
def test_import_compiles_nothing_and_never_imports_cupy():
    # (import time itself is a benchmark: bench_compile.FirstCall.track_import_seconds)
    code = (
        "import sys, nnnum; from nnnum.backends import _cpu_kernels as K; "
        "from nnnum.nets import _kernels as N; "
        "print(sum(len(k.signatures) for k in (K._softmax_serial, K._softmax_ce_parallel, "
        "N.grad_hidden)), 'cupy' in sys.modules)"
    )
    sigs, cupy_loaded = run_py(code).stdout.split()
    assert sigs == "0" and cupy_loaded == "False"


def test_context_manager_and_set_backend():
    assert nnnum.get_backend() == "numba"
    with nnnum.use_backend("numpy"):
        assert nnnum.get_backend() == "numpy"
        with nnnum.use_backend("numba"):
            assert nnnum.get_backend() == "numba"
        assert nnnum.get_backend() == "numpy"
    assert nnnum.get_backend() == "numba"
    nnnum.set_backend("numpy")
    try:
        assert nnnum.get_backend() == "numpy"
    finally:
        nnnum.set_backend("numba")
    with pytest.raises(ValueError, match="valid values"):
        nnnum.set_backend("torch")
    with pytest.raises(ValueError, match="valid values"):
        with nnnum.use_backend("jax"):
            pass


@pytest.mark.parametrize("name", ["numba", "numpy"])
def test_backend_contract(name):
    mod = _backend.load(name)
    for attr in _backend.REQUIRED:
        value = getattr(mod, attr)
        if attr in ("DEVICE", "JIT"):
            assert isinstance(value, bool)
        elif attr != "xp":
            assert callable(value), attr
    assert mod.xp is np and mod.DEVICE is False
    a = np.arange(3.0)
    assert mod.to_host(a) is a and mod.is_device_array(a) is False
    assert mod.batch_budget(8, 64) == 8 and mod.batch_budget(100, 10) == 1


def test_an_incomplete_backend_fails_loudly(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("nnnum_fake_backend")
    fake.xp = np  # everything else missing
    monkeypatch.setitem(sys.modules, "nnnum_fake_backend", fake)
    monkeypatch.setitem(_backend._MODULES, "fake", "nnnum_fake_backend")
    with pytest.raises(ImportError, match="does not provide DEVICE, JIT, to_host"):
        _backend.load("fake")


def test_host_questions_never_need_cupy():
    a = np.ones(2)
    assert _backend.to_host(a) is a and not _backend.is_device_array(a)


def test_cupy_without_gpu_is_a_clear_error():
    try:
        nnnum.backends._gpu_imports.require_cupy()
    except nnnum.BackendUnavailableError:
        pass
    else:
        pytest.skip("a GPU is available here")
    with pytest.raises(nnnum.BackendUnavailableError, match="CuPy|CUDA"):
        nnnum.set_backend("cupy")
    with pytest.raises(nnnum.BackendUnavailableError, match="CuPy|CUDA"):
        with nnnum.use_backend("cupy"):
            pass
    out = run_py("import nnnum; nnnum.softmax([1.0])", NNNUM_BACKEND="cupy")
    assert out.returncode != 0 and "BackendUnavailableError" in out.stderr
    assert nnnum.get_backend() == "numba"  # no silent fallback, no state change


def test_cupy_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(nnnum.BackendUnavailableError, match=r"pip install nnnum\[gpu\]"):
        nnnum.backends._gpu_imports.require_cupy()


@pytest.mark.parametrize("count", [0, RuntimeError("cudaErrorNoDevice")])
def test_cupy_without_device_says_which(monkeypatch, count):
    import types

    def get_count():
        if isinstance(count, Exception):
            raise count
        return count

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_count))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(nnnum.BackendUnavailableError, match="no CUDA device"):
        nnnum.backends._gpu_imports.require_cupy()


def test_backend_name_must_be_a_string():
    with pytest.raises(TypeError, match="backend name must be a str, not int"):
        with nnnum.use_backend(3):
            pass
