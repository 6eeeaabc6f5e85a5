"""The local engine of a sweep: worker processes on this machine, one run at a time each,
that survive their own deaths.

A worker that dies while training a run (killed, a segfault, the kernel's OOM killer) is
replaced by a fresh process and its run is retried there once; a run whose worker dies
twice ends `failed`, with the exit signal and the tail of the worker's log, and the
sweep goes on without it (the way Dask, Ray or a Slurm requeue treat a lost worker).
Ctrl-C stops every worker at once.

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
    """One worker process, its pipe, and the run it is training (None: idle)."""

    def __init__(self, context, threads, gpu, log_dir):
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=worker.serve, args=(child_end, threads, gpu, log_dir),
                                       name="sweep-worker")
        self.process.start()
        child_end.close()
        self.config, self.log_dir = None, log_dir

    def assign(self, config, workdir, options):
        self.config = config
        try:
            self.connection.send((config, workdir, options))
        except OSError:  # it died while idle: `collect` finds it dead
            pass

    def collect(self):
        """What the worker has to say about its run: `("done", final)`, `("error",
        exception, traceback)` or `("died", exit signal, log tail)`."""
        try:
            if self.connection.poll():
                message = self.connection.recv()
                self.config = None
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


def run(pending, workdir, options, *, jobs, threads, gpus=(), log_dir, log=print):
    """Trains `pending` runs in up to `jobs` worker processes; yields `(config, outcome)` as
    runs end, where `outcome` is the run's final.json content, or a failure record
    (`run_folder.failure`) for a run whose worker died `1 + RETRIES_AFTER_A_DEATH` times
    (with "exit_signals", "attempts" and "worker_log_tail") or whose writes failed.

    Args:
        pending: `RunConfig`s.
        workdir: the sweep's workdir (absolute: workers may run elsewhere).
        options: the sweep's `RunOptions` (picklable).
        jobs: worker processes.
        threads: intra-op threads per worker.
        gpus: `CUDA_VISIBLE_DEVICES` entries to share out, one per worker slot.
        log_dir: the workers' log files.
        log: where a line goes when a worker dies and its run is retried.

    Raises:
        Whatever a run raises in its worker that is not a failure of that run alone
        (`run_folder.failure_of_error`): the workers are stopped first, and the worker's
        traceback is the `__cause__`.
    """
    context = multiprocessing.get_context("spawn")  # TensorFlow's state must not be forked
    queue, deaths, slots = collections.deque(pending), collections.defaultdict(list), {}
    graceful = False
    try:
        while queue or any(w.config is not None for w in slots.values()):
            for slot in range(min(jobs, len(pending))):
                if queue and (slot not in slots or slots[slot].config is None):
                    if slot in slots and not slots[slot].process.is_alive():  # died while idle
                        slots.pop(slot).stop(graceful=False)
                    if slot not in slots:
                        slots[slot] = _Worker(context, threads, gpu_of_slot(slot, gpus), log_dir)
                    slots[slot].assign(queue.popleft(), workdir, options)
            busy = {slot: w for slot, w in slots.items() if w.config is not None}
            multiprocessing.connection.wait([w.connection for w in busy.values()]
                                            + [w.process.sentinel for w in busy.values()])
            for slot, busy_worker in busy.items():
                if busy_worker.connection.poll() or not busy_worker.process.is_alive():
                    ended = _outcome(slots, slot, queue, deaths, log)
                    if ended is not None:
                        yield ended
        graceful = True
    finally:  # Ctrl-C or a run's error: stop every worker at once; done: let them all exit
        if graceful:
            for each in slots.values():
                each.ask_to_stop()
        for each in slots.values():
            each.stop(graceful)


def _outcome(slots, slot, queue, deaths, log):
    """(config, outcome) of the run of the worker in `slot` once it ended, or None when its
    worker died and the run goes back to the front of the queue (a fresh worker takes
    the slot)."""
    busy_worker = slots[slot]
    config = busy_worker.config
    message = busy_worker.collect()
    if message[0] == "done":
        return config, message[1]
    if message[0] == "error":
        failure = run_folder.failure_of_error(message[1])
        if failure is None:
            raise message[1] from WorkerTraceback(message[2])
        return config, failure
    _, how, tail = message
    busy_worker.stop(graceful=False)
    del slots[slot]
    deaths[config.run_id].append(how)
    if len(deaths[config.run_id]) <= RETRIES_AFTER_A_DEATH:
        log(f"{config.run_id}: its worker died ({how}); retrying it in a fresh worker")
        queue.appendleft(config)
        return None
    signals = deaths[config.run_id]
    return config, run_folder.failure(f"its worker died {len(signals)} times ({', '.join(signals)})",
                                      exit_signals=list(signals), attempts=len(signals), worker_log_tail=tail)
