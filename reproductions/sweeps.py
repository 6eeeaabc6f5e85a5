"""Running a sweep of independent runs: in this process, in N worker processes on this
machine, one shard of it (scheduler array jobs), or as tasks on a Dask cluster.

Runs that share a net (equal `RunConfig.fusion_key`: they differ only in seed, learning
rate, initializer or parametrization) train in fused groups, each group as one program
(`harness.run_group`, up to `group_size` runs); each run still writes its own folder and
gives the results it gives alone (`tests/test_fusion.py`). Workers, shards and the Dask
engine hand out groups; `group_size=1` (the drivers' `--no-fuse`) trains each run alone.

Every way keeps the run folder's rules (`reproductions.run_folder`): a run whose
`final.json` exists is never redone, a run folder without one (a killed or failed run)
is redone, a damaged one is set aside and redone, each run is handed to exactly one
worker, and a run's results depend on its config and seed only (not on `jobs`, up to
the order of floating-point sums in multi-threaded kernels).

Faults cost one run, never the sweep: a worker that dies is replaced, a group it was
training is split into its runs and each run is retried alone once
(`reproductions.local_pool`; Dask does the same for its workers), a run whose worker
dies twice or whose writes fail ends `failed` (`failed.json` says why) and the sweep
goes on; the summary names the failed runs, and rerunning the same command
retries exactly those. A workdir that cannot be written stops the sweep before any run.
"""

import collections
import concurrent.futures
import os
import pathlib
import pickle
import re
import shutil
import subprocess
import sys
import threading
import time

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


# Runs per fused group by default. A group's program grows with its runs (its compile time
# and memory too); 32 holds every run of one seed and one net of the μP quick profile (18),
# so such a group reads one data stream (benchmarks/README.md#fused-sweeps).
DEFAULT_GROUP_SIZE = 32


# A builder's keyword arguments that say how wide and how deep its net is (`run_cost`).
_WIDTH_KWARGS = ("width", "channels", "hidden_dim")
_DEPTH_KWARGS = ("depth", "blocks")


def run_cost(config):
    """A rough training cost of one run, used only to order and split fused groups:
    updates x batch x depth x width^2, the depth and width being the first of the builder's
    keyword arguments `depth`, `blocks` and `width`, `channels`, `hidden_dim` it has (1
    where it has none). Not FLOPs: enough to start a width-1,024 MLP's group before the
    width-64 ones, so that it does not finish last on one worker while the others idle."""
    kwargs = config.model_kwargs or {}

    def first_int(names):
        return next((kwargs[n] for n in names if isinstance(kwargs.get(n), int)), 1)

    return config.steps * config.batch_size * first_int(_DEPTH_KWARGS) * first_int(_WIDTH_KWARGS) ** 2


def fused_groups(runs, group_size=DEFAULT_GROUP_SIZE, jobs=1):
    """The runs as groups that train as one program each, the costliest first.

    Runs with equal fusion keys (`RunConfig.fusion_key`) may share a group; the runs of one
    seed among them read one data stream, so they are kept together: each seed's runs (in
    their order) form a block, a block larger than `group_size` is cut into near-equal
    parts, and consecutive smaller blocks are packed into groups of at most `group_size`.
    With several workers (`jobs`), the costliest group (`run_cost` summed) is halved while
    there are fewer than two groups per worker or it costs more than a worker's share of
    the whole, so that the last group to finish does not keep the other workers idle for
    long; the costliest groups come first (each worker then takes the costliest left).
    """
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"`group_size` must be a positive int. Received: group_size={group_size!r}")
    blocks = {}
    for config in runs:
        blocks.setdefault((config.fusion_key(), config.seed), []).append(config)
    by_key = {}
    for (key, _), block in blocks.items():
        count = -(-len(block) // group_size)
        by_key.setdefault(key, []).extend(block[i * len(block) // count:(i + 1) * len(block) // count]
                                          for i in range(count))
    groups = []
    for parts in by_key.values():
        current = []
        for part in parts:
            if current and len(current) + len(part) > group_size:
                groups.append(current)
                current = []
            current = current + part
        groups.append(current)

    def cost(group):
        return sum(run_cost(config) for config in group)

    total = sum(cost(group) for group in groups)
    while jobs > 1:
        splittable = [i for i, group in enumerate(groups) if len(group) > 1]
        if not splittable:
            break
        costliest = max(splittable, key=lambda i: cost(groups[i]))
        if len(groups) >= 2 * jobs and cost(groups[costliest]) * jobs <= total:
            break
        group = groups[costliest]
        groups[costliest:costliest + 1] = [group[:len(group) // 2], group[len(group) // 2:]]
    return sorted(groups, key=lambda group: (-cost(group), -len(group)))


def sweep(configs, seeds, workdir, *, jobs=1, shard=None, executor=None, verbose=1,
          options=RunOptions(), group_size=DEFAULT_GROUP_SIZE):
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
        verbose: 0 silent; 1 a progress bar over runs (moving as the runs in flight
            evaluate), one line per ended run and a summary of the failed ones.
        options: a `RunOptions` for every run (TensorBoard, extra callbacks, data
            parallelism); with workers or an executor its `callbacks_for` must be
            picklable (see `driver.FixedBatchCallbacks`).
        group_size: most runs trained as one program (`fused_groups`); 1 trains each run
            alone (and so does `options.tensorboard`: its logs are per run).

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
    groups = fused_groups(pending, 1 if options.tensorboard else group_size,
                          1 if executor is None and jobs == 1 else jobs)
    if executor is None and (jobs == 1 or len(groups) <= 1):
        ended = _run_here(groups, workdir, options, verbose, bar)
    else:
        _check_picklable(options)
        ended = _run_elsewhere(groups, workdir, jobs, executor, options,
                               bar.write if verbose else (lambda text: None))
    progress = _InFlightProgress(bar, pending, workdir) if verbose else None
    try:
        for config, outcome in ended:
            if outcome["status"] == "failed":
                run_folder.record_failure(config, workdir, outcome)
            results[config.run_id] = outcome
            if progress:
                progress.ended(config)
                bar.write(run_folder.summary_line(config, outcome))
    finally:
        if progress:
            progress.close()
        bar.close()
    if verbose:
        print(failure_summary(results), file=sys.stderr, end="")
    return results


PROGRESS_EVERY_S = 15.0  # how often the sweep's bar reads how far the runs in flight are


class _InFlightProgress:
    """Moves the sweep's bar (counted in runs) by the evaluated fraction of each run not
    ended yet (`run_folder.evaluated_fraction`, read from the run folders every
    PROGRESS_EVERY_S in a thread), so that a fused group of many runs moves the bar while it
    trains rather than all at once at its end, with any engine (the folders are shared)."""

    def __init__(self, bar, pending, workdir):
        # A run folder written before the sweep began is an interrupted run's leftover (the
        # margin: file times come from a coarser clock than time.time()).
        self.bar, self.workdir, self.since = bar, workdir, time.time() - 1.0
        self.open = {config.run_id: config for config in pending}
        self.finished = bar.n
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._poll, name="sweep-progress", daemon=True)
        self.thread.start()

    def _poll(self):
        while not self.stopped.wait(PROGRESS_EVERY_S):
            self.show()

    def show(self):
        with self.lock:
            partial = sum(run_folder.evaluated_fraction(config, self.workdir, self.since)
                          for config in self.open.values())
            self.bar.n = self.finished + round(partial, 1) if partial else self.finished
            self.bar.refresh()

    def ended(self, config):
        with self.lock:
            self.open.pop(config.run_id, None)
            self.finished += 1
        self.show()

    def close(self):
        self.stopped.set()
        self.thread.join()


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


def _run_here(groups, workdir, options, verbose, bar):
    """Yields (config, outcome) for each run, its group trained after the previous one in
    this process. A group whose writes fail is split: its runs are retried alone."""
    from reproductions import harness  # Keras: only where runs train in this process

    queue = collections.deque(groups)
    while queue:
        group = queue.popleft()
        bar.set_postfix_str(group[0].run_id if len(group) == 1 else f"{group[0].run_id} +{len(group) - 1}")
        try:
            finals = harness.run_group(group, workdir, options, verbose=verbose, log=bar.write)
        except OSError as error:  # this group's writes failed: recorded, the sweep goes on
            if len(group) > 1:
                queue.extendleft([config] for config in reversed(group))
                continue
            finals = {group[0].run_id: run_folder.failure_of_error(error)}
        for config in group:
            yield config, finals[config.run_id]


def _check_picklable(options):
    try:
        pickle.dumps(options)
    except Exception as error:  # pickle raises several types
        raise ValueError("With several workers or an executor, `callbacks_for` must be picklable "
                         "(a module-level function or an object such as driver.FixedBatchCallbacks). "
                         f"Received: callbacks_for={options.callbacks_for!r} ({error})") from None


def _run_elsewhere(groups, workdir, jobs, executor, options, log):
    """Yields (config, outcome) as runs end, their groups trained in worker processes or on
    `executor`."""
    workdir = str(pathlib.Path(workdir).resolve())
    if executor is None:
        yield from local_pool.run(groups, workdir, options, jobs=jobs, threads=max(1, usable_cores() // jobs),
                                  gpus=visible_gpu_ids(), log_dir=os.path.join(workdir, "logs"), log=log)
        return

    def submit(group):
        return executor.submit(worker.run_group, group, workdir, options, **_resources(executor))

    futures = {submit(group): group for group in groups}
    while futures:
        for future in _first_completed(executor, futures):
            group = futures.pop(future)
            try:
                finals = future.result()
            except Exception as error:  # a run's own failure is recorded; anything else stops the sweep
                failure = _dask_failure(error) or run_folder.failure_of_error(error)
                if failure is None:
                    raise
                if len(group) > 1:  # one of its runs may be the culprit: each is retried alone
                    log(f"{local_pool.describe_group(group)}: {failure['reason']}; retrying each run alone")
                    futures.update({submit([config]): [config] for config in group})
                    continue
                finals = {group[0].run_id: failure}
            for config in group:
                yield config, finals[config.run_id]


def _first_completed(executor, futures):
    """The futures that are done, once at least one is (Dask futures are not concurrent ones)."""
    module = type(executor).__module__.split(".")[0]
    if module == "distributed":
        from distributed import wait

        return wait(list(futures), return_when="FIRST_COMPLETED").done
    return concurrent.futures.wait(list(futures), return_when=concurrent.futures.FIRST_COMPLETED).done


def _dask_failure(error):
    """The failure record of a Dask task whose workers kept dying (`KilledWorker`)."""
    if type(error).__name__ != "KilledWorker":
        return None
    return run_folder.failure(f"its Dask workers died (KilledWorker: {error})")


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

    Each group of runs (`fused_groups`) is one task. Workers that declare a GPU resource
    (`dask worker ADDRESS --resources GPU=1`, one per GPU with `CUDA_VISIBLE_DEVICES` set)
    get one group each. A task whose worker dies is retried by the scheduler
    (`distributed.scheduler.allowed-failures`: once on a local cluster, the scheduler's own
    setting elsewhere); a group that still fails is split, each run retried alone, and a
    run that fails alone is recorded as failed.
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
