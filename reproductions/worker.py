"""What a sweep worker process runs: pin its threads, then train runs with the harness.

Light on purpose: a worker imports this module first (no Keras, no TensorFlow), sets
its thread counts and device, and only then imports the backend, so N workers on a
machine do not each start one thread per core.
"""

import os
import pickle
import signal
import traceback


def thread_environment(threads, base_xla_flags=""):
    """Environment variables that cap every backend of one process at `threads` threads."""
    threads = str(threads)
    environment = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                   "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1",
                   "XLA_FLAGS": base_xla_flags}
    if "intra_op_parallelism_threads" not in base_xla_flags:
        environment["XLA_FLAGS"] = (f"{base_xla_flags} --xla_cpu_multi_thread_eigen=false "
                                    f"intra_op_parallelism_threads={threads}").strip()
    return environment


def log_path(log_dir, pid):
    """The log file of the worker process `pid`."""
    return os.path.join(log_dir, f"worker-{pid}.log")


def configure(threads, gpu=None, log_dir=None):
    """Process set-up: thread counts for every backend, the worker's GPU, and the
    worker's own output in a log file.

    Args:
        threads: intra-op threads for this worker (TensorFlow, XLA/JAX, OpenMP/oneDNN).
        gpu: the `CUDA_VISIBLE_DEVICES` entry (index or UUID) of this worker's GPU (None:
            leave the devices alone).
        log_dir: folder for `worker-<pid>.log`, which receives everything the worker
            and its libraries print (TensorFlow's C++ start-up lines included), so the
            parent's terminal shows one progress bar and one line per finished run.
    """
    if log_dir is not None:
        os.makedirs(log_dir, exist_ok=True)
        log = os.open(log_path(log_dir, os.getpid()), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    os.environ.update(thread_environment(threads, os.environ.get("XLA_FLAGS", "")))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def _pin_tensorflow_threads(threads):
    import keras

    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    try:  # only possible before TensorFlow runs its first op in this process
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass


def run_group(configs, workdir, options):
    """Trains a group of runs (`RunConfig`s that share a net, with their sweep's
    `RunOptions`) in this worker as one program (`harness.run_group`); returns
    {run_id: final.json content}."""
    if "TF_NUM_INTRAOP_THREADS" in os.environ:  # set by `configure` (or by the user)
        _pin_tensorflow_threads(int(os.environ["TF_NUM_INTRAOP_THREADS"]))
    from reproductions import harness

    return harness.run_group(configs, workdir, options, verbose=0)


def serve(connection, threads, gpu=None, log_dir=None):
    """The main loop of a local pool's worker process (`reproductions.local_pool`).

    Receives `(configs, workdir, options)` tasks (a group of runs) on `connection` and
    answers each with `("done", {run_id: final})` or `("error", exception, traceback text)`; `None`, or the parent
    gone, ends it. Ctrl-C belongs to the parent, which stops the workers itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure(threads, gpu, log_dir)
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if task is None:
            return
        try:
            message = ("done", run_group(*task))
        except Exception as error:  # handed to the parent, which decides
            message = ("error", _picklable(error), traceback.format_exc())
        connection.send(message)


def _picklable(error):
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # pickle raises several types
        return RuntimeError(f"{type(error).__name__}: {error}")
