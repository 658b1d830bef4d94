"""Where independent runs execute: in this process, in local worker processes, or on Ray.

An *executor* runs one picklable function over a list of argument tuples and yields
``(index, result)`` pairs as runs finish (completion order; callers put results back in task
order, so the output never depends on which worker finished first). Three exist:

* :class:`SerialExecutor`: one after another in this process (``jobs=1``);
* :class:`ProcessExecutor`: a ``spawn`` process pool on this machine (``jobs > 1``);
* :class:`RayExecutor`: every run a Ray task (``ray.remote``), on a local Ray instance started
  here (``address=None``) or on a cluster joined by address (``"auto"``: the cluster this
  machine belongs to, started with ``ray start``; ``"ray://host:10001"``: Ray Client;
  ``"host:6379"``: a head node's GCS). See docs/scaling.md.

**Kernel cache.** The numba kernel is compiled once into an on-disk cache keyed by its source
(``octogym/_numba_cache.py``). Both pools call a ``warm_up`` function in this process first
(the kernel is compiled or loaded here, so workers on this machine only read the cache); a
worker process then loads the kernel on its first run and keeps it for every later run it
gets (Ray reuses its worker processes). A node of a Ray cluster without the cache compiles
it once, in the first worker that needs it, into its own cache folder.

Ray is optional (``pip install "octogym[ray]"``, installed by ``make``): :func:`require_ray`
turns its absence, and an unreachable cluster address, into a ``RuntimeError`` saying what to
do. Nothing else in octogym imports Ray.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Protocol

__all__ = ["Executor", "ProcessExecutor", "RayExecutor", "SerialExecutor", "connect",
           "executor_for", "kernel_cache_report", "make_executor", "require_ray"]

RAY_EXTRA = 'pip install "octogym[ray]"  (or `make`, which installs it)'


class Executor(Protocol):
    """Runs ``fn(*args, **kwargs)`` for each ``args`` in ``calls``."""

    def imap_unordered(self, fn: Callable[..., Any], calls: Sequence[tuple],
                       **kwargs: Any) -> Iterator[tuple[int, Any]]:
        """Yield ``(i, fn(*calls[i], **kwargs))`` as each run finishes."""
        ...


class SerialExecutor:
    """Every run in this process, in the order given."""

    def imap_unordered(self, fn: Callable[..., Any], calls: Sequence[tuple],
                       **kwargs: Any) -> Iterator[tuple[int, Any]]:
        for i, args in enumerate(calls):
            yield i, fn(*args, **kwargs)

    def __repr__(self) -> str:
        return "SerialExecutor()"


class ProcessExecutor:
    """A ``spawn`` process pool of ``jobs`` workers on this machine; ``warm_up()`` runs here
    first (compile or load the kernel once, so that workers only read its cache)."""

    def __init__(self, jobs: int, warm_up: Callable[[], Any] | None = None) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        self.jobs, self.warm_up = jobs, warm_up

    def imap_unordered(self, fn: Callable[..., Any], calls: Sequence[tuple],
                       **kwargs: Any) -> Iterator[tuple[int, Any]]:
        if self.warm_up is not None:
            self.warm_up()
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx) as pool:
            futs = {pool.submit(fn, *args, **kwargs): i for i, args in enumerate(calls)}
            for fut in as_completed(futs):
                yield futs[fut], fut.result()

    def __repr__(self) -> str:
        return f"ProcessExecutor(jobs={self.jobs})"


def require_ray() -> Any:
    """The ``ray`` module, or a ``RuntimeError`` saying how to install it."""
    try:
        import ray
    except ImportError as e:
        raise RuntimeError(f"--ray needs Ray, which is not installed: {RAY_EXTRA}") from e
    return ray


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast on an unreachable ``host:port`` / ``ray://host:port`` (``ray.init`` itself
    retries for minutes): a ``RuntimeError`` naming the address."""
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"Ray address {address!r} is neither 'auto' nor host:port nor "
                         "ray://host:port")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise RuntimeError(f"Ray cluster at {address!r} is unreachable ({e}); start one with "
                           "`ray start --head` (docs/scaling.md) or check the address") from e


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Start a local Ray instance (``address=None``; ``num_cpus`` caps it, default: all CPUs)
    or join the cluster at ``address``; reuse the connection if Ray is already initialised.
    Returns the ``ray`` module. An unreachable address raises ``RuntimeError`` naming it."""
    ray = require_ray()
    if address is not None and num_cpus is not None:
        raise ValueError("num_cpus applies to a local Ray instance only (address=None); a "
                         "cluster's CPUs are set by `ray start --num-cpus` on each node")
    if address is not None and address != "auto":
        _probe(address)
    if ray.is_initialized():
        return ray
    try:
        if address is None:
            # Ray runs workers at nice +15 (its daemons first); on a machine shared with
            # other jobs that starves the runs, so a local instance keeps our niceness
            # (set RAY_worker_niceness yourself to choose otherwise)
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(num_cpus=num_cpus, include_dashboard=False, configure_logging=False)
        else:
            ray.init(address=address, configure_logging=False)
    except (ConnectionError, TimeoutError, ValueError) as e:
        where = "a local Ray instance" if address is None else f"Ray cluster at {address!r}"
        raise RuntimeError(f"cannot connect to {where}: {type(e).__name__}: {e}. Start one "
                           "with `ray start --head` (docs/scaling.md), pass its address "
                           "('auto' on a cluster node, or ray://HEAD:10001), or leave the "
                           "address out to start a local instance") from e
    return ray


def _apply(fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
    """The Ray task: ``fn`` may be any picklable callable (a ``functools.partial`` too, which
    ``ray.remote`` itself refuses)."""
    return fn(*args, **kwargs)


class RayExecutor:
    """Every run a Ray task (one CPU each). The connection is made on first use
    (:func:`connect`) and kept; ``shutdown()`` ends a local instance this executor started.
    ``warm_up()`` runs here first, like :class:`ProcessExecutor`'s (not through Ray Client,
    ``ray://``: that driver is not on a node)."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 warm_up: Callable[[], Any] | None = None) -> None:
        require_ray()  # fail now, before any long run, if Ray is missing
        self.address, self.num_cpus, self.warm_up = address, num_cpus, warm_up
        self._started = False

    def ray(self) -> Any:
        """The connected ``ray`` module (connecting on first call)."""
        ray = require_ray()
        started = not ray.is_initialized()
        connect(self.address, self.num_cpus)  # checks the address even if already connected
        self._started = self._started or started
        return ray

    def imap_unordered(self, fn: Callable[..., Any], calls: Sequence[tuple],
                       **kwargs: Any) -> Iterator[tuple[int, Any]]:
        ray = self.ray()
        # a Ray Client driver is outside the cluster: compiling here would help no worker
        if self.warm_up is not None and not (self.address or "").startswith("ray://"):
            self.warm_up()
        remote = ray.remote(num_cpus=1, max_retries=0)(_apply)
        fn_ref = ray.put(fn)  # sent once, not with every task
        refs = [remote.remote(fn_ref, args, kwargs) for args in calls]
        index = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    yield index[ref], ray.get(ref)
        finally:
            for ref in pending:  # interrupted or failed: do not leave work queued
                ray.cancel(ref)

    def shutdown(self) -> None:
        """Disconnect (and stop a local instance) if this executor connected."""
        if self._started:
            require_ray().shutdown()
            self._started = False

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, num_cpus={self.num_cpus})"


def make_executor(jobs: int = 1, ray: bool = False, address: str | None = None,
                  num_cpus: int | None = None,
                  warm_up: Callable[[], Any] | None = None) -> Executor:
    """The executor for a command line's ``--jobs`` / ``--ray [ADDRESS]``: Ray if ``ray``
    (``num_cpus`` caps a local instance), else a process pool for ``jobs > 1``, else serial."""
    if ray:
        return RayExecutor(address, num_cpus, warm_up)
    return ProcessExecutor(jobs, warm_up) if jobs > 1 else SerialExecutor()


def executor_for(jobs: int, ray: str | None, warm_up: Callable[[], Any] | None = None
                 ) -> Executor:
    """The executor of a command line's ``--jobs N`` / ``--ray [ADDRESS]``: ``ray`` is None
    without ``--ray``, ``"local"`` for a local instance of ``jobs`` CPUs, else an address.
    Connects to Ray now, so that a missing Ray or a bad address fails before any run."""
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    if ray is None:
        return make_executor(jobs, warm_up=warm_up)
    local = ray == "local"
    executor = RayExecutor(None if local else ray, jobs if local else None, warm_up)
    executor.ray()
    return executor


def kernel_cache_report() -> dict[str, Any]:
    """Run a two-request simulation in this process (loading or compiling the kernel if this
    process has not yet), then report numba's cache statistics for the kernel's entry point:
    ``{"pid", "cache_hits", "cache_misses", "cache_dir"}``. A worker that loaded the kernel
    from the cache shows hits and no misses (docs/scaling.md). Picklable: run it as a task."""
    from octogym._numba_cache import CACHE_DIR
    from octogym.kernel.loop import run_batch
    from octogym.simulator import Simulation

    Simulation("recognition", "chip", n_requests=2, policy="static").run()
    stats = run_batch.stats
    return {"pid": os.getpid(), "cache_hits": sum(stats.cache_hits.values()),
            "cache_misses": sum(stats.cache_misses.values()), "cache_dir": str(CACHE_DIR)}
