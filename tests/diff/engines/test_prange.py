"""A jitted f with an explicit signature, given an x it does not take: a clear TypeError."""

from __future__ import annotations

import gc
import weakref

import numba
import numpy as np
import pytest

import nnnum
from nnnum._core import jit as _jit
from nnnum.diff.engines import prange
from nnnum.diff.engines import prange as _kernels_diff

from ...naive import cubic

pytestmark = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="signatures need the JIT")


@numba.njit("float64(float64[:])")
def sq_sum(x):
    return np.sum(x * x)


CLEAR = r"explicit signature \(array\(float64, 1d, A\)\) that does not take x, a (1-D float32|2-D)"

WRONG = {"float32": np.ones(3, np.float32), "2-D": np.ones((2, 2))}


@pytest.mark.parametrize("kind", WRONG)
def test_check_call_says_what_f_takes_and_what_x_is(kind):
    with pytest.raises(TypeError, match=CLEAR) as info:
        prange.check_call(sq_sum, WRONG[kind])
    assert "No matching definition" in str(info.value)  # Numba's own words kept, as the cause
    assert isinstance(info.value.__cause__, TypeError)


def test_check_call_returns_f_and_passes_other_errors_through():
    assert prange.check_call(sq_sum, np.array([3.0, 4.0])) == 25.0

    @numba.njit
    def raises(x):
        raise TypeError("mine")

    with pytest.raises(TypeError, match="^mine$"):
        prange.check_call(raises, np.ones(2))


@pytest.mark.parametrize("kind", WRONG)
def test_the_default_call_is_clear(kind):
    with pytest.raises(TypeError, match=CLEAR):
        nnnum.numerical_gradient(sq_sum, WRONG[kind])


@pytest.mark.parametrize("kind", WRONG)
def test_the_complex_step_is_clear(kind):
    with pytest.raises(TypeError, match="explicit signature"):
        nnnum.numerical_gradient(sq_sum, WRONG[kind], method="complex")


@pytest.mark.parametrize("kind", WRONG)
def test_the_general_path_is_clear(kind):
    with pytest.raises(TypeError, match=CLEAR):
        nnnum.numerical_gradient(sq_sum, WRONG[kind], order=4)


def test_a_matching_x_still_works():
    x = np.array([1.0, -2.0, 0.5])
    assert np.allclose(nnnum.numerical_gradient(sq_sum, x), 2 * x)
    assert np.allclose(nnnum.numerical_gradient(sq_sum, x, order=4), 2 * x)


# ---- the prange engine's kernel cache ------------------------------------------------------
@pytest.mark.jit_only
def test_prange_kernels_are_reused_and_never_cached_on_disk():
    from nnnum.diff.engines import prange

    jf = nnnum.jit(cubic)
    par, ser = prange.kernels(jf)
    again = prange.kernels(jf)
    assert again[0] is par and again[1] is ser  # compiled once per f
    # specialised to f (a compile-time constant): an on-disk copy could be served to another f
    # of the same name in a later process
    for k in (par, ser):
        assert type(k._cache).__name__ == "NullCache"


@pytest.mark.parametrize(("parallel", "which"), [(False, 1), (None, 0), (True, 0)])
def test_prange_engine_picks_the_serial_kernel_only_when_asked(kernel_calls, parallel, which):
    from nnnum.diff.engines import prange

    jf = nnnum.jit(cubic)
    kernels = prange.kernels(jf)
    used = kernel_calls
    x = np.array([1.0, 2.0, 3.0])
    prange.perturbed(jf, x.copy(), np.stack([x + 1e-3, x - 1e-3]), parallel)
    assert len(used) == 1 and used[0] is kernels[which]


@pytest.mark.jit_only
def test_prange_kernel_cache_keeps_the_most_recent_functions(monkeypatch):
    from nnnum.diff.engines import prange

    assert prange.CACHE_SIZE == 16  # documented: the kernels of 16 functions are kept
    monkeypatch.setattr(prange, "CACHE_SIZE", 2)
    fs = [nnnum.jit(lambda v, k=k: np.sum(v) * k) for k in (1.0, 2.0, 3.0)]
    for f in fs:
        prange.kernels(f)
    cached = prange.cached_functions()
    assert cached[-2:] == fs[1:] and fs[0] not in cached  # the oldest is dropped
    par, ser = prange.kernels(fs[2])
    assert par.targetoptions.get("parallel") is True and not ser.targetoptions.get("parallel")


# ------------------------------------------------------------- 14. kernel cache
@pytest.mark.jit_only
def test_kernels_of_dropped_functions_are_freed():
    refs = []
    for k in range(_kernels_diff.CACHE_SIZE + 5):
        f = nnnum.jit(lambda v, k=k: np.sum(v**2) + k)
        nnnum.numerical_gradient(f, np.ones(3))
        refs.append(weakref.ref(f))
    del f
    gc.collect()
    assert len(_kernels_diff.cached_functions()) == _kernels_diff.CACHE_SIZE
    assert refs[0]() is None  # the oldest function (and its kernels) are gone
    g = nnnum.jit(lambda v: np.sum(v**3))
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(nnnum.numerical_gradient(g, x), nnnum.numerical_gradient(g, x))


# ---------------------------------------------------- 17. exceptions as themselves
def test_exception_in_a_jitted_f_inside_the_parallel_kernel():
    @numba.njit
    def f(x):
        if x[3] > 3.00005:
            raise ValueError("boom")
        return np.sum(x**2)

    x = np.arange(100.0)
    for parallel in (None, False):
        with pytest.raises(ValueError, match="boom"):
            nnnum.numerical_gradient(f, x, parallel=parallel)
    np.testing.assert_array_equal(x, np.arange(100.0))


def test_call_kernel_unwraps_an_interrupt():
    def fake_kernel():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("returned a result with an exception set") from exc

    with pytest.raises(KeyboardInterrupt):
        _jit.call_kernel(fake_kernel)


# ------------------------------------------------------------------ serial kernels first
@pytest.fixture
def tiered(monkeypatch):
    """NNNUM_PARALLEL_AFTER_S=1: serial kernels until they have lost a second beside the others."""
    monkeypatch.setattr(prange, "PARALLEL_AFTER_S", 1.0)
    return prange


def _fresh_f():
    @numba.njit
    def f(x):
        return np.sum(np.cos(x) * x)

    return f


def test_a_new_f_starts_on_the_serial_kernel_with_the_same_bits(tiered, kernel_calls, num_threads):
    f = _fresh_f()
    x = np.linspace(-1.0, 1.0, 40)
    entry = prange._entry(f)
    with num_threads(2):
        g = nnnum.numerical_gradient(f, x)
        assert kernel_calls == [entry.central2[1]] and not entry.hot
        assert entry.seconds is not None and entry.lost == 0.0  # compiling is not lost time
        nnnum.numerical_gradient(f, x)
        assert 0.0 < entry.lost < tiered.PARALLEL_AFTER_S and not entry.hot
        entry.lost = tiered.PARALLEL_AFTER_S  # as after a second of serial calls
        kernel_calls.clear()
        again = nnnum.numerical_gradient(f, x)
        assert kernel_calls == [entry.central2[0]] and entry.hot
        entry.lost = 0.0
        nnnum.numerical_gradient(f, x)  # the parallel kernels are kept, once compiled
        assert kernel_calls[-1] is entry.central2[0]
    np.testing.assert_array_equal(g, again)


def test_a_call_whose_work_alone_pays_for_compiling_runs_parallel_at_once(tiered, kernel_calls):
    f = _fresh_f()
    x = np.linspace(-1.0, 1.0, 40)
    entry = prange._entry(f)
    f(x)
    entry.seconds = 0.1  # a slow f: 80 evaluations lose ~4 s on two threads if serial
    entry.checked.add((x.dtype.char, x.ndim))
    if numba.get_num_threads() < 2:
        pytest.skip("one thread: the serial kernel is the parallel one")
    nnnum.numerical_gradient(f, x)
    assert kernel_calls == [entry.central2[0]] and entry.hot


def test_every_job_follows_the_rule_and_parallel_true_overrides_it(tiered, kernel_calls):
    f = _fresh_f()
    x = np.linspace(-1.0, 1.0, 12)
    entry = prange._entry(f)
    nnnum.numerical_gradient(f, x)
    nnnum.numerical_gradient(f, x, order=4)
    nnnum.numerical_gradient(f, x, method="complex")
    nnnum.numerical_jacobian(f, x)
    assert kernel_calls == [entry.central2[1], entry.serial, entry.complex[1], entry.sets[True][1]]
    kernel_calls.clear()
    nnnum.numerical_gradient(f, x, order=4, parallel=True)
    assert kernel_calls == [entry.parallel] and entry.hot  # compiled: kept for parallel=None
    kernel_calls.clear()
    nnnum.numerical_gradient(f, x, order=4)
    assert kernel_calls == [entry.parallel]


def test_one_thread_never_compiles_the_parallel_kernels(tiered, kernel_calls, num_threads):
    f = _fresh_f()
    entry = prange._entry(f)
    entry.lost = 10.0
    with num_threads(1):
        nnnum.numerical_gradient(f, np.linspace(-1.0, 1.0, 40))
    assert kernel_calls == [entry.central2[1]] and not entry.hot


def test_an_f_of_unknown_time_runs_parallel(tiered, kernel_calls):
    """The general path's first call compiles f for x in its check: no time, the parallel kernel."""
    f = _fresh_f()
    entry = prange._entry(f)
    nnnum.numerical_gradient(f, np.linspace(-1.0, 1.0, 9), order=4)
    assert kernel_calls == [entry.parallel] and entry.hot and entry.seconds is None


@pytest.mark.parametrize("text", ["-1", "soon", "nan"])
def test_a_bad_parallel_after_is_a_clear_error(monkeypatch, text):
    monkeypatch.setenv("NNNUM_PARALLEL_AFTER_S", text)
    with pytest.raises(ValueError, match="NNNUM_PARALLEL_AFTER_S must be a number of seconds"):
        prange._parallel_after()
    monkeypatch.setenv("NNNUM_PARALLEL_AFTER_S", "2.5")
    assert prange._parallel_after() == 2.5


def test_by_default_the_parallel_kernel_runs_from_the_first_call(monkeypatch, kernel_calls):
    monkeypatch.delenv("NNNUM_PARALLEL_AFTER_S", raising=False)
    monkeypatch.setattr(prange, "PARALLEL_AFTER_S", prange._parallel_after())
    assert prange.PARALLEL_AFTER_S == 0.0
    f = _fresh_f()
    entry = prange._entry(f)
    nnnum.numerical_gradient(f, np.linspace(-1.0, 1.0, 40))
    if prange.nests():
        assert kernel_calls == [entry.central2[0]] and entry.hot


def test_a_typing_errors_reason_keeps_its_informative_lines_up_to_400_characters():
    message = (
        "Failed in nopython mode pipeline (step: nopython frontend)\n"
        + "No implementation of function Function(<built-in function abs>) "
        + "found for signature: " * 30
        + '\nDuring: typing of call at <stdin> (3)\nFile "<stdin>", line 3:\n^\n'
    )
    reason = prange._typing_reason(message)
    assert reason.startswith("No implementation of function") and len(reason) == 400
    assert "During:" not in reason and "nopython" not in reason
    assert prange._typing_reason("Failed in nopython mode\n") == "Failed in nopython mode"
