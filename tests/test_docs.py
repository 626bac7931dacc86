"""The documentation: every page's python blocks run, the book's ported scripts run and print
the book's numbers, the Chinese tutorial computes what the English one does, and every public
name of nnnum has an API page."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nnnum

from .conftest import write_mnist

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BOOK = ROOT / "examples" / "book"
sys.path.insert(0, str(DOCS))
import apigen  # noqa: E402

sys.path.remove(str(DOCS))

GENERATED = {"_build", "api", "auto_en", "auto_zh"}
PAGES = sorted(p for p in DOCS.rglob("*.rst") if not GENERATED & set(p.relative_to(DOCS).parts))
NOT_RUN = "# not run here"


def python_blocks(text: str) -> list[str]:
    """The ``.. code-block:: python`` bodies of a reStructuredText page, dedented."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if lines[i].strip() == ".. code-block:: python":
            indent = len(lines[i]) - len(lines[i].lstrip())
            i += 1
            body = []
            while i < len(lines) and (
                not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
            ):
                body.append(lines[i])
                i += 1
            blocks.append(textwrap.dedent("\n".join(body)).strip("\n"))
        else:
            i += 1
    return blocks


def run(args, cwd: Path, env_extra=None, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


# ------------------------------------------------------------------ the pages' code blocks
def test_python_blocks_are_found_and_not_run_blocks_say_so():
    text = "x\n\n.. code-block:: python\n\n   a = 1\n\n   b = 2\n\nnext\n"
    assert python_blocks(text) == ["a = 1\n\nb = 2"]
    guide = python_blocks((DOCS / "guide" / "workers.rst").read_text(encoding="utf-8"))
    assert any(b.startswith(NOT_RUN) for b in guide) and any(
        not b.startswith(NOT_RUN) for b in guide
    )


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if "code-block:: python" in p.read_text()],
    ids=lambda p: str(p.relative_to(DOCS)),
)
def test_every_python_block_of_a_page_runs(page, tmp_path):
    # the page's blocks in order, as one script (they build on each other, like a session);
    # run as __main__, so that the workers example's guard is what a reader's script has
    src = "\n\n".join(
        b for b in python_blocks(page.read_text(encoding="utf-8")) if not b.startswith(NOT_RUN)
    )
    assert src.strip()
    (tmp_path / "page.py").write_text(src, encoding="utf-8")
    run(["page.py"], tmp_path, {"PYTHONWARNINGS": "error::DeprecationWarning"})


# ------------------------------------------------------------------ the tutorial
def code_of(script: Path) -> str:
    """A gallery script's code without its text: the AST dump (comments and docstring gone)."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    tree.body = [
        n
        for n in tree.body
        if not (
            isinstance(n, ast.Expr)
            and isinstance(getattr(n, "value", None), ast.Constant)
            and isinstance(n.value.value, str)
        )
    ]
    return ast.dump(tree)


def test_the_chinese_tutorial_runs_the_english_code():
    en = sorted((DOCS / "tutorial" / "en").glob("[0-9][0-9]_*.py"))
    zh = sorted((DOCS / "tutorial" / "zh").glob("[0-9][0-9]_*.py"))
    assert [p.name for p in en] == [p.name for p in zh] and len(en) == 3
    for i, a in enumerate(en):
        assert code_of(a) == code_of(zh[i]), a.name


def test_the_chinese_tutorial_uses_the_chapters_terms():
    text = "".join(p.read_text(encoding="utf-8") for p in (DOCS / "tutorial" / "zh").glob("*.py"))
    terms = (
        "损失函数",
        "均方误差",
        "交叉熵误差",
        "mini-batch",
        "数值微分",
        "中心差分",
        "偏导数",
        "梯度",
        "梯度法",
        "学习率",
        "超参数",
    )
    assert [t for t in terms if t not in text] == []


def test_the_tutorial_shows_the_chapters_numbers():
    text = (DOCS / "tutorial" / "en" / "01_losses.py").read_text(encoding="utf-8")
    for n in ("0.0975", "0.5108", "2.3026"):
        assert n in text
    fig = (DOCS / "tutorial" / "en" / "02_gradients.py").read_text(encoding="utf-8")
    assert "1e-30" in fig and "10e-50" in fig and "(0.1, 10.0, 1e-10)" in fig


# ------------------------------------------------------------------ the book's scripts
def floats(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", text)]


def test_every_book_script_is_ported():
    ch04 = {p.name for p in (BOOK / "ch04").glob("*.py")}
    assert ch04 == {
        "gradient_1d.py",
        "gradient_2d.py",
        "gradient_method.py",
        "gradient_simplenet.py",
        "two_layer_net.py",
        "train_neuralnet.py",
    }
    assert (BOOK / "ch05" / "gradient_check.py").is_file()
    porting = (DOCS / "porting.rst").read_text(encoding="utf-8")
    for name in ch04 | {"gradient_check.py"}:
        assert name in porting, name
    for p in list((BOOK / "ch04").glob("*.py")) + [BOOK / "ch05" / "gradient_check.py"]:
        src = p.read_text(encoding="utf-8")
        assert "common." not in src and "sys.path" not in src and "plt.show" not in src, p


@pytest.mark.parametrize(
    "script, figure, printed",
    [
        ("gradient_1d.py", "gradient_1d.png", [0.19999999999955592]),
        ("gradient_2d.py", "gradient_2d.png", []),
        ("gradient_method.py", "gradient_method.png", []),
    ],
)
def test_book_figure_scripts_run_and_save_their_figure(tmp_path, script, figure, printed):
    proc = run([str(BOOK / "ch04" / script)], tmp_path)
    assert (tmp_path / figure).stat().st_size > 10_000
    assert floats(proc.stdout) == printed


def test_gradient_simplenet_prints_the_gradient_of_its_random_W(tmp_path):
    proc = run([str(BOOK / "ch04" / "gradient_simplenet.py")], tmp_path)
    dW = np.array(floats(proc.stdout))
    assert dW.shape == (6,) and np.all(np.isfinite(dW))
    # each row of dW sums to 0 (softmax), the second row is 1.5x the first (x = [0.6, 0.9])
    np.testing.assert_allclose(dW[3:], 1.5 * dW[:3], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dW.reshape(2, 3).sum(axis=1), 0, atol=1e-6)


def test_two_layer_net_script_class_matches_nnnum(tmp_path):
    proc = run(
        [
            "-c",
            (
                "import sys, numpy as np, nnnum\n"
                f"sys.path.insert(0, {str(BOOK / 'ch04')!r})\n"
                "from two_layer_net import TwoLayerNet\n"
                "np.random.seed(0); book = TwoLayerNet(6, 4, 3)\n"
                "np.random.seed(0); fast = nnnum.TwoLayerNet(6, 4, 3)\n"
                "x = np.random.rand(5, 6); t = np.eye(3)[[0, 1, 2, 1, 0]]\n"
                "g, h = book.numerical_gradient(x, t), fast.numerical_gradient(x, t)\n"
                "print(max(float(np.abs(g[k] - h[k]).max()) for k in g))\n"
                "print(abs(book.loss(x, t) - fast.loss(x, t)),\n"
                "      book.accuracy(x, t) == fast.accuracy(x, t))\n"
            ),
        ],
        tmp_path,
    )
    diff, loss_diff, same = proc.stdout.split()
    assert float(diff) < 1e-9 and float(loss_diff) < 1e-12 and same == "True"


def test_train_neuralnet_and_gradient_check_on_a_small_mnist(tmp_path):
    data = tmp_path / "mnist"
    data.mkdir()
    write_mnist(data, 300, 100)
    env = {"NNNUM_DATA_DIR": str(data)}
    # the script as ported, with 300 of its 10,000 iterations (the rest as it is)
    src = (BOOK / "ch04" / "train_neuralnet.py").read_text(encoding="utf-8")
    assert src.count("iters_num = 10000") == 1
    (tmp_path / "train_neuralnet.py").write_text(
        src.replace("iters_num = 10000", "iters_num = 300")
    )
    proc = run(["train_neuralnet.py"], tmp_path, env)
    lines = proc.stdout.splitlines()
    assert len(lines) == 100 and all(ln.startswith("train acc, test acc | ") for ln in lines)
    assert (tmp_path / "train_neuralnet.png").stat().st_size > 10_000
    proc = run([str(BOOK / "ch05" / "gradient_check.py")], tmp_path, env)
    diffs = dict(ln.split(":") for ln in proc.stdout.splitlines())
    assert list(diffs) == ["W1", "b1", "W2", "b2"]
    assert all(float(v) < 1e-9 for v in diffs.values()), diffs


# ------------------------------------------------------------------ the API reference
def test_every_public_name_gets_an_api_page(tmp_path):
    index = apigen.write_api_index(tmp_path / "api" / "index.rst")
    names = [n for n in nnnum.__all__ if n != "__version__"]
    text = index.read_text(encoding="utf-8")
    for name in names:
        page = tmp_path / "api" / "generated" / f"nnnum.{name}.rst"
        assert page.is_file(), name
        assert re.search(
            rf"^\.\. auto(function|class|data):: {re.escape(name)}$",
            page.read_text(encoding="utf-8"),
            flags=re.M,
        ), name
        assert f"generated/nnnum.{name}\n" in text, name
    grouped = [n for _, _, ns in apigen.sections() for n in ns]
    assert sorted(grouped) == sorted(names)


def test_a_name_added_to_all_gets_a_page(tmp_path, monkeypatch):
    def numerical_something(f, x):
        """A new public function."""

    numerical_something.__module__ = "nnnum.diff.api"
    monkeypatch.setattr(nnnum, "numerical_something", numerical_something, raising=False)
    monkeypatch.setattr(nnnum, "__all__", [*nnnum.__all__, "numerical_something"])
    apigen.write_api_index(tmp_path / "api" / "index.rst")
    assert (tmp_path / "api" / "generated" / "nnnum.numerical_something.rst").is_file()
    title, _, names = apigen.sections()[0]
    assert title == "Numerical differentiation" and "numerical_something" in names


BUILT = os.environ.get("NNNUM_DOCS_HTML")


@pytest.mark.skipif(not BUILT, reason="set NNNUM_DOCS_HTML to a built site (.ci/run does)")
def test_the_built_site_has_a_page_per_public_name_in_both_languages():
    html = Path(BUILT)
    for root in (html, html / "zh"):
        for name in (n for n in nnnum.__all__ if n != "__version__"):
            page = root / "api" / "generated" / f"nnnum.{name}.html"
            assert page.is_file(), page
            assert f'id="nnnum.{name}"' in page.read_text(encoding="utf-8"), page
    # every figure generated by the build: 4-7, 4-9, 4-10 in part 2; 4-11 and 4-12 in part 3
    for part, figures in (("02_gradients", 3), ("03_networks", 1)):
        for page in (f"tutorial/auto_en/{part}.html", f"zh/tutorial/auto_zh/{part}.html"):
            text = (html / page).read_text(encoding="utf-8")
            assert text.count("sphx-glr-single-img") >= figures, page
