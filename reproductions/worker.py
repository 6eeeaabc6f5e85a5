"""What a sweep worker process runs: pin its threads, then train runs with the harness.

Light on purpose: a worker imports this module first (no Keras, no TensorFlow), sets
its thread counts and device, and only then imports the backend, so N workers on a
machine do not each start one thread per core.
"""

import os


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


def configure(threads, gpu_counter=None, gpus=(), log_dir=None):
    """Process initializer: thread counts for every backend, one GPU per worker, and
    the worker's own output in a log file.

    Args:
        threads: intra-op threads for this worker (TensorFlow, XLA/JAX, OpenMP/oneDNN).
        gpu_counter: a shared `multiprocessing.Value` handing out GPU indices.
        gpus: the `CUDA_VISIBLE_DEVICES` entries of the GPUs to share out, one per
            worker in turn (empty: leave the devices alone).
        log_dir: folder for `worker-<pid>.log`, which receives everything the worker
            and its libraries print (TensorFlow's C++ start-up lines included), so the
            parent's terminal shows one progress bar and one line per finished run.
    """
    if log_dir is not None:
        os.makedirs(log_dir, exist_ok=True)
        log = os.open(os.path.join(log_dir, f"worker-{os.getpid()}.log"),
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    os.environ.update(thread_environment(threads, os.environ.get("XLA_FLAGS", "")))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if gpus and gpu_counter is not None:
        with gpu_counter.get_lock():
            index = gpu_counter.value % len(gpus)
            gpu_counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[index]


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


def run_one(config, workdir, options):
    """Trains one run (a `RunConfig`, with its sweep's `RunOptions`) in this worker;
    returns its final.json."""
    if "TF_NUM_INTRAOP_THREADS" in os.environ:  # set by `configure` (or by the user)
        _pin_tensorflow_threads(int(os.environ["TF_NUM_INTRAOP_THREADS"]))
    from reproductions import harness

    return harness.run(config, workdir, options, verbose=0)
