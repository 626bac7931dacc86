"""The Hessian's plan (hessian_plan.py): its pairs, its automatic step, one level's sets."""

import numpy as np

from nnnum.diff.hessian_plan import auto_second, pairs, real_level


def test_pairs_dense_pattern_and_diagonal():
    i, j, pat = pairs(4, None, False)
    assert pat is None and list(zip(i, j, strict=True)) == [
        (a, b) for a in range(4) for b in range(a, 4)
    ]
    band = np.abs(np.subtract.outer(np.arange(5), np.arange(5))) <= 1
    i, j, pat = pairs(5, band, False)
    assert pat is not None and (i <= j).all()
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [
        (a, b) for a in range(5) for b in (a, a + 1) if b < 5
    ]
    i, j, _ = pairs(3, None, True)
    assert (i == j).all() and i.tolist() == [0, 1, 2]


def test_auto_second_is_a_power_of_two_that_grows_with_x():
    x = np.array([0.0, 0.5, 3.0, 1e3])
    for levels in (1, 2, 3):
        h = auto_second(x, levels)
        mant, _ = np.frexp(h)
        assert (mant == 0.5).all() and (np.diff(h) >= 0).all()
    assert auto_second(x, 2)[0] > auto_second(x, 1)[0]  # Richardson allows a larger step


def test_one_level_combines_to_the_second_differences():
    # f = x0^2 x1 + x1^3: H = [[2 x1, 2 x0], [2 x0, 6 x1]], exact for these quadratic stencils
    x = np.array([0.7, -1.3])
    i, j, _ = pairs(2, None, False)
    h = np.full(2, 2.0**-10)
    pert, combine = real_level(x, x.shape, i, j, h)
    F = np.empty((pert.count, 1))
    for p in range(pert.count):
        z = x.copy()
        s, e = pert.ptr[p], pert.ptr[p + 1]
        z[pert.idx[s:e]] = pert.val[s:e]
        F[p, 0] = z[0] ** 2 * z[1] + z[1] ** 3
    v = combine(F, x[0] ** 2 * x[1] + x[1] ** 3)[0]
    want = {(0, 0): 2 * x[1], (0, 1): 2 * x[0], (1, 1): 6 * x[1]}
    for q, (a, b) in enumerate(zip(i, j, strict=True)):
        assert abs(v[q] - want[(int(a), int(b))]) < 1e-6
