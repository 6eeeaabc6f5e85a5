"""The local engine of a sweep: worker processes on this machine, one group of runs at a
time each (a group of runs that share a net trains as one program,
`reproductions.harness.run_group`; a group may be one run), that survive their own deaths.

A worker that dies while training (killed, a segfault, the kernel's OOM killer) is
replaced by a fresh process. A group of several runs is then split: each of its runs is
retried alone, so one run that kills its worker cannot take the others with it. A run
whose worker dies twice ends `failed`, with the exit signal and the tail of the worker's
log, and the sweep goes on without it (the way Dask, Ray or a Slurm requeue treat a lost
worker). A group whose writes fail is split the same way. Ctrl-C stops every worker at
once.

Why not `concurrent.futures.ProcessPoolExecutor`: when one of its workers dies, the
whole pool breaks and every run in flight fails with `BrokenProcessPool`, with no way to
tell whose worker died. Here each worker has its own pipe, so a death is pinned to the
run it was running, and the other workers' runs go on undisturbed.
"""

import collections
import multiprocessing
import multiprocessing.connection
import signal

from reproductions import run_folder, worker

RETRIES_AFTER_A_DEATH = 1  # a run whose worker dies is retried once, in a fresh worker
LOG_TAIL_CHARACTERS = 2000  # of the dead worker's log, kept in the failure record
STOP_TIMEOUT_S = 10  # a worker asked to stop is terminated after this long


class WorkerTraceback(Exception):
    """The traceback of an error raised in a worker process (the `__cause__` of the error
    re-raised in the parent)."""


def gpu_of_slot(slot, gpus):
    """The GPU (a `CUDA_VISIBLE_DEVICES` entry) of worker slot `slot`: one each in turn,
    and a replacement worker gets its slot's GPU (None when there are no GPUs)."""
    return gpus[slot % len(gpus)] if gpus else None


def signal_name(exitcode):
    """How a process ended, from its exit code: "SIGKILL", or "exit code 1"."""
    if exitcode is not None and exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


class _Worker:
    """One worker process, its pipe, and the group of runs it is training (None: idle)."""

    def __init__(self, context, threads, gpu, log_dir):
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=worker.serve, args=(child_end, threads, gpu, log_dir),
                                       name="sweep-worker")
        self.process.start()
        child_end.close()
        self.group, self.log_dir = None, log_dir

    def assign(self, group, workdir, options):
        self.group = group
        try:
            self.connection.send((group, workdir, options))
        except OSError:  # it died while idle: `collect` finds it dead
            pass

    def collect(self):
        """What the worker has to say about its group: `("done", {run_id: final})`,
        `("error", exception, traceback)` or `("died", exit signal, log tail)`."""
        try:
            if self.connection.poll():
                message = self.connection.recv()
                self.group = None
                return message
        except (EOFError, OSError):  # it died while answering
            pass
        self.process.join(STOP_TIMEOUT_S)
        return "died", signal_name(self.process.exitcode), self.log_tail()

    def log_tail(self):
        try:
            with open(worker.log_path(self.log_dir, self.process.pid), errors="replace") as handle:
                return handle.read()[-LOG_TAIL_CHARACTERS:]
        except OSError:
            return ""

    def ask_to_stop(self):
        try:
            self.connection.send(None)
        except OSError:  # already gone
            pass

    def stop(self, graceful):
        """Ends the process: after `ask_to_stop`, waits for it to exit (`graceful`); else, or
        if it does not exit in time, terminates it."""
        if graceful:
            self.process.join(STOP_TIMEOUT_S)
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
        self.connection.close()


def run(groups, workdir, options, *, jobs, threads, gpus=(), log_dir, log=print):
    """Trains `groups` of runs in up to `jobs` worker processes; yields `(config, outcome)` as
    runs end, where `outcome` is the run's final.json content, or a failure record
    (`run_folder.failure`) for a run whose worker died `1 + RETRIES_AFTER_A_DEATH` times
    (with "exit_signals", "attempts" and "worker_log_tail") or whose writes failed.

    Args:
        groups: lists of `RunConfig`s, each trained as one program (`sweeps.fused_groups`).
        workdir: the sweep's workdir (absolute: workers may run elsewhere).
        options: the sweep's `RunOptions` (picklable).
        jobs: worker processes.
        threads: intra-op threads per worker.
        gpus: `CUDA_VISIBLE_DEVICES` entries to share out, one per worker slot.
        log_dir: the workers' log files.
        log: where a line goes when a worker dies and its runs are retried.

    Raises:
        Whatever a group raises in its worker that is not a failure of its runs alone
        (`run_folder.failure_of_error`): the workers are stopped first, and the worker's
        traceback is the `__cause__`.
    """
    context = multiprocessing.get_context("spawn")  # TensorFlow's state must not be forked
    queue, deaths, slots = collections.deque(tuple(g) for g in groups), collections.defaultdict(list), {}
    graceful = False
    try:
        while queue or any(w.group is not None for w in slots.values()):
            for slot in range(jobs):  # a worker starts only when there is a group for it
                if queue and (slot not in slots or slots[slot].group is None):
                    if slot in slots and not slots[slot].process.is_alive():  # died while idle
                        slots.pop(slot).stop(graceful=False)
                    if slot not in slots:
                        slots[slot] = _Worker(context, threads, gpu_of_slot(slot, gpus), log_dir)
                    slots[slot].assign(queue.popleft(), workdir, options)
            busy = {slot: w for slot, w in slots.items() if w.group is not None}
            multiprocessing.connection.wait([w.connection for w in busy.values()]
                                            + [w.process.sentinel for w in busy.values()])
            for slot, busy_worker in busy.items():
                if busy_worker.connection.poll() or not busy_worker.process.is_alive():
                    yield from _outcomes(slots, slot, queue, deaths, log)
        graceful = True
    finally:  # Ctrl-C or a run's error: stop every worker at once; done: let them all exit
        if graceful:
            for each in slots.values():
                each.ask_to_stop()
        for each in slots.values():
            each.stop(graceful)


def _outcomes(slots, slot, queue, deaths, log):
    """(config, outcome) of each run of the group of the worker in `slot` once it ended;
    none where the group goes back to the front of the queue: split into runs alone after
    a death or a failed write of a group of several, or, alone, for its one retry after a
    death (a fresh worker takes the slot)."""
    busy_worker = slots[slot]
    group = busy_worker.group
    message = busy_worker.collect()
    if message[0] == "done":
        yield from ((config, message[1][config.run_id]) for config in group)
        return
    if message[0] == "error":
        failure = run_folder.failure_of_error(message[1])
        if failure is None:
            raise message[1] from WorkerTraceback(message[2])
        if len(group) > 1:
            log(f"{describe_group(group)}: a write failed ({message[1]}); retrying each run alone")
            queue.extendleft((config,) for config in reversed(group))
            return
        yield group[0], failure
        return
    _, how, tail = message
    busy_worker.stop(graceful=False)
    del slots[slot]
    for config in group:
        deaths[config.run_id].append(how)
    if len(group) > 1:
        log(f"{describe_group(group)}: their worker died ({how}); retrying each run alone in a fresh worker")
        queue.extendleft((config,) for config in reversed(group))
        return
    config = group[0]
    if len(deaths[config.run_id]) <= RETRIES_AFTER_A_DEATH:
        log(f"{config.run_id}: its worker died ({how}); retrying it in a fresh worker")
        queue.appendleft(group)
        return
    signals = deaths[config.run_id]
    yield config, run_folder.failure(f"its worker died {len(signals)} times ({', '.join(signals)})",
                                     exit_signals=list(signals), attempts=len(signals), worker_log_tail=tail)


def describe_group(group):
    return f"{group[0].run_id} and {len(group) - 1} more run(s) trained with it"
