"""Batch coding on a Ray cluster: the scheduler of ``omnicodec compress DIR --cluster ray``.

Each file is one Ray task that runs :func:`omnicodec.batch._run_one`, the very function
the local worker processes run, so the semantics are the batch's own (skipping, --force,
per-file failures, atomic outputs); only where the work runs differs. Without an
address (``--ray-address`` or ``RAY_ADDRESS``) a local Ray instance is started on this
machine for the run; with one, the run joins that cluster (``ray start --head`` on a
machine, or a Kubernetes operator's head service). Inputs and outputs must lie on a
filesystem every worker sees, under the same paths. Ray is an optional dependency
(``pip install 'omnicodec[ray]'``).
"""

import contextlib
import functools
import os
import socket
import subprocess
import sys

from omnicodec import batch
from omnicodec.errors import InputError

CONNECT_TIMEOUT = 3.0  # seconds a cluster's address has to accept a connection
PROBE_TIMEOUT = 10.0  # seconds a Ray driver has to join it
_PROBE = ("import sys, ray; ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False, "
          "configure_logging=False); ray.shutdown()")
DEFAULT_PORT = 6379  # a Ray head's GCS port
CLIENT_PORT = 10001  # its Ray Client server's, for ray:// addresses


def import_ray():
    """The ray module, or InputError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError("--cluster ray needs Ray, which is not installed: "
                         "pip install 'omnicodec[ray]'") from None
    return ray


def check_reachable(address):
    """InputError unless the cluster at ``address`` ("HOST:PORT", "ray://HOST:PORT" or
    "HOST") accepts a connection within CONNECT_TIMEOUT seconds and a Ray driver joins it
    within PROBE_TIMEOUT (in a child process: Ray itself would retry for a minute, and
    fill the terminal with its retries)."""
    where = address.split("://", 1)[-1]
    host, _, port = where.rpartition(":")
    if not host:
        host, port = where, CLIENT_PORT if address.startswith("ray://") else DEFAULT_PORT
    try:
        port = int(port)
    except ValueError:
        raise InputError(f"--ray-address {address}: expected HOST:PORT") from None
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise InputError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None
    try:
        probe = subprocess.run([sys.executable, "-c", _PROBE, address], capture_output=True, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        probe = None
    if probe is None or probe.returncode != 0:
        raise InputError(f"cannot reach the Ray cluster at {address}: no Ray head answered there "
                         f"within {PROBE_TIMEOUT:g} s")


def cluster_address(address=None):
    """The address to join: the one given, else RAY_ADDRESS, else None (a local instance)."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    return None if address == "local" else address


def connect(address=None, cpus_per_task=1):
    """Start or join Ray for a run (checked first: ``ray`` installed, the address
    answering); -> whether this call initialized Ray (and so shuts it down after)."""
    ray = import_ray()
    if cpus_per_task < 1:
        raise InputError(f"--task-cpus must be at least 1, not {cpus_per_task}")
    if ray.is_initialized():
        return False
    address = cluster_address(address)
    if address not in (None, "auto"):
        check_reachable(address)
    env = {name: str(cpus_per_task) for name in batch.THREAD_VARIABLES}
    if os.environ.get(batch.CRASH_SWITCH):
        env[batch.CRASH_SWITCH] = os.environ[batch.CRASH_SWITCH]
    # A task its node's memory monitor kills is retried by this count, not max_retries (and
    # without end by default): a local instance's raylet takes it from the environment.
    os.environ.setdefault("RAY_task_oom_retries", str(batch.ATTEMPTS - 1))
    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": env})
    largest = max((node["Resources"].get("CPU", 0) for node in ray.nodes() if node["Alive"]), default=0)
    if cpus_per_task > largest:
        ray.shutdown()
        raise InputError(f"--task-cpus {cpus_per_task}: no node of the Ray cluster has that many CPUs "
                         f"(the largest has {largest:g})")
    return True


@contextlib.contextmanager
def session(address=None, cpus_per_task=1):
    """Ray for a batch: joined (or started) on entry, left on exit; yields the scheduler
    for :func:`omnicodec.batch.run`. Ray prints its workers' troubles (a worker died...)
    on stdout: inside, stdout goes to stderr, so that the report stays clean."""
    with contextlib.redirect_stdout(sys.stderr):
        started = connect(address, cpus_per_task)
        try:
            yield functools.partial(run_on_ray, address=address, cpus_per_task=cpus_per_task)
        finally:
            if started:
                import_ray().shutdown()


def run_on_ray(kind, todo, options, address=None, cpus_per_task=1):
    """Scheduler (:func:`omnicodec.batch.run`): each file one Ray task of
    ``cpus_per_task`` CPUs; yields outcomes as tasks finish. A task whose worker process
    dies (killed, out of memory) is run again by Ray, batch.ATTEMPTS tries in all, and is
    then reported failed."""
    from omnicodec.sparse import engine

    ray = import_ray()
    started = connect(address, cpus_per_task)
    try:
        task = ray.remote(_task).options(num_cpus=cpus_per_task, max_retries=batch.ATTEMPTS - 1,
                                         retry_exceptions=False)
        pending = {task.remote(kind, source, output, options, engine().NAME, cpus_per_task): (source, output)
                   for source, output in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            source, output = pending.pop(done[0])
            try:
                yield ray.get(done[0])
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError) as exc:
                yield batch.died(source, output, batch.ATTEMPTS, type(exc).__name__)
            except ray.exceptions.RayError as exc:
                yield batch.Outcome(source, output, "failed", error=f"Ray: {str(exc).splitlines()[0]}")
    finally:
        if started:
            ray.shutdown()


def _task(kind, source, output, options, engine_name, threads):
    """One file in a Ray worker process: its CPU share of threads, the caller's engine."""
    batch.init_worker(threads, engine_name)
    return batch._run_one(kind, source, output, options)
