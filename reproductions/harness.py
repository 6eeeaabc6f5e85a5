"""The one training path of every reproduction: a run config in, a run folder out.

`run(config, workdir)` builds the model, re-initializes it (`initialize_weights`, or
`lsuv` on the run's first training batch, or a drawn init rescaled by `gradinit` /
`metainit` on the run's first training batches), trains it with Keras `compile`/`fit` and
writes its run folder (files and resume rules: `reproductions.run_folder`).
`run_group(configs, workdir)` does the same for runs that share a net, trained together as
one program (one Keras model of their nets); `run` is a group of one, so there is one
training path. Sweeps of many runs (fused into groups, in worker processes, shards or on a
cluster): `reproductions.sweeps`.

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
import numpy as np

import models
from initializers import gradinit, initialize_weights, learned_options, lsuv, lsuv_options, metainit, mup
from reproductions import data, run_folder
from reproductions.environment import environment
from reproductions.run_config import MEMBER_FIELDS, RunOptions


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

    A group of one (`run_group`): the same training path as a fused group. A finished
    run (its `final.json` exists, for this very config) is not redone: its `final.json`
    is returned as it is.

    Args:
        config: a `RunConfig`.
        workdir: experiment folder; the run goes to `<workdir>/runs/<run_id>/`.
        options: a `RunOptions` (TensorBoard logs, extra callbacks, data parallelism).
        verbose: 0 silent, 1 one line per evaluation (through `log`).
        log: where progress lines go.
    """
    return run_group([config], workdir, options, verbose=verbose, log=log)[config.run_id]


def run_group(configs, workdir, options=RunOptions(), *, verbose=1, log=print):
    """Trains runs that share a net as one program; returns {run_id: final.json content}.

    The members (`configs`, equal `RunConfig.fusion_key`s) are trained by one Keras model whose
    outputs are the members' nets, each on its own inputs: the loss is the sum of the
    members' losses, so each member's gradient is its own, and one optimizer gives each
    member's weights that member's learning rate (`mup.with_weight_lr_multipliers`). Each
    member's weights are drawn exactly as when it runs alone (its seed set before its
    data stream, its net and its initialization, in that order), and each writes its own
    run folder, with the same files and resume rules as a run alone: a finished member
    is not retrained, and a group killed midway leaves its members unfinished, so they
    are trained again. A member whose loss becomes NaN is recorded as diverged at that
    step and the others train on (its weights are NaN from there on, and the members'
    computations do not meet: its NaN cannot reach them). `wall_time_s` and
    `train_steps_per_s` in final.json are the group's; `group_size` says how many runs
    shared them.

    Extra callbacks (`options.callbacks`, e.g. a recorder of activation statistics)
    belong to one member each and see its net as `self.model` and its metrics as
    `loss`, `accuracy`, `val_loss`, `val_accuracy`. TensorBoard logs need runs alone.

    Raises:
        ValueError: configs that cannot share a program (different fusion keys), the
            same run twice, or `tensorboard` with several runs.
    """
    configs = list(configs)
    _check_group(configs, options)
    finals = {config.run_id: run_folder.finished_final(config, workdir) for config in configs}
    pending = [config for config in configs if finals[config.run_id] is None]
    if not pending:
        return finals
    if options.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ValueError("tensorboard=True needs the `tensorboard` package (pip install "
                         "tensorboard). Received: tensorboard=True")
    environment_record = environment()
    start_time = time.perf_counter()
    shared = pending[0]  # every field but MEMBER_FIELDS is the group's
    test = data.load(shared.dataset, shared.eval_split, num_examples=shared.eval_examples,
                     batch_size=shared.batch_size, flatten=shared.flatten, data_dir=shared.data_dir)
    streams = {}  # seed -> the training stream of every member of that seed
    with data_parallel(options.distribute) as replicas:
        members = [_Member.start(index, len(pending), config, workdir, environment_record, streams)
                   for index, config in enumerate(pending)]
        stream_seeds = list(streams)
        ensemble = _Ensemble([m.model for m in members], [stream_seeds.index(m.config.seed) for m in members])
        ensemble.compile(optimizer=_group_optimizer(shared, members, ensemble),
                         loss={m.key: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for m in members},
                         metrics={m.key: _member_metrics() for m in members},
                         **compile_options(shared, options.distribute))
        for member in members:  # a member's callbacks read the step from its net's optimizer
            member.model.optimizer = ensemble.optimizer
        train = data.zip_members([streams[seed] for seed in stream_seeds], ensemble.member_streams,
                                 ensemble.member_keys)
        # Every member is scored on the same evaluation set, given once per stream input.
        test = data.zip_members([test] * len(stream_seeds), ensemble.member_streams, ensemble.member_keys)
        _evaluate_initial(ensemble, members, shared, train, test, start_time)
        logger = _GroupLogger(members, shared, start_time, log if verbose else None)
        callbacks = [logger]
        for member in members:
            callbacks += [_MemberCallback(callback, member) for callback in options.callbacks(member.config)]
        if options.tensorboard:  # a group of one (checked): Keras's callback sees the whole model
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(members[0].run_dir / "tensorboard")))
        fit_start = time.perf_counter()
        ensemble.fit(train, epochs=shared.steps // shared.eval_every, steps_per_epoch=shared.eval_every,
                     validation_data=test, callbacks=callbacks, shuffle=False, verbose=0)
        fit_seconds = time.perf_counter() - fit_start
    wall_seconds = time.perf_counter() - start_time
    for member in members:
        final = _final_record(member, shared, wall_seconds, fit_seconds, replicas, len(members))
        run_folder.write_final(member.run_dir, final)
        finals[member.config.run_id] = final
    return finals


def _check_group(configs, options):
    if not configs:
        raise ValueError("A group needs at least one run config. Received: configs=[]")
    keys = {config.fusion_key() for config in configs}
    if len(keys) > 1:
        raise ValueError("The runs of one group must share every setting but "
                         f"{', '.join(MEMBER_FIELDS)}. Received: {[c.run_id for c in configs]}")
    run_ids = [config.run_id for config in configs]
    if len(set(run_ids)) != len(run_ids):
        raise ValueError(f"A group holds each run once. Received: run_ids={run_ids}")
    if options.tensorboard and len(configs) > 1:
        raise ValueError("TensorBoard logs are written per run: with tensorboard=True, train "
                         f"each run alone. Received: {len(configs)} runs")


class _Member:
    """One run of a group: its config, run folder, net (initialized) and progress."""

    def __init__(self, index, group_size, config, run_dir, model, scheme):
        self.config, self.run_dir, self.model, self.scheme = config, run_dir, model, scheme
        self.key = f"member{index}"
        # Keras logs a one-output model's metrics by their names, else prefixed by the output.
        self._log_prefix = "" if group_size == 1 else f"{self.key}_"
        self.diverged_at = None  # the step its loss first was not finite
        self.done = False  # diverged and recorded: no more metrics lines
        self.last_record = None

    @classmethod
    def start(cls, index, group_size, config, workdir, environment_record, streams):
        """Opens the run folder and builds and initializes the net, drawing as a run alone
        does: the seed set, then the data stream, then the net."""
        run_dir = run_folder.start(config, workdir, environment_record)
        keras.utils.set_random_seed(config.seed)
        if config.seed not in streams:
            streams[config.seed] = training_stream(config)
        model, scheme = _initialized_model(config, streams[config.seed], run_dir)
        if scheme is not None:  # μP: each weight's learning-rate factor, recorded with its rule
            run_folder.write_mup_rules(run_dir, scheme.rules, _mup_kind(config))
        return cls(index, group_size, config, run_dir, model, scheme)

    def metric(self, logs, name):
        """The member's metric `name` (`loss`, `accuracy`, `val_loss`, `val_accuracy`) in
        Keras's logs (None where absent): `cross_entropy` is its loss (`_member_metrics`)."""
        prefix = "val_" if name.startswith("val_") else ""
        return (logs or {}).get(f"{prefix}{self._log_prefix}{_LOG_NAMES[name[len(prefix):]]}")

    def learning_rates(self):
        """Each trainable weight's learning rate, in `model.trainable_weights` order: the
        config's, times μP's factor of the weight. The product is rounded to float32 as
        the optimizer's own `learning_rate * factor` is, so a run's updates do not depend
        on how it was grouped."""
        rate = np.float32(self.config.learning_rate)
        if self.scheme is None:
            return [float(rate)] * len(self.model.trainable_weights)
        factors = self.scheme.lr_multipliers(_mup_kind(self.config))
        return [float(rate * np.float32(factors[v.path])) for v in self.model.trainable_weights]


class _Ensemble(keras.Model):
    """The members' nets as one Keras model: input k is stream k's batch, output
    `member<i>` is net i applied to its stream's input."""

    def __init__(self, nets, member_streams):
        super().__init__(name="fused_group")
        self.nets, self.member_streams = list(nets), list(member_streams)
        self.member_keys = [f"member{i}" for i in range(len(self.nets))]

    def call(self, inputs, training=False):
        return {key: net(inputs[stream], training=training)
                for key, net, stream in zip(self.member_keys, self.nets, self.member_streams)}


def _group_optimizer(shared, members, ensemble):
    """One optimizer of the group's kind at learning rate 1, each weight's rate given as
    its factor (`_Member.learning_rates`)."""
    variables, rates = [], []
    for member in members:
        variables += member.model.trainable_weights
        rates += member.learning_rates()
    if {id(v) for v in variables} != {id(v) for v in ensemble.trainable_weights}:
        raise RuntimeError("The group's model trains weights its members do not own.")
    return mup.with_weight_lr_multipliers(optimizer_of(shared.replace(learning_rate=1.0)), variables, rates)


def _member_metrics():
    """Each member's metrics: its loss and accuracy, as means over examples.

    The loss is a metric of its own, not Keras's loss of the output: under TensorFlow,
    Keras averages each output's loss over batches, not examples, so a short last
    evaluation batch would weigh as much as a full one; the example mean makes a run's
    numbers the same in a group of any size.
    """
    return [keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="cross_entropy"),
            keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


# The metrics.jsonl names of a member's metrics and their names in Keras's logs; the
# metrics a member's record and its callbacks see, in `_metrics_record`'s order.
_LOG_NAMES = {"loss": "cross_entropy", "accuracy": "accuracy"}
_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


class _GroupLogger(keras.callbacks.Callback):
    """Appends one metrics line per member and evaluation; a member whose loss is not
    finite is recorded as diverged (its last line), and the group stops once every
    member has diverged."""

    def __init__(self, members, shared, start_time, log):
        super().__init__()
        self.members, self.shared = members, shared
        self.start_time, self.log = start_time, log
        self._steps_done = 0

    def on_train_batch_end(self, batch, logs=None):
        # `batch` counts steps within the epoch, in steps of steps_per_execution.
        for member in self.members:
            loss = member.metric(logs, "loss")
            if member.diverged_at is None and loss is not None and not math.isfinite(float(loss)):
                member.diverged_at = self._steps_done + batch + 1
        if all(m.diverged_at is not None for m in self.members):
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self._steps_done = (epoch + 1) * self.shared.eval_every
        seconds = time.perf_counter() - self.start_time
        for member in self.members:
            if member.done:
                continue
            step = member.diverged_at or self._steps_done
            record = _metrics_record(step, *(member.metric(logs, name) for name in _METRICS), seconds)
            if record["train_loss"] is None and member.diverged_at is None:
                member.diverged_at = step
            member.done = member.diverged_at is not None
            run_folder.append_metrics(member.run_dir, record)
            member.last_record = record
            if self.log:
                self.log(f"  {member.config.run_id}: step {step:>6}/{self.shared.steps}  "
                         f"train_loss {run_folder.format_metric(record['train_loss'])}  "
                         f"test_error {run_folder.format_metric(record['test_error'])}  [{record['time']:.0f}s]")
        if all(m.done for m in self.members):
            self.model.stop_training = True


class _MemberCallback(keras.callbacks.Callback):
    """One member's extra callback inside a group: it sees the member's net as its model
    and the member's metrics under their plain names (`loss`, `val_accuracy`, ...)."""

    def __init__(self, callback, member):
        super().__init__()
        self.callback, self.member = callback, member

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(self.member.model)

    def set_params(self, params):
        super().set_params(params)
        self.callback.set_params(params)

    def _forward(self, hook, logs, *args):
        _ = self.model  # under JAX, puts the group's training state into the weights first
        if logs is not None:
            logs = {name: value for name in _METRICS if (value := self.member.metric(logs, name)) is not None}
        getattr(self.callback, hook)(*args, logs=logs)

    def on_train_begin(self, logs=None):
        self._forward("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._forward("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._forward("on_epoch_begin", logs, epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._forward("on_epoch_end", logs, epoch)

    def on_train_batch_begin(self, batch, logs=None):
        self._forward("on_train_batch_begin", logs, batch)

    def on_train_batch_end(self, batch, logs=None):
        self._forward("on_train_batch_end", logs, batch)

    def on_test_begin(self, logs=None):
        self._forward("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._forward("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._forward("on_test_batch_begin", logs, batch)

    def on_test_batch_end(self, batch, logs=None):
        self._forward("on_test_batch_end", logs, batch)


def _mup_kind(config):
    """"sgd" or "adam": the column of μP's table the config's optimizer follows."""
    return mup.optimizer_kind(optimizer_of(config))


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


def _evaluate_initial(ensemble, members, shared, train, test, start_time):
    """Step 0: each initial net, on the test set and on its first training batches."""
    eval_batches = max(1, shared.eval_examples // shared.batch_size)
    on_train = ensemble.evaluate(train, steps=eval_batches, verbose=0, return_dict=True)
    on_test = ensemble.evaluate(test, verbose=0, return_dict=True)
    seconds = time.perf_counter() - start_time
    for member in members:
        run_folder.append_metrics(member.run_dir, _metrics_record(
            0, member.metric(on_train, "loss"), member.metric(on_train, "accuracy"),
            member.metric(on_test, "loss"), member.metric(on_test, "accuracy"), seconds))


def _final_record(member, shared, wall_seconds, fit_seconds, replicas, group_size):
    """`final.json`'s content: status, final metrics, wall time, steps/s, replicas, and
    how many runs trained together (`group_size`; time and steps/s are the group's)."""
    last = member.last_record or {}
    steps_done = member.diverged_at or shared.steps
    return {
        "status": "diverged" if member.diverged_at else "completed",
        "diverged_at_step": member.diverged_at,
        "steps_done": steps_done,
        "final": {k: last.get(k) for k in ("train_loss", "train_error", "test_loss", "test_error")},
        "wall_time_s": wall_seconds,
        "train_steps_per_s": steps_done / fit_seconds if fit_seconds > 0 else None,
        "replicas": replicas,
        "group_size": group_size,
    }
