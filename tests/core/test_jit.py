"""Tests of nnnum._core.jit: the kernels' Numba options, the cache fallback, call_kernel."""

from __future__ import annotations

import numba
import pytest

from nnnum._core import jit


@pytest.fixture
def fake_njit(monkeypatch):
    """numba.njit replaced by a recorder (nothing compiles), with the JIT taken as on."""
    calls: list[dict] = []
    failures: list[Exception] = []

    def njit(f, **options):
        calls.append(options)
        if options.get("cache") and failures:
            raise failures.pop(0)
        return ("compiled", f, options)

    monkeypatch.setattr(jit, "JIT_OFF", False)
    monkeypatch.setattr(jit, "_cache_usable", True)
    monkeypatch.setattr(numba, "njit", njit)
    return calls, failures


def _body(x):
    return x


def test_kernel_options_are_the_librarys(fake_njit):
    """Cached, nogil, NumPy's error model, no fastmath unless a kernel opts into CONTRACT."""
    calls, _ = fake_njit
    jit.kernel(_body)
    jit.kernel(parallel=True, fastmath=jit.CONTRACT, inline="always")(_body)
    assert calls == [
        dict(
            cache=True,
            parallel=False,
            fastmath=False,
            error_model="numpy",
            nogil=True,
            inline="never",
        ),
        dict(
            cache=True,
            parallel=True,
            fastmath={"contract"},
            error_model="numpy",
            nogil=True,
            inline="always",
        ),
    ]


def test_no_cache_location_warns_once_and_compiles_in_memory(fake_njit):
    """Numba's 'cannot cache' error: a RuntimeWarning naming NUMBA_CACHE_DIR, then cache=False."""
    calls, failures = fake_njit
    failures.append(RuntimeError("cannot cache function '_body': no locator available for file"))
    with pytest.warns(RuntimeWarning, match="Set NUMBA_CACHE_DIR to a writable folder"):
        out = jit.kernel(_body)
    assert out[0] == "compiled" and out[2]["cache"] is False
    assert jit.cache_usable() is False
    jit.kernel(_body)  # later kernels no longer try the cache (and do not warn again)
    assert [c["cache"] for c in calls] == [True, False, False]


def test_other_compile_errors_are_not_taken_for_a_cache_problem(fake_njit):
    """A RuntimeError that does not mention the cache propagates; caching stays on."""
    _, failures = fake_njit
    failures.append(RuntimeError("LLVM ran out of registers"))
    with pytest.raises(RuntimeError, match="out of registers"):
        jit.kernel(_body)
    assert jit.cache_usable() is True


def test_call_kernel_reraises_the_exception_inside_a_kernel():
    """SystemError('... returned a result with an exception set') gives back its cause."""

    def kern(x):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as inner:
            raise SystemError("<numba> returned a result with an exception set") from inner

    with pytest.raises(KeyboardInterrupt):
        jit.call_kernel(kern, 1)
    assert jit.call_kernel(lambda a, b: a + b, 2, 3) == 5


def test_call_kernel_keeps_a_system_error_without_a_cause():
    """A SystemError with nothing behind it is raised as it is."""

    def kern():
        raise SystemError("bad internal call")

    with pytest.raises(SystemError, match="bad internal call"):
        jit.call_kernel(kern)
