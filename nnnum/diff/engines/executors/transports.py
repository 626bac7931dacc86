"""The four transports: a pool nnnum owns, a user's Executor, a map callable, a Dask client."""

from __future__ import annotations

import concurrent.futures as cf
import warnings
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .collect import Collect, describe, drive, note
from .guard import guard_message, mp_context, unguarded_main
from .options import Workers, is_int
from .worker import install, run_packed, run_task

__all__ = ["dask_ready", "known_size", "on_dask", "on_executor", "on_map", "on_pool"]


def _kill(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel what is queued and terminate the pool's processes (ours only)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        try:
            p.terminate()
        except Exception:  # pragma: no cover (already gone)
            pass
    pool.shutdown(wait=True, cancel_futures=True)
    for p in procs:
        p.join(5)
        if p.is_alive():  # pragma: no cover (ignored SIGTERM)
            p.kill()
            p.join(1)


def on_pool(
    size: int,
    opts: Workers,
    token: str,
    payload: bytes,
    tasks: list,
    job: Callable[[int], tuple],
    collect: Collect,
) -> None:
    """Run the tasks on a pool nnnum starts (and restarts when a process dies)."""
    ctx = mp_context()
    last: BaseException | None = None
    for _attempt in range(opts.retries + 1):
        todo = [k for k in range(len(tasks)) if k not in collect.finished]
        pool = cf.ProcessPoolExecutor(
            max_workers=min(size, len(todo)),
            mp_context=ctx,
            initializer=install,
            initargs=(token, payload),
        )

        def submit(k: int, with_payload: bool, pool: cf.ProcessPoolExecutor = pool) -> cf.Future:
            return pool.submit(
                run_task, token, payload if with_payload else None, tasks[k][0], job(k)
            )

        try:
            drive(submit, todo, collect, len(todo), 0, f"the pool of workers={size}")
        except BrokenProcessPool as exc:
            _kill(pool)
            last = exc
            continue
        except BaseException:
            _kill(pool)
            raise
        pool.shutdown(wait=True)
        return
    raise BrokenProcessPool(
        f"workers: a worker process died in each of {opts.retries + 1} pools (killed, or out "
        f"of memory?); {len(tasks) - len(collect.finished)} of {len(tasks)} tasks unfinished. "
        "Workers(n, retries=...) sets how often a fresh pool is tried"
    ) from last


def on_executor(
    ex: cf.Executor,
    token: str,
    payload: bytes,
    tasks: list,
    job: Callable[[int], tuple],
    collect: Collect,
) -> None:
    """Run the tasks on the caller's Executor, the payload with the first wave."""
    size = known_size(ex)
    # a known size: the first wave (one task per worker) carries the payload, and one more
    # task per worker waits in the Executor's queue, so that no worker idles while this
    # thread answers; unknown: everything at once, each task with the payload
    first = size if size is not None else len(tasks)
    limit = 2 * size if size is not None else len(tasks)
    name = type(ex).__name__

    def submit(k: int, with_payload: bool) -> cf.Future:
        try:
            return ex.submit(
                run_task, token, payload if with_payload else None, tasks[k][0], job(k)
            )
        except cf.BrokenExecutor:
            raise
        except Exception as exc:
            raise RuntimeError(
                f"workers: the {name} does not accept tasks ({type(exc).__name__}: {exc}); "
                "was it shut down (its with-block left)? Pass a running Executor"
            ) from exc

    try:
        drive(submit, range(len(tasks)), collect, limit, first, f"the {name}")
    except cf.BrokenExecutor as exc:
        note(
            exc,
            "the Executor broke (a worker process died?); nnnum restarts only the pools it "
            "owns (workers=<int>), and Dask reschedules tasks itself",
        )
        guard = unguarded_main()
        if guard is not None:
            note(exc, guard_message(guard, "the Executor's processes"))
        raise


def on_map(
    fmap: Callable,
    token: str,
    payload: bytes,
    tasks: list,
    job: Callable[[int], tuple],
    collect: Collect,
) -> None:
    """Run the tasks through a map-like callable, every task carrying the payload."""
    args = [(token, payload, lo, job(k)) for k, (lo, _) in enumerate(tasks)]
    source = f"the map {getattr(fmap, '__qualname__', type(fmap).__name__)}"
    try:
        results = fmap(run_packed, args)
    except Exception as exc:  # the tasks never raise: this is the map's own failure
        raise RuntimeError(
            f"workers: {source} raised {type(exc).__name__}: {exc} (a closed or shut-down pool?)"
        ) from exc
    try:
        it = iter(results)
    except TypeError:
        raise RuntimeError(
            f"workers: {source} returned {describe(results)}, not an iterable of results: "
            "a map must return one result per item, as map, pool.map or pool.imap_unordered do"
        ) from None
    returned = 0
    while True:
        try:
            result = next(it)
        except StopIteration:
            break
        except Exception as exc:
            raise RuntimeError(
                f"workers: {source} raised {type(exc).__name__}: {exc} while returning its "
                f"results ({returned} of {len(tasks)} returned)"
            ) from exc
        returned += 1
        if collect(result, source) is None:  # pragma: no cover (every task carries the payload)
            raise RuntimeError(f"workers: a task of {source} came back without its payload")
    collect.check_all(source, returned)


def _dask_address(client: Any) -> str:
    """The scheduler's address, also after the client lost it."""
    for get in (
        lambda: client.scheduler.address,
        lambda: client._scheduler_identity["address"],
        lambda: client.cluster.scheduler_address,
        lambda: client._start_arg,
    ):
        try:
            addr = get()
        except Exception:
            continue
        if isinstance(addr, str) and addr:
            return addr
    return "<unknown address>"


def dask_ready(client: Any, timeout: float) -> int:
    """Threads of the client's workers, once at least one is there (else a clear error)."""
    addr = _dask_address(client)
    status = getattr(client, "status", "running")
    if status != "running":
        raise RuntimeError(
            f"workers: the Dask client of the scheduler at {addr} is {status!r}, not running "
            "(scheduler gone, or client closed)"
        )
    try:
        client.wait_for_workers(1, timeout=timeout)
        nthreads = client.nthreads()
    except (TimeoutError, cf.TimeoutError):
        raise TimeoutError(
            f"workers: no Dask worker is connected to the scheduler at {addr} after "
            f"{timeout:g} s; start workers (dask worker {addr}) or check the address"
        ) from None
    except OSError as exc:
        raise RuntimeError(
            f"workers: the Dask scheduler at {addr} cannot be reached: {exc}"
        ) from exc
    return max(1, sum(int(v) for v in nthreads.values()))


def _same(payload: bytes) -> bytes:
    """The Dask task that holds the payload: recomputable from its own arguments."""
    return payload


def on_dask(
    client: Any,
    opts: Workers,
    token: str,
    payload: bytes,
    tasks: list,
    job: Callable[[int], tuple],
    collect: Collect,
) -> None:
    """Run the tasks on a Dask cluster, the payload a task of its own."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    # the payload as a task, not scattered data: the scheduler keeps its bytes, so that when
    # every worker holding it dies Dask recomputes it (scattered data is lost with them, and
    # every task depending on it is cancelled); each worker fetches it once from a peer
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ll]arge object", category=UserWarning)
        pf = client.submit(_same, payload, pure=False, key=f"nnnum-{token}-payload")
    futures = []
    try:
        for k, (lo, _) in enumerate(tasks):
            futures.append(
                client.submit(run_task, token, pf, lo, job(k), pure=False, key=f"nnnum-{token}-{k}")
            )
        index = {fut.key: k for k, fut in enumerate(futures)}
        for fut in as_completed(futures):
            k = index[fut.key]
            try:
                result = fut.result()
            except KilledWorker as exc:
                raise RuntimeError(
                    f"workers: a Dask worker died (killed, or out of memory?) each time it ran "
                    f"the block {collect.block(k)} (task {fut.key}); Dask gives a task up after "
                    "distributed.scheduler.allowed-failures such deaths"
                ) from exc
            except cf.CancelledError as exc:
                raise RuntimeError(
                    f"workers: the Dask task of the block {collect.block(k)} ({fut.key}) was "
                    f"cancelled: {exc}"
                ) from exc
            if collect(result, "Dask", expect=k) is None:  # pragma: no cover (payload is sent)
                raise RuntimeError("workers: a Dask task came back without its payload")
    except BaseException:
        try:
            client.cancel(futures + [pf])
        except Exception:  # pragma: no cover (client gone)
            pass
        raise
    finally:
        del futures
        pf.release()


def known_size(target: Any) -> int | None:
    """The number of workers of an Executor or a bound map, where it says."""
    for obj in (target, getattr(target, "__self__", None)):
        for attr in ("_max_workers", "_processes"):
            v: Any = getattr(obj, attr, None)
            if is_int(v, 1):
                return int(v)
    return None
