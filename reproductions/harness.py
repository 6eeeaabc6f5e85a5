"""The one training path of every reproduction: a run config in, a run folder out.

`run(config, workdir)` builds the model, re-initializes it (`initialize_weights`, or
`lsuv` on the run's first training batch, or a drawn init rescaled by `gradinit` /
`metainit` on the run's first training batches), trains it with Keras `compile`/`fit` and
writes its run folder (files and resume rules: `reproductions.run_folder`). Sweeps of
many runs (in worker processes, shards or on a cluster): `reproductions.sweeps`.

Determinism: `keras.utils.set_random_seed(config.seed)` seeds Python, numpy and
the backend; the data stream and the initial weights derive from the same seed.
Not deterministic: multi-threaded CPU reductions (oneDNN, XLA) may reorder
floating-point sums, so losses can differ in late digits between machines or
thread counts, and the difference can grow over training.
"""

import contextlib
import importlib.util
import math
import time

import keras

import models
from initializers import gradinit, initialize_weights, learned_options, lsuv, lsuv_options, metainit, mup
from reproductions import data, run_folder
from reproductions.environment import environment
from reproductions.run_config import RunOptions


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
    only, and its `jit_compile=True` would mean `torch.compile`, so it runs eagerly; JAX
    always compiles: a config's `jit_compile=False` is a choice for TensorFlow on a CPU
    (its oneDNN kernels beat XLA's there), and JAX without it runs op by op (1.6x slower
    on the He faithful net: benchmarks/README.md#backends). None of these changes the
    updates, only how they are run.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        return {"jit_compile": False, "steps_per_execution": 1}
    if backend == "jax":
        return {"jit_compile": True, "steps_per_execution": config.steps_per_execution}
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


class _EvalLogger(keras.callbacks.Callback):
    """Appends one metrics line per evaluation; stops the run on a non-finite loss."""

    def __init__(self, config, run_dir, start_time, log):
        super().__init__()
        self.config, self.run_dir = config, run_dir
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
        run_folder.append_metrics(self.run_dir, record)
        self.last_record = record
        if self.log:
            self.log(f"  {self.config.run_id}: step {step:>6}/{self.config.steps}  "
                     f"train_loss {run_folder.format_metric(record['train_loss'])}  "
                     f"test_error {run_folder.format_metric(record['test_error'])}  [{record['time']:.0f}s]")


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


def run(config, workdir, options=RunOptions(), *, verbose=1, log=print):
    """Trains one config, writing its run folder; returns the `final.json` content.

    A finished run (its `final.json` exists, for this very config) is not redone: its
    `final.json` is returned as it is.

    Args:
        config: a `RunConfig`.
        workdir: experiment folder; the run goes to `<workdir>/runs/<run_id>/`.
        options: a `RunOptions` (TensorBoard logs, extra callbacks, data parallelism).
        verbose: 0 silent, 1 one line per evaluation (through `log`).
        log: where progress lines go.
    """
    final = run_folder.finished_final(config, workdir)
    if final is not None:
        return final
    if options.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ValueError("tensorboard=True needs the `tensorboard` package (pip install "
                         "tensorboard). Received: tensorboard=True")
    run_dir = run_folder.start(config, workdir, environment())
    start_time = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    train, test = _datasets(config)
    with data_parallel(options.distribute) as replicas:
        model, scheme = _initialized_model(config, train, run_dir)
        optimizer = optimizer_of(config)
        if scheme is not None:  # μP: each weight's learning-rate factor, recorded with its rule
            run_folder.write_mup_rules(run_dir, scheme.rules, mup.optimizer_kind(optimizer))
            optimizer = scheme.optimizer(optimizer)
        model.compile(optimizer=optimizer,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                      **compile_options(config, options.distribute))
        _evaluate_initial(model, config, train, test, run_dir, start_time)
        logger = _EvalLogger(config, run_dir, start_time, log if verbose else None)
        callbacks = [logger, *options.callbacks(config)]
        if options.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
        fit_start = time.perf_counter()
        model.fit(train, epochs=config.steps // config.eval_every, steps_per_epoch=config.eval_every,
                  validation_data=test, callbacks=callbacks, shuffle=False, verbose=0)
        fit_seconds = time.perf_counter() - fit_start
    final = _final_record(config, logger, time.perf_counter() - start_time, fit_seconds, replicas)
    run_folder.write_final(run_dir, final)
    return final


def _datasets(config):
    """The run's training stream and its fixed evaluation set."""
    test = data.load(config.dataset, config.eval_split, num_examples=config.eval_examples,
                     batch_size=config.batch_size, flatten=config.flatten, data_dir=config.data_dir)
    return training_stream(config), test


def training_stream(config):
    """The run's training stream: the batches its updates see, in order."""
    return data.load(config.dataset, "train", seed=config.seed, batch_size=config.batch_size,
                     flatten=config.flatten, data_dir=config.data_dir)


def _initialized_model(config, train, run_dir):
    """The config's model, re-initialized as the config says, and its `mup.MuP` (None
    under the standard parametrization); `init.json` records how."""
    model = models.build(config.model, **config.model_kwargs)
    if config.parametrization is not None:
        settings = config.parametrization
        base_shapes = mup.BaseShapes.from_models(models.build(config.model, **settings["base_model_kwargs"]),
                                                 models.build(config.model, **settings["delta_model_kwargs"]))
        scheme = mup.MuP(model, base_shapes, readout=settings["readout"])
        run_folder.write_init(run_dir, scheme.initialize(config.initializer, seed=config.seed))
        return model, scheme
    if config.initializer is None:  # the builder's own initializers (set in model_kwargs)
        run_folder.write_init(run_dir, [])
        return model, None
    learned = learned_options(config.initializer)
    if learned is not None:
        records = _learned_init(model, config, train, run_dir, *learned)
        run_folder.write_init(run_dir, records)
        return model, None
    lsuv_kwargs = lsuv_options(config.initializer)
    if lsuv_kwargs is None:
        records = initialize_weights(model, config.initializer, seed=config.seed,
                                     bias=config.bias_initializer)
    else:  # data-dependent (Mishkin & Matas 2016): on the run's first training batch
        images, _ = data.first_batch(train)
        records = lsuv(model, images, seed=config.seed, **lsuv_kwargs)
    run_folder.write_init(run_dir, records)
    return model, None


def _learned_init(model, config, train, run_dir, method, base, options):
    """Draws `base`, then rescales it by GradInit (with the run's optimizer and learning
    rate) or MetaInit, on the run's first `pool_batches` training batches (MetaInit with
    `data="random"`: on N(0, 1) inputs and random labels, as its paper); the learned
    factors and the objective's curve go to `learned_init.json`. Returns every record."""
    options = dict(options)
    pool_batches = options.pop("pool_batches", 64)
    source = options.pop("data", "train")
    records = list(initialize_weights(model, base, seed=config.seed, bias=config.bias_initializer))
    pool = data.first_batches(train, pool_batches)
    if method == "gradinit":  # S and S' as large as the training's batches, as the reference's
        options.setdefault("batch_size", config.batch_size)
        learned = gradinit(model, pool, optimizer=config.optimizer, learning_rate=config.learning_rate,
                           seed=config.seed, **options)
    else:
        learned = metainit(model, None if source == "random" else pool, seed=config.seed, **options)
    run_folder.write_learned_init(run_dir, learned.summary())
    return records + list(learned)


def _evaluate_initial(model, config, train, test, run_dir, start_time):
    """Step 0: the initial network, on the test set and on training batches."""
    eval_batches = max(1, config.eval_examples // config.batch_size)
    train_loss, train_accuracy = model.evaluate(train, steps=eval_batches, verbose=0)
    test_loss, test_accuracy = model.evaluate(test, verbose=0)
    run_folder.append_metrics(run_dir, _metrics_record(0, train_loss, train_accuracy, test_loss,
                                                       test_accuracy, time.perf_counter() - start_time))


def _final_record(config, logger, wall_seconds, fit_seconds, replicas):
    """`final.json`'s content: status, final metrics, wall time, steps/s, replicas."""
    last = logger.last_record or {}
    steps_done = logger.diverged_at or config.steps
    return {
        "status": "diverged" if logger.diverged_at else "completed",
        "diverged_at_step": logger.diverged_at,
        "steps_done": steps_done,
        "final": {k: last.get(k) for k in ("train_loss", "train_error", "test_loss", "test_error")},
        "wall_time_s": wall_seconds,
        "train_steps_per_s": steps_done / fit_seconds if fit_seconds > 0 else None,
        "replicas": replicas,
    }
