"""Mutation testing of nnnum's numerical core with cosmic-ray; writes tools/mutation/REPORT.md.

    tools/mutation/run.sh                    # every module, every mutant (release check)
    tools/mutation/run.sh --sample 40        # 40 random mutants over all modules (CI)
    tools/mutation/run.sh --only diff.steps  # one module group (names in MODULES below)
    tools/mutation/run.sh --count            # how many mutants each module has, no run

How it works
------------
The repository (``nnnum/``, ``tests/``, ``conftest.py``, ``pyproject.toml``) is copied to a
scratch folder and mutated *there*, never in the working tree. For every module cosmic-ray
makes the mutants (``cosmic-ray init``), the excluded operators and the lines outside the
module's core are marked skipped, the module's fast test subset is run once unmutated
(``cosmic-ray baseline``) and then once per mutant (``cosmic-ray exec``): a mutant is killed
when the subset fails or runs past the timeout.

Numba and cosmic-ray: cosmic-ray writes the mutated module to disk and runs the tests in a new
process, so Numba compiles the mutated source (a tool that swaps functions for trampolines
at import time could not reach code inside an ``@njit`` kernel). Numba's on-disk cache is keyed
by the *kernel's own* source file stamp only, so a kernel that inlines a function of another
module, or reads a module global, could be served a stale compiled kernel; every test run
therefore gets a fresh, empty ``NUMBA_CACHE_DIR`` (see ``subset.sh``) -- mutants are tested with
the JIT on, exactly as users run the code, at the price of compiling the kernels each time.

Equivalent mutants are listed, with the reason, in ``equivalent.toml`` (keyed by module,
operator, the source line and the mutated line, so that they survive edits elsewhere).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# module group -> (module path, test subset, timeout s, functions to mutate or None for all).
# Subsets: the tests of the module, fastest-failing first (the planted-bug tests of planted.py,
# in their subjects' files: I13), without the two slowest tests
# of the suite (SLOW: 30 s each, compile a kernel per example or per function;
# diff/engines/test_engines_agree.py has a fast twin of the engines-agree test).
I13 = (
    "tests/diff/test_steps.py tests/diff/test_checks.py tests/diff/test_stencils.py "
    "tests/diff/engines/test_engines_agree.py tests/diff/engines/test_batched.py "
    "tests/diff/engines/test_prange.py"
)
SLOW = '-k "not test_loop_prange_and_batched_engines_agree and not test_kernels_of_dropped"'
DIFF = f"{I13} tests/diff/engines/test_plan_and_engines.py tests/diff/test_api.py tests/diff/test_finish.py {SLOW}"
NETS = f"tests/nets/test_structured_gradient.py tests/nets/test_network.py tests/nets/test_batched.py {SLOW}"
MODULES: dict[str, tuple[str, str, float, list[str] | None]] = {
    "diff.steps": ("nnnum/diff/steps.py", DIFF, 120, None),
    "diff.stencils": ("nnnum/diff/stencils.py", DIFF, 120, None),
    "diff.checks": ("nnnum/diff/checks.py", f"{DIFF} tests/test_misuse.py", 150, None),
    "diff.api": ("nnnum/diff/api.py", DIFF, 120, None),
    "diff.elementwise": ("nnnum/diff/elementwise.py", DIFF, 120, None),
    "diff.engines.base": ("nnnum/diff/engines/base.py", DIFF, 120, None),
    "diff.finish": ("nnnum/diff/finish.py", DIFF, 120, None),
    "diff.engines.loop": ("nnnum/diff/engines/loop.py", DIFF, 120, None),
    "diff.engines.prange": (
        "nnnum/diff/engines/prange.py",
        f"{DIFF} tests/diff/test_default_call.py tests/diff/test_complex_step.py",
        240,
        None,
    ),
    "diff.engines._prange_kernels": (
        "nnnum/diff/engines/_prange_kernels.py",
        f"{DIFF} tests/diff/test_default_call.py tests/diff/test_complex_step.py",
        240,
        None,
    ),
    "diff.complex_step": (
        "nnnum/diff/complex_step.py", f"{I13} tests/diff/test_complex_step.py {SLOW}", 120, None
    ),
    "diff.engines.batched": ("nnnum/diff/engines/batched.py", f"{DIFF} tests/nets/test_batched.py", 150, None),
    "backends._cpu_kernels": ("nnnum/backends/_cpu_kernels.py", "tests/test_losses.py tests/test_functions.py tests/nets/test_batched.py", 150, None),
    "backends._simd": (
        "nnnum/backends/_simd.py",
        "tests/backends/test_cpu_kernels.py tests/test_vectorisation.py tests/test_losses.py",
        150,
        None,
    ),
    "losses": ("nnnum/losses.py", "tests/test_losses.py tests/test_functions.py", 90, None),
    "_validate": ("nnnum/_core/validate.py", "tests/test_losses.py tests/nets/test_network.py", 240, None),
    "nets._kernels": ("nnnum/nets/_kernels.py", NETS, 150, None),
    "nets._structured": ("nnnum/nets/_structured.py", NETS, 150, None),
    "nets._batched": ("nnnum/nets/_batched.py", NETS, 150, None),
    "nets.two_layer": ("nnnum/nets/two_layer.py", NETS, 150, None),
    "nets.simple": ("nnnum/nets/simple.py", NETS, 150, None),
    "nets._params": ("nnnum/nets/_params.py", NETS, 150, None),
    "nets._inputs": ("nnnum/nets/_inputs.py", NETS, 150, None),
    "nets._fastpath": ("nnnum/nets/_fastpath.py", NETS, 150, None),
    "nets._forward_kernels": ("nnnum/nets/_forward_kernels.py", NETS, 150, None),
    "learn.descent": ("nnnum/learn/descent.py", "tests/learn/test_descent.py", 90, None),
    "data.idx": (
        "nnnum/data/_idx.py",
        "tests/data/test_idx.py tests/data/test_mnist.py",
        90,
        ["load_idx", "_open_existing", "_read_idx", "_read_exact", "_read_header", "_check_magic",
         "_declared_size", "_check_plain_size", "_read_into"],
    ),
    "data.mnist": (
        "nnnum/data/_mnist.py",
        "tests/data/test_idx.py tests/data/test_mnist.py",
        90,
        ["_shape", "_change_one_hot_label"],
    ),
}

# Modules with Numba kernels (or intrinsics compiled into them, backends._simd: Numba's cache
# does not notice a change there): every mutant's tests get a fresh, empty Numba cache. The
# others share one cache warmed on the unmutated source: their mutants cannot change a cached
# kernel (the kernel modules import only nnnum._core.jit and nnnum.backends._bitcast, which are not mutated,
# and backends._simd, and the prange engine's kernels are compiled per user function).
FRESH_CACHE = {
    "backends._cpu_kernels", "backends._simd", "nets._kernels", "nets._forward_kernels",
    "diff.engines.prange", "diff.engines._prange_kernels",
}

# The operators used: the classic "plausible slip" set (as PIT's defaults): + <-> -, * <-> /,
# // -> /, ** -> *, @ -> *; comparison boundaries (< <-> <=, > <-> >=) and negations (< <-> >=,
# == <-> !=, is <-> is not, in <-> not in); dropping a unary -, not or ~; adding a not;
# True <-> False, and <-> or, break <-> continue; an except clause that catches nothing; a
# number +- 1; a loop that runs zero times. Left out, and why:
# * the other arithmetic pairs (+ -> **, % -> +, ...) and every bitwise/shift operator: on
#   nnnum's float arrays most fail at once (a TypeError, a test of the operator's type, not of
#   the numbers), the rest repeat what + <-> - and * <-> / already ask, at 3x the cost;
# * comparisons across families (< -> is, == -> in): TypeErrors, not plausible bugs;
# * ~ <-> unary +/-/not: TypeError/ValueError on a boolean mask at once;
# * RemoveDecorator: @kernel off is the same function run by Python (equivalent by design);
#   @dataclass/@property off fails at import.
KEEP_OPERATORS = [
    r"core/ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Pow_Mul|MatMult_Mul)$",
    r"core/ReplaceComparisonOperator_(Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Lt_GtE|GtE_Lt|Gt_LtE|LtE_Gt)$",
    r"core/ReplaceComparisonOperator_(Eq_NotEq|NotEq_Eq|Is_IsNot|IsNot_Is|In_NotIn|NotIn_In)$",
    r"core/ReplaceUnaryOperator_(USub_UAdd|UAdd_USub|Delete_USub|Delete_Not|Delete_Invert)$",
    r"core/(AddNot|ReplaceTrueWithFalse|ReplaceFalseWithTrue|ReplaceAndWithOr|ReplaceOrWithAnd)$",
    r"core/(ReplaceBreakWithContinue|ReplaceContinueWithBreak|ExceptionReplacer|NumberReplacer)$",
    r"core/ZeroIterationForLoop$",
]


def excluded_operators() -> list[str]:
    """cosmic-ray filters by exclusion: every operator name that KEEP_OPERATORS does not match."""
    import re

    import cosmic_ray.plugins

    keep = re.compile("|".join(KEEP_OPERATORS))
    return [
        "^" + re.escape(n) + "$" for n in cosmic_ray.plugins.operator_names() if not keep.match(n)
    ]


def copy_repo(dest: Path, without: list[str]) -> None:
    """The files git knows (tracked, or new and not ignored) into ``dest``."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    for name in without:  # a run with the tests as they were before (--without followed by a test file)
        (dest / name).unlink()


def function_lines(path: Path, names: list[str]) -> list[tuple[int, int]]:
    tree = ast.parse(path.read_text())
    spans = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            spans.append((node.lineno, node.end_lineno))
    return spans


def cr(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("cosmic-ray")
    return subprocess.run([str(exe), *args], cwd=cwd, check=check, capture_output=True, text=True)


def write_config(work: Path, name: str, module: str, tests: str, timeout: float) -> Path:
    cfg = work / f"cr-{name}.toml"
    # test files not there yet (a run before they were written) are left out
    words = [t for t in shlex.split(tests) if not t.endswith(".py") or (work / t).exists()]
    tests = " ".join(shlex.quote(t) for t in words)
    env = f"env NNNUM_MUT_CACHE={work.parent / 'numba-warm'} " if name not in FRESH_CACHE else ""
    subset = f"{env}bash {work / 'tools/mutation/subset.sh'} {tests}"
    lines = [
        "[cosmic-ray]",
        f"module-path = {json.dumps(module)}",
        f"timeout = {timeout}",
        "excluded-modules = []",
        f"test-command = {json.dumps(subset)}",
        "",
        "[cosmic-ray.distributor]",
        'name = "local"',
        "",
        "[cosmic-ray.filters.operators-filter]",
        f"exclude-operators = {json.dumps(excluded_operators())}",
    ]
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def init_session(work: Path, name: str) -> tuple[Path, Path, list]:
    """cosmic-ray init + filters; the pending work items."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    module, tests, timeout, funcs = MODULES[name]
    cfg = write_config(work, name, module, tests, timeout)
    db = work / f"cr-{name}.sqlite"
    if db.exists():
        db.unlink()
    cr("init", str(cfg), str(db), cwd=work)
    exe = Path(sys.executable).with_name("cr-filter-operators")
    subprocess.run([str(exe), str(db), str(cfg)], cwd=work, check=True, capture_output=True)
    if funcs is not None:
        spans = function_lines(work / module, funcs)
        with use_db(str(db), WorkDB.Mode.open) as wdb:
            for item in list(wdb.pending_work_items):
                line = item.mutations[0].start_pos[0]
                if not any(a <= line <= b for a, b in spans):
                    wdb.set_result(
                        item.job_id,
                        WorkResult(output="outside the module's core", worker_outcome=WorkerOutcome.SKIPPED),
                    )
    with use_db(str(db), WorkDB.Mode.open) as wdb:
        pending = list(wdb.pending_work_items)
    return cfg, db, pending


def keep_only(db: Path, keep: set[str]) -> None:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(db), WorkDB.Mode.open) as wdb:
        for item in list(wdb.pending_work_items):
            if item.job_id not in keep:
                wdb.set_result(
                    item.job_id, WorkResult(output="not sampled", worker_outcome=WorkerOutcome.SKIPPED)
                )


def load_equivalents() -> list[dict]:
    path = HERE / "equivalent.toml"
    if not path.exists():
        return []
    return tomllib.loads(path.read_text()).get("mutant", [])


def source_line(work: Path, module: str, line: int) -> str:
    return (work / module).read_text().splitlines()[line - 1].strip()


def collect(work: Path, name: str, db: Path, equivalents: list[dict]) -> dict:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    module = MODULES[name][0]
    killed = survived = equivalent = incompetent = 0
    survivors, equivs = [], []
    with use_db(str(db), WorkDB.Mode.open) as wdb:
        for item, result in wdb.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            mut = item.mutations[0]
            line = mut.start_pos[0]
            text = source_line(work, module, line)
            if result.worker_outcome != WorkerOutcome.NORMAL or result.test_outcome == TestOutcome.INCOMPETENT:
                incompetent += 1  # the mutant could not be run: not counted
                continue
            if result.test_outcome == TestOutcome.KILLED:
                killed += 1
                continue
            plus = [
                ln[1:].strip()
                for ln in (result.diff or "").splitlines()
                if ln.startswith("+") and not ln.startswith("+++")
            ]
            mutated = plus[0] if plus else ""
            reason = next(
                (
                    e["reason"]
                    for e in equivalents
                    if e["module"] == module
                    and e["operator"] == mut.operator_name
                    and e["line"].strip() == text
                    and e.get("mutated", mutated).strip() == mutated
                ),
                None,
            )
            entry = {
                "mutated": mutated,
                "line": line,
                "operator": mut.operator_name,
                "occurrence": mut.occurrence,
                "text": text,
                "diff": result.diff or "",
                "reason": reason,
            }
            if reason is None:
                survived += 1
                survivors.append(entry)
            else:
                equivalent += 1
                equivs.append(entry)
    total = killed + survived
    return {
        "name": name,
        "module": module,
        "killed": killed,
        "survived": survived,
        "equivalent": equivalent,
        "incompetent": incompetent,
        "score": (killed / total) if total else None,
        "survivors": survivors,
        "equivalents": equivs,
    }


def write_report(results: list[dict], args: argparse.Namespace, seconds: float, path: Path) -> None:
    k = sum(r["killed"] for r in results)
    s = sum(r["survived"] for r in results)
    e = sum(r["equivalent"] for r in results)
    if args.per_module:
        mode = f"a random sample of {args.per_module} mutants per module (seed {args.seed})"
    elif args.sample:
        mode = f"a random sample of {args.sample} mutants (seed {args.seed})"
    else:
        mode = "every mutant"
    out = [
        "# Mutation testing report (cosmic-ray)",
        "",
        f"Run: `tools/mutation/run.sh{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}`, {mode}, "
        f"{seconds / 60:.1f} min, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"**Score: {k}/{k + s} = {100 * k / max(k + s, 1):.1f}% of non-equivalent mutants killed** "
        f"({e} equivalent mutants survive, each listed with its reason below).",
        "",
        "| module | killed | survived | equivalent | not runnable | score |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        sc = "-" if r["score"] is None else f"{100 * r['score']:.1f}%"
        out.append(
            f"| `{r['module']}`{' (IDX parsing)' if r['name'] == 'data.idx' else ''} | {r['killed']} | "
            f"{r['survived']} | {r['equivalent']} | {r['incompetent']} | {sc} |"
        )
    out += ["", "## Surviving mutants (not equivalent: a test is missing)", ""]
    any_s = False
    for r in results:
        for m in r["survivors"]:
            any_s = True
            out.append(
                f"- `{r['module']}:{m['line']}` {m['operator']} #{m['occurrence']}: "
                f"`{m['text']}` -> `{m.get('mutated', '')}`"
            )
    if not any_s:
        out.append("None.")
    out += ["", "## Equivalent mutants (survive by construction)", ""]
    for r in results:
        for m in r["equivalents"]:
            out.append(
                f"- `{r['module']}:{m['line']}` {m['operator']} #{m['occurrence']}: `{m['text']}` -> "
                f"`{m.get('mutated', '')}`: {m['reason']}"
            )
    path.write_text("\n".join(out) + "\n")
    (path.with_suffix(".json")).write_text(json.dumps(results, indent=1))


def _matches(e: dict, module: str, m: dict) -> bool:
    mutated = m.get("mutated") or next(
        (ln[1:].strip() for ln in m.get("diff", "").splitlines()
         if ln.startswith("+") and not ln.startswith("+++")), "")
    return (
        e["module"] == module
        and e["operator"] == m["operator"]
        and e["line"].strip() == m["text"]
        and e.get("mutated", mutated).strip() == mutated
    )


def reclassify(args: argparse.Namespace) -> None:
    """Survivors that equivalent.toml now lists move to the equivalents (and out of the score)."""
    path = Path(args.report)
    results = json.loads(path.with_suffix(".json").read_text())
    equivalents = load_equivalents()
    for r in results:
        keep = []
        for m in r["survivors"]:
            e = next((e for e in equivalents if _matches(e, r["module"], m)), None)
            if e is None:
                keep.append(m)
            else:
                m["reason"] = e["reason"]
                r["equivalents"].append(m)
        r["survivors"] = keep
        r["survived"], r["equivalent"] = len(keep), len(r["equivalents"])
        total = r["killed"] + r["survived"]
        r["score"] = r["killed"] / total if total else None
    text = path.read_text()
    head = text.split("\n")[2] if text.count("\n") > 2 else ""
    write_report(results, args, 0.0, path)
    lines = path.read_text().split("\n")
    lines[2] = head + " Equivalents re-applied from equivalent.toml (`--reclassify`)."
    path.write_text("\n".join(lines))


def order(results: list[dict]) -> list[dict]:
    names = list(MODULES)
    return sorted(results, key=lambda r: names.index(r["name"]) if r["name"] in names else 99)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="module groups to run (default: all)")
    ap.add_argument("--sample", type=int, default=0, help="run this many random mutants in all")
    ap.add_argument("--per-module", type=int, default=0, help="run this many random mutants of each module")
    ap.add_argument("--without", nargs="*", default=[], help="test files to leave out (a 'before' run)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the sample")
    ap.add_argument("--count", action="store_true", help="only count the mutants")
    ap.add_argument("--report", default=str(HERE / "REPORT.md"), help="where to write the report")
    ap.add_argument(
        "--update", action="store_true",
        help="keep the other modules' results of the report's .json (a run of a few modules)",
    )
    ap.add_argument(
        "--reclassify", action="store_true",
        help="no run: apply equivalent.toml again to the report's .json and rewrite the report",
    )
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder (its path is printed)")
    args = ap.parse_args()
    names = args.only or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        ap.error(f"unknown module groups {unknown}; choose from {list(MODULES)}")

    if args.reclassify:
        reclassify(args)
        return 0
    t0 = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="nnnum-mutation-"))
    work = scratch / "repo"
    copy_repo(work, args.without)
    (scratch / "numba-warm").mkdir()
    try:
        sessions = {}
        for name in names:
            sessions[name] = init_session(work, name)
            print(f"{name:24s} {len(sessions[name][2]):5d} mutants", flush=True)
        if args.count:
            print(f"total {sum(len(s[2]) for s in sessions.values())}")
            return 0
        def key(it):
            m = it.mutations[0]
            return (m.operator_name, m.occurrence, m.start_pos)

        if args.sample or args.per_module:
            # a deterministic order (cosmic-ray's job ids are random), then a seeded sample: the
            # same seed picks the same mutants as long as the source is unchanged
            rng = random.Random(args.seed)
            chosen = set()
            if args.per_module:
                for n, s in sessions.items():
                    items = sorted(s[2], key=key)
                    # one generator per module: its sample does not depend on the other modules
                    mrng = random.Random(f"{args.seed}:{n}")
                    chosen |= {(n, it.job_id) for it in mrng.sample(items, min(args.per_module, len(items)))}
            else:
                pool = [(n, it.job_id) for n, s in sessions.items() for it in sorted(s[2], key=key)]
                chosen = set(rng.sample(pool, min(args.sample, len(pool))))
            for n, (cfg, db, _) in sessions.items():
                keep_only(db, {j for (m, j) in chosen if m == n})
        equivalents = load_equivalents()
        results = []
        earlier = []
        prior = Path(args.report).with_suffix(".json")
        if args.update and prior.exists():
            earlier = [r for r in json.loads(prior.read_text()) if r["name"] not in sessions]
        for name, (cfg, db, pending) in sessions.items():
            from cosmic_ray.work_db import WorkDB, use_db

            with use_db(str(db), WorkDB.Mode.open) as wdb:
                todo = wdb.num_work_items - wdb.num_results
            if todo == 0:
                continue
            t1 = time.perf_counter()
            base = cr("baseline", str(cfg), cwd=work, check=False)
            if base.returncode != 0:
                print(f"{name}: the unmutated tests fail; skipped\n{base.stdout[-2000:]}{base.stderr[-2000:]}")
                continue
            cr("exec", str(cfg), str(db), cwd=work)
            res = collect(work, name, db, equivalents)
            results.append(res)
            sc = "-" if res["score"] is None else f"{100 * res['score']:.1f}%"
            print(
                f"{name:24s} killed {res['killed']:4d} survived {res['survived']:3d} "
                f"equivalent {res['equivalent']:3d}  {sc}  ({time.perf_counter() - t1:.0f} s)",
                flush=True,
            )
            write_report(order(earlier + results), args, time.perf_counter() - t0, Path(args.report))
        write_report(order(earlier + results), args, time.perf_counter() - t0, Path(args.report))
        print(f"report: {args.report}  ({(time.perf_counter() - t0) / 60:.1f} min)")
    finally:
        if args.keep:
            print(f"scratch folder kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
