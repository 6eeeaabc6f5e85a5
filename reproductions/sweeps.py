"""Running a sweep of independent runs: in this process, in N worker processes on this
machine, one shard of it (scheduler array jobs), or as tasks on a Dask cluster.

Every way keeps the run folder's rules (`reproductions.run_folder`): a run whose
`final.json` exists is never redone, a run folder without one (a killed or failed run)
is redone, a damaged one is set aside and redone, each run is handed to exactly one
worker, and a run's results depend on its config and seed only (not on `jobs`, up to
the order of floating-point sums in multi-threaded kernels).

Faults cost one run, never the sweep: a worker that dies is replaced and its run
retried once (`reproductions.local_pool`; Dask does the same for its workers), a run
whose worker dies twice or whose writes fail ends `failed` (`failed.json` says why) and
the sweep goes on; the summary names the failed runs, and rerunning the same command
retries exactly those. A workdir that cannot be written stops the sweep before any run.
"""

import concurrent.futures
import os
import pathlib
import pickle
import re
import shutil
import subprocess
import sys

from reproductions import local_pool, run_folder, worker
from reproductions.run_config import RunOptions


class Shard:
    """Run `index` of every `count` runs of a sweep: `Shard.parse("0/4")` is runs 0, 4, 8, ...

    Shards 0..N-1 are disjoint and together the whole sweep (runs in the order of
    configs x seeds), so N array-job tasks (`--shard $SLURM_ARRAY_TASK_ID/N`) sharing
    one workdir run the sweep once.
    """

    def __init__(self, index, count):
        if not (isinstance(count, int) and count >= 1 and isinstance(index, int) and 0 <= index < count):
            raise ValueError(f"A shard is K/N with 0 <= K < N. Received: shard={index}/{count}")
        self.index, self.count = index, count

    @classmethod
    def parse(cls, text):
        found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
        if not found:
            raise ValueError(f"A shard is written K/N, e.g. 0/4. Received: shard={text!r}")
        return cls(int(found.group(1)), int(found.group(2)))

    def select(self, runs):
        return [run for position, run in enumerate(runs) if position % self.count == self.index]

    def __str__(self):
        return f"{self.index}/{self.count}"


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def visible_gpu_ids():
    """The NVIDIA GPUs this process may use, as `CUDA_VISIBLE_DEVICES` entries (indices or
    UUIDs), without importing a backend: that variable's list where it is set (CUDA
    stops at the first invalid entry, e.g. -1), else every GPU `nvidia-smi -L` lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = []
        for entry in (d.strip() for d in visible.split(",")):
            if entry in ("", "-1"):
                break
            ids.append(entry)
        return ids
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(index) for index, line in enumerate(
        line for line in listing.stdout.splitlines() if line.startswith("GPU "))]


def visible_gpus():
    """Number of NVIDIA GPUs this process may use (`visible_gpu_ids`)."""
    return len(visible_gpu_ids())


def default_jobs():
    """Worker processes a sweep uses by default: one per GPU if there are GPUs, else one
    per usable CPU core, each with one thread.

    Why: the drivers' nets are small, so one process cannot keep the cores busy; on 2
    cores, two one-thread workers trained the He 30-layer net at 1.33x the steps/s of
    one two-thread process (benchmarks/README.md). One run per GPU keeps runs from
    competing for a device's memory.
    """
    return visible_gpus() or usable_cores()


def plan(configs, seeds, shard=None):
    """The sweep's runs, configs x seeds, or one shard of them."""
    runs = [config.replace(seed=seed) for config in configs for seed in seeds]
    return shard.select(runs) if shard is not None else runs


def sweep(configs, seeds, workdir, *, jobs=1, shard=None, executor=None, verbose=1,
          options=RunOptions()):
    """Runs every config for every seed (or one shard), skipping runs already finished.

    Args:
        configs: `RunConfig`s (their own `seed` is replaced by each of `seeds`).
        seeds: ints.
        workdir: experiment folder shared by all runs (and by all shards and workers).
        jobs: worker processes on this machine (1: in this process, with one line per
            evaluation; see `default_jobs` for the drivers' default).
        shard: a `Shard` (or "K/N"): run only that part of the sweep.
        executor: a `concurrent.futures.Executor`-like object with `submit` (e.g. a
            `dask.distributed.Client`) to run each run as one task there; `jobs` is
            then ignored. See `dask_executor`.
        verbose: 0 silent; 1 a progress bar over runs, one line per ended run and a
            summary of the failed ones.
        options: a `RunOptions` for every run (TensorBoard, extra callbacks, data
            parallelism); with workers or an executor its `callbacks_for` must be
            picklable (see `driver.FixedBatchCallbacks`).

    Returns:
        Dict run_id -> final.json content, or the failure record (`{"status": "failed",
        "reason", ...}`, also written to the run's `failed.json`) of a run that failed,
        for the runs of this sweep (or shard).

    Raises:
        run_folder.WorkdirNotWritableError: before any run, when `workdir` cannot be written.
    """
    from tqdm import tqdm

    if isinstance(shard, str):
        shard = Shard.parse(shard)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"`jobs` must be a positive int. Received: jobs={jobs!r}")
    run_folder.check_writable(workdir)
    runs = plan(configs, seeds, shard)
    finals = {config.run_id: run_folder.finished_final(config, workdir) for config in runs}
    results = {run_id: final for run_id, final in finals.items() if final is not None}
    pending = [config for config in runs if config.run_id not in results]
    bar = tqdm(total=len(runs), initial=len(results), desc="sweep", unit="run",
               disable=not verbose, file=sys.stderr)
    if verbose and results:
        bar.write(f"{len(results)} of {len(runs)} runs already finished, skipped")
    if executor is None and (jobs == 1 or len(pending) <= 1):
        ended = _run_here(pending, workdir, options, verbose, bar)
    else:
        _check_picklable(options)
        ended = _run_elsewhere(pending, workdir, jobs, executor, options,
                               bar.write if verbose else (lambda text: None))
    try:
        for config, outcome in ended:
            if outcome["status"] == "failed":
                run_folder.record_failure(config, workdir, outcome)
            results[config.run_id] = outcome
            bar.update()
            if verbose:
                bar.write(run_folder.summary_line(config, outcome))
    finally:
        bar.close()
    if verbose:
        print(failure_summary(results), file=sys.stderr, end="")
    return results


def failed_runs(results):
    """The run ids of a sweep's results that failed."""
    return [run_id for run_id, outcome in results.items() if outcome["status"] == "failed"]


def failure_summary(results):
    """Lines on the failed runs of a sweep's results, and how to retry them ("" if none)."""
    failed = failed_runs(results)
    if not failed:
        return ""
    lines = [f"{len(failed)} of {len(results)} runs failed:"]
    lines += [f"  {run_id}: {results[run_id]['reason']}" for run_id in failed]
    lines.append("Their folders hold failed.json (the reason, and a dead worker's log tail). Rerun "
                 "the same command to retry exactly these runs; --plot-only draws from the finished ones.")
    return "\n".join(lines) + "\n"


def _run_here(pending, workdir, options, verbose, bar):
    """Yields (config, outcome) for each run, trained one after the other in this process."""
    from reproductions import harness  # Keras: only where runs train in this process

    for config in pending:
        bar.set_postfix_str(config.run_id)
        try:
            final = harness.run(config, workdir, options, verbose=verbose, log=bar.write)
        except OSError as error:  # this run's writes failed: recorded, the sweep goes on
            final = run_folder.failure_of_error(error)
        yield config, final


def _check_picklable(options):
    try:
        pickle.dumps(options)
    except Exception as error:  # pickle raises several types
        raise ValueError("With several workers or an executor, `callbacks_for` must be picklable "
                         "(a module-level function or an object such as driver.FixedBatchCallbacks). "
                         f"Received: callbacks_for={options.callbacks_for!r} ({error})") from None


def _run_elsewhere(pending, workdir, jobs, executor, options, log):
    """Yields (config, outcome) as runs end, in worker processes or on `executor`."""
    workdir = str(pathlib.Path(workdir).resolve())
    if executor is None:
        yield from local_pool.run(pending, workdir, options, jobs=jobs, threads=max(1, usable_cores() // jobs),
                                  gpus=visible_gpu_ids(), log_dir=os.path.join(workdir, "logs"), log=log)
        return
    futures = {executor.submit(worker.run_one, config, workdir, options, **_resources(executor)): config
               for config in pending}
    for future in _as_completed(executor, futures):
        try:
            yield futures[future], future.result()
        except Exception as error:  # a run's own failure is recorded; anything else stops the sweep
            failure = _dask_failure(error) or run_folder.failure_of_error(error)
            if failure is None:
                raise
            yield futures[future], failure


def _dask_failure(error):
    """The failure record of a Dask task whose workers kept dying (`KilledWorker`)."""
    if type(error).__name__ != "KilledWorker":
        return None
    return run_folder.failure(f"its Dask workers died (KilledWorker: {error})")


def _as_completed(executor, futures):
    """`as_completed` of the executor's own kind (Dask futures are not concurrent ones)."""
    module = type(executor).__module__.split(".")[0]
    if module == "distributed":
        from distributed import as_completed

        return as_completed(list(futures))
    return concurrent.futures.as_completed(futures)


def _resources(executor):
    """Per-task resources for a Dask client: one GPU per run where workers have GPUs."""
    if type(executor).__module__.split(".")[0] != "distributed":
        return {}
    workers = executor.scheduler_info().get("workers", {}).values()
    has_gpus = any(w.get("resources", {}).get("GPU") for w in workers)
    return {"resources": {"GPU": 1}} if has_gpus else {}


def dask_executor(address=None, workers=None):
    """A `dask.distributed.Client` to run a sweep on: the scheduler at `address` (a cluster
    started with `dask scheduler` / `dask worker`, or dask-jobqueue on Slurm), else a local
    cluster of `workers` processes (default: `default_jobs()`) sharing the cores.

    Each run is one task. Workers that declare a GPU resource (`dask worker ADDRESS
    --resources GPU=1`, one per GPU with `CUDA_VISIBLE_DEVICES` set) get one run each.
    A task whose worker dies is retried by the scheduler (`distributed.scheduler.
    allowed-failures`: once on a local cluster, the scheduler's own setting elsewhere),
    then recorded as failed.
    """
    try:
        from distributed import Client
    except ImportError as error:
        raise ValueError("The Dask engine needs the `distributed` package (pip install "
                         f"distributed). Received: address={address!r}") from error
    if address:
        return Client(address)
    import dask

    workers = workers or default_jobs()
    threads = max(1, usable_cores() // workers)
    # A client that starts its own local cluster also shuts it down when closed. Its
    # scheduler retries a task whose worker died as often as the local pool does.
    with dask.config.set({"distributed.scheduler.allowed-failures": local_pool.RETRIES_AFTER_A_DEATH}):
        return Client(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      env=worker.thread_environment(threads))
