"""The one training path of every reproduction: a run config in, a run folder out.

A run folder (`<workdir>/runs/<run_id>/`) holds
* `config.json`: the `RunConfig`, exactly as run;
* `env.json`: python/keras/tensorflow versions, backend, devices, git commit;
* `init.json`: what `initialize_weights` (or `lsuv`) did to each kernel;
* `metrics.jsonl`: one line per evaluation: step, train_loss, train_error (means
  over the steps since the last evaluation; at step 0 measured on training
  batches before any update), test_loss, test_error, time (s since the run
  started);
* `final.json`: written last, `status` "completed" or "diverged", final metrics.

A run whose `final.json` exists is never redone; a folder without one (a killed
run) is cleared and run again, so an interrupted sweep resumes where it stopped.
Sweeps of many runs (in worker processes, shards or on a cluster):
`reproductions.sweeps`.

Determinism: `keras.utils.set_random_seed(config.seed)` seeds Python, numpy and
the backend; the data stream and the initial weights derive from the same seed.
Not deterministic: multi-threaded CPU reductions (oneDNN, XLA) may reorder
floating-point sums, so losses can differ in late digits between machines or
thread counts, and the difference can grow over training.
"""

import contextlib
import importlib.util
import json
import math
import pathlib
import shutil
import time

import keras

import models
from initializers import initialize_weights, lsuv, lsuv_options
from initializers.diagnostics.jsonio import append_jsonl, read_json, write_json_atomic
from reproductions import data
from reproductions.environment import environment
from reproductions.run_config import RunConfig  # re-exported: harness.RunConfig


class RunFolderConflictError(ValueError):
    """A run folder holds a finished run of a different config."""


def optimizer_of(config):
    """The Keras optimizer a `RunConfig` names (SGD, SGD with momentum, or Adam)."""
    if config.optimizer == "adam":
        return keras.optimizers.Adam(config.learning_rate)
    momentum = config.momentum if config.optimizer == "momentum" else 0.0
    return keras.optimizers.SGD(config.learning_rate, momentum=momentum)


def compile_options(config, distribute=False):
    """`jit_compile` and `steps_per_execution` for `model.compile`, as the backend allows.

    The config's values, except: TensorFlow's MirroredStrategy runs without XLA (as
    Keras's own CPU tests of it do); the torch backend takes one step per execution
    only, and its `jit_compile=True` would mean `torch.compile`, so it runs eagerly.
    Neither changes the updates, only how many run per call.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        return {"jit_compile": False, "steps_per_execution": 1}
    return {"jit_compile": config.jit_compile and not (distribute and backend == "tensorflow"),
            "steps_per_execution": config.steps_per_execution}


def _finite(value):
    return value is not None and math.isfinite(float(value))


def _metrics_record(step, train_loss, train_accuracy, test_loss, test_accuracy, seconds):
    """One metrics.jsonl line. Where a loss is not finite (diverged), that loss and
    its error are null: the argmax of NaN logits is not a classification."""
    train_ok, test_ok = _finite(train_loss), _finite(test_loss)
    return {
        "step": step,
        "train_loss": float(train_loss) if train_ok else None,
        "train_error": 1.0 - float(train_accuracy) if train_ok else None,
        "test_loss": float(test_loss) if test_ok else None,
        "test_error": 1.0 - float(test_accuracy) if test_ok else None,
        "time": seconds,
    }


def format_metric(value):
    """A loss or error in progress lines: 4 decimals, "n/a" for none (a diverged run)."""
    return "n/a" if value is None else f"{value:.4f}"


class _EvalLogger(keras.callbacks.Callback):
    """Appends one metrics line per evaluation; stops the run on a non-finite loss."""

    def __init__(self, config, metrics_path, start_time, log):
        super().__init__()
        self.config, self.metrics_path = config, metrics_path
        self.start_time, self.log = start_time, log
        self.diverged_at = None
        self.last_record = None
        self._steps_done = 0

    def on_train_batch_end(self, batch, logs=None):
        # `batch` counts steps within the epoch, in steps of steps_per_execution.
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.diverged_at is None:
            self.diverged_at = self._steps_done + batch + 1
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self._steps_done = (epoch + 1) * self.config.eval_every
        step = self.diverged_at or self._steps_done
        record = _metrics_record(step, logs.get("loss"), logs.get("accuracy"),
                                 logs.get("val_loss"), logs.get("val_accuracy"),
                                 time.perf_counter() - self.start_time)
        if record["train_loss"] is None and self.diverged_at is None:
            self.diverged_at = step
            self.model.stop_training = True
        append_jsonl(self.metrics_path, record)
        self.last_record = record
        if self.log:
            self.log(f"  {self.config.run_id}: step {step:>6}/{self.config.steps}  "
                     f"train_loss {format_metric(record['train_loss'])}  "
                     f"test_error {format_metric(record['test_error'])}  [{record['time']:.0f}s]")


def run_dir_of(config, workdir):
    return pathlib.Path(workdir) / "runs" / config.run_id


def is_finished(config, workdir):
    """Whether the run has a `final.json`; raises if its folder holds another config.

    A finished run is only reused for exactly the config that made it, so a workdir
    shared by two profiles (same run ids, other settings) cannot mix their results.
    """
    run_dir = run_dir_of(config, workdir)
    if not (run_dir / "final.json").exists():
        return False
    stored, current = read_json(run_dir / "config.json"), json.loads(json.dumps(config.to_dict()))
    # A run folder written before a field existed matches a config that leaves the field
    # at its default (e.g. `tags` in the drivers' configs: the profile's tags are filled in
    # when the folder is read back).
    defaults = json.loads(json.dumps(RunConfig.defaults()))
    for field in set(current) - set(stored):
        if field == "tags" or current[field] == defaults.get(field):
            current.pop(field)
    if stored != current:
        raise RunFolderConflictError(
            f"{run_dir} holds a finished run of a different config (another profile or "
            "changed settings). Use another --workdir, or delete that folder to rerun it. "
            f"Received: run_id={config.run_id}"
        )
    return True


@contextlib.contextmanager
def data_parallel(enabled):
    """Yields the number of replicas a run trains on; model building and compiling go
    inside. Data parallelism over every visible device with the backend's own tools:
    `tf.distribute.MirroredStrategy` (TensorFlow), `keras.distribution.DataParallel` (JAX).
    The global batch is the config's `batch_size`, split across the replicas."""
    if not enabled:
        yield 1
        return
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    elif backend == "jax":
        devices = keras.distribution.list_devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(None)
    else:
        raise ValueError("Data-parallel runs need the tensorflow or jax backend. "
                         f"Received: backend={backend!r}")


def run(config, workdir, *, verbose=1, tensorboard=False, callbacks=(), log=print, distribute=False):
    """Trains one config, writing its run folder; returns the `final.json` content.

    Args:
        config: a `RunConfig`.
        workdir: experiment folder; the run goes to `<workdir>/runs/<run_id>/`.
        verbose: 0 silent, 1 one line per evaluation (through `log`).
        tensorboard: also log the same scalars for TensorBoard (`<run>/tensorboard`).
        callbacks: extra Keras callbacks (e.g. diagnostics recorders).
        distribute: train data-parallel on every visible device (`data_parallel`); the
            global batch and so the updates stay those of one device, up to the order
            of floating-point sums. `final.json` records the number of replicas.
    """
    run_dir = run_dir_of(config, workdir)
    if is_finished(config, workdir):
        return read_json(run_dir / "final.json")
    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ValueError("tensorboard=True needs the `tensorboard` package (pip install "
                         "tensorboard). Received: tensorboard=True")
    if run_dir.exists():  # killed before finishing: start it over
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    write_json_atomic(run_dir / "config.json", config.to_dict())
    write_json_atomic(run_dir / "env.json", environment())

    start_time = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    load = dict(batch_size=config.batch_size, flatten=config.flatten, data_dir=config.data_dir)
    train = data.load(config.dataset, "train", seed=config.seed, **load)
    test = data.load(config.dataset, config.eval_split, num_examples=config.eval_examples, **load)

    with data_parallel(distribute) as replicas:
        model = models.build(config.model, **config.model_kwargs)
        lsuv_kwargs = lsuv_options(config.initializer)
        if lsuv_kwargs is None:
            records = initialize_weights(model, config.initializer, seed=config.seed,
                                         bias=config.bias_initializer)
        else:  # data-dependent (Mishkin & Matas 2016): on the run's first training batch
            images, _ = data.first_batch(train)
            records = lsuv(model, images, seed=config.seed, **lsuv_kwargs)
        write_json_atomic(run_dir / "init.json", [r.as_dict() for r in records])
        model.compile(
            optimizer=optimizer_of(config),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            **compile_options(config, distribute),
        )

        # Step 0: the initial network, on the test set and on training batches.
        eval_batches = max(1, config.eval_examples // config.batch_size)
        train_loss, train_accuracy = model.evaluate(train, steps=eval_batches, verbose=0)
        test_loss, test_accuracy = model.evaluate(test, verbose=0)
        metrics_path = run_dir / "metrics.jsonl"
        append_jsonl(metrics_path, _metrics_record(0, train_loss, train_accuracy, test_loss,
                                                   test_accuracy, time.perf_counter() - start_time))

        logger = _EvalLogger(config, metrics_path, start_time, log if verbose else None)
        all_callbacks = [logger, *callbacks]
        if tensorboard:
            all_callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
        fit_start = time.perf_counter()
        model.fit(train, epochs=config.steps // config.eval_every, steps_per_epoch=config.eval_every,
                  validation_data=test, callbacks=all_callbacks, shuffle=False, verbose=0)
        fit_seconds = time.perf_counter() - fit_start

    last = logger.last_record or {}
    steps_done = logger.diverged_at or config.steps
    final = {
        "status": "diverged" if logger.diverged_at else "completed",
        "diverged_at_step": logger.diverged_at,
        "steps_done": steps_done,
        "final": {k: last.get(k) for k in ("train_loss", "train_error", "test_loss", "test_error")},
        "wall_time_s": time.perf_counter() - start_time,
        "train_steps_per_s": steps_done / fit_seconds if fit_seconds > 0 else None,
        "replicas": replicas,
    }
    write_json_atomic(run_dir / "final.json", final)
    return final
