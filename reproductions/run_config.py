"""`RunConfig`: everything that defines one training run, as JSON-serializable data;
`RunOptions`: how a sweep runs it (TensorBoard logs, extra callbacks, data parallelism),
which does not change what the run computes.

Light on purpose (no Keras, no TensorFlow): the config modules build their
experiments from it, and tests and tools read run folders with it, without
starting a backend.
"""

import dataclasses
import json

from reproductions import data

OPTIMIZERS = ("sgd", "momentum", "adam")
# What may differ between the runs of one fused group (`reproductions.harness.run_group`):
# each draws its own initial weights under its own seed, reads its own data stream (runs of
# one seed share it) and trains at its own learning rate (and μP's per-weight factors).
MEMBER_FIELDS = ("name", "label", "tags", "seed", "learning_rate", "initializer", "bias_initializer",
                 "parametrization")
PARAMETRIZATION_KEYS = ("name", "base_model_kwargs", "delta_model_kwargs", "readout")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run; JSON-serializable.

    Attributes:
        name: short id of the setting (one curve), e.g. "he"; the run id is
            `<name>-seed<seed>`. Only an id: the facts a driver groups runs by
            are in `tags`, never parsed back from the name.
        label: legend text for figures.
        tags: the facts a driver groups and selects runs by, as data, e.g.
            `{"figure": "fig3", "depth": 30, "init": "he"}` (JSON values).
        model: a name in `models.BUILDERS`; `model_kwargs` are its arguments.
        initializer: any identifier `initializers.get` accepts; ours by name
            ("he_normal"), Keras's with the "keras." prefix ("keras.HeNormal"); or
            "lsuv" / `{"class_name": "lsuv", "config": {...}}` for `initializers.lsuv`
            on the run's first training batch; or `{"class_name": "gradinit" | "metainit",
            "config": {"base": <identifier>, ...}}`: `base` drawn, then rescaled by
            `initializers.gradinit` (the run's optimizer and learning rate) or `metainit`
            on the run's first `pool_batches` (64) training batches, the rest of `config`
            their arguments (MetaInit `"data": "random"`: its paper's random data); or None to keep the initializers the
            model builder was given in `model_kwargs` (different rules for different
            layers, e.g. `models.VanillaCNN`'s convolutions and its readout; `init.json`
            is then empty). The builder draws them under the run's seed
            (`keras.utils.set_random_seed`).
        bias_initializer: the constant every bias starts at (0, as in both papers),
            or an initializer identifier to draw biases from (e.g. a Gaussian of std
            sigma_b for the mean-field maps).
        dataset: a name in `reproductions.data.DATASETS`; `flatten` for MLPs.
        optimizer: "sgd", "momentum" (SGD with `momentum`) or "adam".
        learning_rate, batch_size: as usual.
        steps: training updates; `eval_every`: updates between evaluations.
        eval_examples: size of the fixed evaluation set scored at each evaluation.
        eval_split: "test" (default) or "validation" (for hyperparameter searches,
            so that the test set is not used to choose them). The metrics keep
            the names test_loss / test_error either way.
        seed: seeds data stream, initial weights and everything else.
        jit_compile: XLA-compile the training step.
        steps_per_execution: training steps per compiled call (fewer Python
            round trips); must divide `eval_every`.
        parametrization: None (the standard parametrization: `initializer` draws every
            weight, one learning rate) or μP (Yang et al. 2022, `initializers.mup`):
            `{"name": "mup", "base_model_kwargs": {...}, "delta_model_kwargs": {...},
            "readout": "zero"}`, the model builder's arguments at the base width (where
            the learning rate is meant) and at a second width (which axes grow);
            `initializer` is then the SP draw μP rescales (a fan-in rule).
    """

    name: str
    model: str
    model_kwargs: dict
    initializer: object
    label: str = ""
    bias_initializer: object = 0.0
    dataset: str = "shapeset3x2"
    flatten: bool = False
    optimizer: str = "momentum"
    momentum: float = 0.9
    learning_rate: float = 0.01
    batch_size: int = 64
    steps: int = 1000
    eval_every: int = 100
    eval_examples: int = 2000
    eval_split: str = "test"
    seed: int = 0
    jit_compile: bool = True
    steps_per_execution: int = 1
    data_dir: str | None = None
    tags: dict = dataclasses.field(default_factory=dict)
    parametrization: dict | None = None

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}. Received: optimizer={self.optimizer!r}")
        for field in ("steps", "eval_every", "batch_size", "eval_examples", "steps_per_execution"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{field}` must be a positive int. Received: {field}={value!r}")
        if self.steps % self.eval_every or self.eval_every % self.steps_per_execution:
            raise ValueError(
                "`eval_every` must divide `steps`, and `steps_per_execution` must divide "
                f"`eval_every`. Received: steps={self.steps}, eval_every={self.eval_every}, "
                f"steps_per_execution={self.steps_per_execution}"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"`learning_rate` must be positive. Received: learning_rate={self.learning_rate}")
        data.num_classes(self.dataset)  # validates the name
        if self.eval_split not in ("test", "validation"):
            raise ValueError(f"`eval_split` must be 'test' or 'validation'. Received: eval_split={self.eval_split!r}")
        if not isinstance(self.tags, dict) or not all(isinstance(k, str) for k in self.tags):
            raise ValueError(f"`tags` must be a dict with str keys. Received: tags={self.tags!r}")
        if self.parametrization is not None and (
                not isinstance(self.parametrization, dict) or self.parametrization.get("name") != "mup"
                or set(self.parametrization) != set(PARAMETRIZATION_KEYS)):
            raise ValueError(f"`parametrization` must be None or a dict with keys {PARAMETRIZATION_KEYS} "
                             f"and name 'mup'. Received: parametrization={self.parametrization!r}")

    @property
    def run_id(self):
        return f"{self.name}-seed{self.seed}"

    def to_dict(self):
        return dataclasses.asdict(self)

    def fusion_key(self):
        """What the runs of one fused group share: every field but `MEMBER_FIELDS` (the same
        architecture, data pipeline, optimizer kind and schedule), as a string."""
        return json.dumps({k: v for k, v in self.to_dict().items() if k not in MEMBER_FIELDS}, sort_keys=True)

    @classmethod
    def defaults(cls):
        """{field: default} of every field that has a default."""
        return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}

    @classmethod
    def from_dict(cls, config):
        return cls(**config)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How the runs of a sweep are run: one object, handed from the driver's command line
    through `sweeps.sweep` and the worker processes to `harness.run`. Picklable when
    `callbacks_for` is (a module-level function, or e.g. `driver.FixedBatchCallbacks`).

    Attributes:
        tensorboard: also log the same scalars for TensorBoard (`<run>/tensorboard`).
        callbacks_for: optional `config -> list of extra Keras callbacks` (e.g.
            diagnostics recorders), called where the run trains.
        distribute: train each run data-parallel on every device its process sees
            (`harness.data_parallel`); the global batch and so the updates stay those
            of one device, up to the order of floating-point sums.
    """

    tensorboard: bool = False
    callbacks_for: object = None
    distribute: bool = False

    def callbacks(self, config):
        """The extra callbacks of one run."""
        return list(self.callbacks_for(config)) if self.callbacks_for else []
