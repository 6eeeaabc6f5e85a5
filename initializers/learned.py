"""Learned initialization: GradInit (Zhu et al. 2021) and MetaInit (Dauphin & Schoenholz
2019) rescale a model's initial weights, one factor per weight tensor, by optimizing an
objective on a few batches; the directions of the weights stay as drawn.

* GradInit (Zhu, Ni, Xu, Kong, Huang & Goldstein, "GradInit: Learning to Initialize
  Neural Networks for Stable and Efficient Training", NeurIPS 2021, Algorithm 1; their
  code `zhuchen03/gradinit`): the factors minimize the loss on a second minibatch after
  one step of the training's own optimizer from the rescaled weights, subject to a bound
  gamma on that step's gradient norm.
* MetaInit (Dauphin & Schoenholz, "MetaInit: Initializing learning by learning to
  initialize", NeurIPS 2019, Algorithm 1 and their appendix code): the norms minimize
  the gradient quotient, how much the gradient changes after a step along itself.

Both run on every Keras backend (`initializers._autodiff`), on any model `stateless_call`
can run (functional, nested, subclassed, attention, recurrent), and are all-or-nothing.
"""

import dataclasses
import math
import numbers
import operator
import time

import keras
import numpy as np

from initializers import _autodiff
from initializers._base import validate_real, validate_seed
from initializers._inputs import conform_batch
from initializers._table import RecordTable
from initializers._weights import unchanged_on_error
from initializers.errors import InputMismatchError, LearnedInitError, UnsupportedModelError

# The training optimizers GradInit knows the first step of (Zhu et al. 2021, Sec. 3):
# SGD (with or without momentum: the first step of heavy-ball SGD is a plain SGD step)
# and Adam (its first step is the gradient's sign, times the learning rate).
FIRST_STEP = {"sgd": "sgd", "momentum": "sgd", "adam": "adam"}
# Variables GradInit gives a factor without a floor (the reference code's bias group).
_SHIFT_NAMES = ("bias", "beta")
METHODS = ("gradinit", "metainit")


def learned_options(identifier):
    """`(method, base initializer, keyword arguments)` an initializer identifier asks
    for, or None: how a run config names a learned initialization on top of a drawn one,
    `{"class_name": "gradinit", "config": {"base": "lecun_normal", "iterations": 50}}`
    (the harness draws `base` with `initialize_weights`, then calls the method with the
    rest of `config` and the run's training data, optimizer and learning rate)."""
    if not (isinstance(identifier, dict) and identifier.get("class_name") in METHODS):
        return None
    options = dict(identifier.get("config") or {})
    if "base" not in options:
        raise ValueError(f"A {identifier['class_name']} identifier names the initializer it starts from "
                         f"in config['base']. Received: identifier={identifier!r}")
    return identifier["class_name"], options.pop("base"), options


@dataclasses.dataclass(frozen=True)
class LearnedScaleRecord:
    """What a learned initialization did to one weight tensor.

    `factor` = norm after / norm before (1.0 where the weight was not scaled);
    `status` "learned", or why not: "not scaled: zero norm" (a bias at 0 has no
    direction to scale), "not scaled: vector" (MetaInit scales matrices and kernels only,
    as its paper does).
    """

    method: str
    layer: str
    weight: str
    shape: tuple
    norm_before: float
    factor: float
    norm: float
    status: str

    def as_dict(self):
        return dataclasses.asdict(self)


class LearnedInitRecords(RecordTable):
    """List of `LearnedScaleRecord` (one per trainable weight, in the model's order) that
    prints as a table; `history` is the objective's curve, one dict per iteration;
    `settings` the arguments used; `seconds` the wall time."""

    COLUMNS = ("layer", "weight", "shape", "norm_before", "factor", "norm", "status")

    def __init__(self, records=(), *, method="", history=(), settings=None, seconds=0.0):
        super().__init__(records)
        self.method, self.history = method, list(history)
        self.settings, self.seconds = dict(settings or {}), seconds

    def factors(self):
        """{"layer/weight": factor} of the scaled weights."""
        return {f"{r.layer}/{r.weight}": r.factor for r in self if r.status == "learned"}

    def summary(self):
        """JSON-ready: method, settings, seconds, records and history."""
        return {"method": self.method, "settings": self.settings, "seconds": self.seconds,
                "records": [r.as_dict() for r in self], "history": self.history}


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
    return operator.index(value)


def _first_step_kind(optimizer):
    """("sgd" | "adam", learning rate or None) of an optimizer name or Keras optimizer."""
    if isinstance(optimizer, str) and optimizer in FIRST_STEP:
        return FIRST_STEP[optimizer], None
    if isinstance(optimizer, keras.optimizers.SGD):
        return "sgd", float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    if isinstance(optimizer, (keras.optimizers.Adam, keras.optimizers.AdamW)):
        return "adam", float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    raise ValueError(f"`optimizer` must be one of {sorted(FIRST_STEP)} or a keras.optimizers.SGD / Adam "
                     f"instance. Received: optimizer={optimizer!r}")


class _Problem:
    """A model's trainable weights as functions of one factor per scaled weight,
    theta_i(alpha) = alpha_i * theta_i(0), and the loss of a batch at any weights,
    computed without touching the model's variables (`stateless_call`)."""

    def __init__(self, model, scaled, loss, training):
        self.model, self.loss, self.training = model, loss, training
        self.variables = list(model.trainable_variables)
        # Constants, detached from the variables (PyTorch's variables require grad).
        self.initial = [keras.ops.convert_to_tensor(keras.ops.convert_to_numpy(v.value)) for v in self.variables]
        self.non_trainable = [v.value for v in model.non_trainable_variables]
        self.scaled = scaled  # positions in self.variables
        self.size = sum(int(np.prod(v.shape)) for v in self.variables)

    def weights(self, alphas):
        values = list(self.initial)
        for j, i in enumerate(self.scaled):
            values[i] = keras.ops.cast(alphas[j], values[i].dtype) * values[i]
        return values

    def loss_at(self, weights, x, y):
        # A subclassed model's `call` need not take `training`.
        mode = {"training": self.training} if getattr(self.model, "_call_has_training_arg", True) else {}
        outputs, _ = self.model.stateless_call(weights, self.non_trainable, x, **mode)
        return self.loss(y, outputs)


def _norm_of(value):
    """A tensor's l2 norm in float64 (a float32 sum of squares overflows near 1e19)."""
    return float(np.linalg.norm(keras.ops.convert_to_numpy(value).astype(np.float64)))


def _norm(tensors, order):
    if order == 1:
        return sum(keras.ops.sum(keras.ops.abs(t)) for t in tensors)
    return keras.ops.sqrt(sum(keras.ops.sum(keras.ops.square(t)) for t in tensors))


def _check_model(model):
    if not getattr(model, "built", False):
        raise UnsupportedModelError(f"Model '{model.name}' is not built.", f"model={model.name}")
    if not any(len(v.shape) >= 2 for v in model.trainable_variables):
        raise UnsupportedModelError("The model has no trainable kernel (a weight of 2 or more "
                                    "dimensions) to rescale.", f"model={model.name}")


def _labelled(variable):
    path = getattr(variable, "path", variable.name)
    layer = path.rsplit("/", 1)[0] if "/" in path else ""
    return layer, variable.name


def _as_batches(model, data, needed, name):
    """(inputs in the model's structure, labels as a numpy array, number of examples)."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise InputMismatchError(f"`{name}` takes `data` as an (inputs, labels) pair of arrays with "
                                 "examples along the first axis.", f"data={type(data).__name__}")
    inputs, labels = data
    inputs, count = conform_batch(model, inputs)
    inputs = keras.tree.map_structure(np.asarray, inputs)
    labels = np.asarray(labels)
    if labels.shape[:1] != (count,):
        raise InputMismatchError(f"The labels hold {labels.shape[:1]} examples, the inputs {count}.",
                                 f"labels.shape={labels.shape}")
    if count < needed:
        raise InputMismatchError(f"`{name}` draws {needed} distinct examples per iteration; the data "
                                 f"hold {count}.", f"examples={count}")
    return inputs, labels, count


def _take(inputs, labels, index):
    return (keras.tree.map_structure(lambda a: keras.ops.convert_to_tensor(a[index]), inputs),
            keras.ops.convert_to_tensor(labels[index]))


def _finite(value, what, iteration):
    value = float(value)
    if not math.isfinite(value):
        raise LearnedInitError(f"The {what} is not finite ({value}); the model is left as it was.", iteration)
    return value


def _finite_gradient(gradient, what, iteration):
    gradient = keras.ops.convert_to_numpy(gradient).astype("float64")
    if not np.all(np.isfinite(gradient)):
        raise LearnedInitError(f"The {what}'s gradient is not finite; the model is left as it was.", iteration)
    return gradient


def _progress(verbose, method, iteration, iterations, fields):
    if verbose and (iteration + 1 == iterations or (iteration + 1) % max(1, iterations // 10) == 0):
        print(f"{method} {iteration + 1}/{iterations}: " + ", ".join(f"{k} {v:.4g}" for k, v in fields.items()),
              flush=True)


def _apply(model, problem, alphas, method, status_of):
    records = []
    scaled = {i: j for j, i in enumerate(problem.scaled)}
    for i, variable in enumerate(problem.variables):
        before = _norm_of(problem.initial[i])
        factor = float(alphas[scaled[i]]) if i in scaled else 1.0
        if i in scaled:
            variable.assign(keras.ops.convert_to_numpy(problem.initial[i]) * np.asarray(factor, variable.dtype))
        layer, weight = _labelled(variable)
        records.append(LearnedScaleRecord(method, layer, weight, tuple(variable.shape), before, factor,
                                          before * factor, "learned" if i in scaled else status_of(variable)))
    return records


def _default_loss(loss):
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True) if loss is None else loss


def gradinit(model, data, *, optimizer="sgd", learning_rate=None, iterations=100, batch_size=64,
             scale_learning_rate=0.01, min_scale=0.01, gradient_norm_bound=1.0, normalize_gradient=True,
             clip=1.0, loss=None, training=False, seed=None, verbose=0):
    """GradInit: learn one factor per weight tensor so that the training's first step
    helps most, and rescale the model's current weights by them, in place.

    Zhu et al. 2021, Algorithm 1. With theta(alpha) = alpha_i * theta_i(0) for every
    trainable weight with a nonzero norm, each iteration draws batches S and S' (half
    of S' is S's first half, as in the reference code) and computes the gradient
    g = grad L(S; theta(alpha)) and its norm (l2 for SGD, l1 for Adam). Then:

    * if ||g|| > gamma (`gradient_norm_bound`): one step of the alphas that lowers ||g||
      (a second derivative: d||g||/d alpha);
    * else: one step that lowers L(S'; theta(alpha) - eta A[g]) / eta, where A[g] is the
      training optimizer's first step direction: g / ||g||_2 for SGD with
      `normalize_gradient` (the reference's setting; g without it), sign(g) for Adam,
      and eta its learning rate. As in the reference code the step eta A[g] is held
      constant when differentiating (no second derivative through it).

    The alphas follow Adam on d objective / d alpha (the reference's `RescaleAdam`: the
    gradient clipped to [-clip, clip], separate first moments for the two kinds of
    step, one second moment), with alpha >= `min_scale` for kernels and gains and >= 0
    for biases.

    Example:

    >>> model = models.DeepMLP(...)                     # or any built model
    >>> initialize_weights(model, "lecun_normal", seed=0)
    >>> records = gradinit(model, (x_train[:4096], y_train[:4096]), optimizer="momentum",
    ...                    learning_rate=1e-3, seed=0)
    >>> print(records)                                # the factor learned per weight

    Args:
        model: a built Keras model whose outputs `loss` takes.
        data: `(inputs, labels)` arrays (any structure `model` takes for the inputs)
            holding at least 1.5 x `batch_size` examples; batches are drawn from them.
        optimizer: the training's optimizer: "sgd", "momentum" (first step = SGD's),
            "adam", or a `keras.optimizers.SGD` / `Adam` instance (its learning rate is
            used unless `learning_rate` is given).
        learning_rate: the training's learning rate (eta). Required with a name.
        iterations: objective steps (the reference: 390, one CIFAR-10 epoch).
        batch_size: examples in S and in S'.
        scale_learning_rate: Adam's rate on the alphas (the reference: 1e-3 to 5e-2).
        min_scale: floor on the kernels' and gains' factors (the reference: 0.01).
        gradient_norm_bound: gamma (the reference's scripts: 1.0).
        normalize_gradient: SGD's first step along g / ||g|| (the reference's scripts).
        clip: bound on |d objective / d alpha| per weight (the reference: 1.0).
        loss: `(labels, outputs) -> scalar`; default sparse categorical cross-entropy
            on logits.
        training: call the model in training mode (True: BatchNormalization on batch
            statistics, dropout on). Default False: the reference runs dropout off.
        seed: seeds the batches drawn from `data` (None: fresh draws).
        verbose: 1 prints the objective ten times along the way.

    Returns:
        `LearnedInitRecords`: one record per trainable weight; `.history` the objective
        per iteration (`objective`, `loss`, `updated_loss`, `gradient_norm`,
        `constrained`).

    Raises:
        ValueError: bad arguments; `InputMismatchError` (data that do not fit the model);
        `UnsupportedModelError` (not built, no kernel); `LearnedInitError` (the objective
        or a factor is not finite). The model is then left as it was.
    """
    settings = _gradinit_settings(optimizer, learning_rate, iterations, batch_size, scale_learning_rate,
                                  min_scale, gradient_norm_bound, normalize_gradient, clip, training, seed)
    _check_model(model)
    batches = _as_batches(model, data, 3 * (settings["batch_size"] // 2), "gradinit")
    loss = _default_loss(loss)
    start = time.perf_counter()
    with unchanged_on_error(model):
        records, history = _gradinit_steps(model, batches, loss, settings, verbose)
    return LearnedInitRecords(records, method="gradinit", history=history, settings=settings,
                              seconds=time.perf_counter() - start)


def _gradinit_settings(optimizer, learning_rate, iterations, batch_size, scale_learning_rate, min_scale,
                       gradient_norm_bound, normalize_gradient, clip, training, seed):
    """`gradinit`'s arguments checked, as its records keep them."""
    kind, optimizer_rate = _first_step_kind(optimizer)
    if learning_rate is None and optimizer_rate is None:
        raise ValueError("`learning_rate` (the training's) is required when `optimizer` is a name. "
                         "Received: learning_rate=None")
    eta = validate_real("learning_rate", optimizer_rate if learning_rate is None else learning_rate, positive=True)
    batch_size = _positive_int("batch_size", batch_size)
    if batch_size < 2:
        raise ValueError(f"`batch_size` must be at least 2 (S is two halves). Received: batch_size={batch_size}")
    return {"optimizer": kind, "learning_rate": eta, "iterations": _positive_int("iterations", iterations),
            "batch_size": 2 * (batch_size // 2),
            "scale_learning_rate": validate_real("scale_learning_rate", scale_learning_rate, positive=True),
            "min_scale": validate_real("min_scale", min_scale),
            "gradient_norm_bound": validate_real("gradient_norm_bound", gradient_norm_bound, positive=True),
            "normalize_gradient": bool(normalize_gradient), "clip": validate_real("clip", clip, positive=True),
            "training": bool(training), "seed": validate_seed(seed)}


def _gradinit_functions(problem, settings):
    """GradInit's three compiled steps: (loss on S, ||g||, the first step eta A[g]); the
    gradient norm and its gradient over the alphas (the constraint); the objective
    L(S'; theta(alpha) - eta A[g]) / eta and its gradient over the alphas."""
    kind, eta = settings["optimizer"], settings["learning_rate"]
    order = 1 if kind == "adam" else 2
    loss_and_gradient = _autodiff.value_and_grad(problem.loss_at)

    def first_step(alphas, x, y):
        value, gradient = loss_and_gradient(problem.weights(alphas), x, y)
        norm = _norm(gradient, order)
        if kind == "adam":
            step = [eta * keras.ops.sign(g) for g in gradient]
        else:
            step = [eta * g / norm for g in gradient] if settings["normalize_gradient"] else [eta * g for g in gradient]
        return value, norm, _autodiff.stop_gradient(step)

    def gradient_norm(alphas, x, y):
        return _norm(loss_and_gradient(problem.weights(alphas), x, y)[1], order)

    def updated_loss(alphas, step, x, y):
        moved = [w - s for w, s in zip(problem.weights(alphas), step)]
        return problem.loss_at(moved, x, y) / eta

    return (_autodiff.compiled(first_step), _autodiff.compiled(_autodiff.value_and_grad(gradient_norm)),
            _autodiff.compiled(_autodiff.value_and_grad(updated_loss)))


def _gradinit_steps(model, batches, loss, settings, verbose):
    """GradInit's iterations on the model (weights assigned at the end): (records, history)."""
    inputs, labels, count = batches
    half, eta = settings["batch_size"] // 2, settings["learning_rate"]
    scaled = [i for i, v in enumerate(model.trainable_variables) if _norm_of(v.value) > 0]
    problem = _Problem(model, scaled, loss, settings["training"])
    first, constraint, objective = _gradinit_functions(problem, settings)
    floors = np.array([0.0 if problem.variables[i].name in _SHIFT_NAMES else settings["min_scale"] for i in scaled])
    adam = _RescaleAdam(len(scaled), settings["scale_learning_rate"], settings["clip"], floors)
    rng = np.random.default_rng(settings["seed"])
    history = []
    for iteration in range(settings["iterations"]):
        index = rng.choice(count, 3 * half, replace=False)  # S = halves 0 and 1, S' = halves 0 and 2
        x, y = _take(inputs, labels, index[:2 * half])
        alphas = keras.ops.convert_to_tensor(adam.alpha.astype("float32"))
        value, norm, step = first(alphas, x, y)
        value = _finite(value, "GradInit loss on S", iteration)
        norm = _finite(norm, "GradInit gradient norm", iteration)
        if norm > settings["gradient_norm_bound"]:
            _, d_alpha = constraint(alphas, x, y)
            entry = {"objective": norm, "updated_loss": None, "constrained": True}
        else:
            x2, y2 = _take(inputs, labels, np.concatenate([index[:half], index[2 * half:]]))
            updated, d_alpha = objective(alphas, step, x2, y2)
            updated = _finite(updated, "GradInit objective L(S'; theta - eta A[g]) / eta", iteration)
            entry = {"objective": updated, "updated_loss": updated * eta, "constrained": False}
        adam.step(_finite_gradient(d_alpha, "GradInit objective", iteration), constrained=entry["constrained"])
        history.append({"iteration": iteration, "loss": value, "gradient_norm": norm, **entry})
        _progress(verbose, "gradinit", iteration, settings["iterations"],
                  {"loss": value, "gradient norm": norm, "objective": entry["objective"]})
    return _apply(model, problem, adam.alpha, "gradinit", lambda v: "not scaled: zero norm"), history


class _RescaleAdam:
    """Adam on the factors, as the GradInit reference's `RescaleAdam`: d alpha clipped
    to [-clip, clip]; the objective's and the constraint's steps keep separate first
    moments and step counts, and share the second moment (bias-corrected over all
    steps); alpha never goes below its floor."""

    BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8

    def __init__(self, size, learning_rate, clip, floors):
        self.alpha = np.ones(size)
        self.learning_rate, self.clip, self.floors = learning_rate, clip, floors
        self.first = {False: np.zeros(size), True: np.zeros(size)}
        self.steps = {False: 0, True: 0}
        self.second = np.zeros(size)

    def step(self, gradient, constrained):
        gradient = np.clip(gradient, -self.clip, self.clip)
        self.steps[constrained] += 1
        self.first[constrained] = self.BETA1 * self.first[constrained] + (1 - self.BETA1) * gradient
        self.second = self.BETA2 * self.second + (1 - self.BETA2) * gradient ** 2
        first = self.first[constrained] / (1 - self.BETA1 ** self.steps[constrained])
        second = self.second / (1 - self.BETA2 ** (self.steps[False] + self.steps[True]))
        self.alpha = np.maximum(self.alpha - self.learning_rate * first / (np.sqrt(second) + self.EPSILON),
                                self.floors)


def metainit(model, data=None, *, iterations=100, batch_size=32, learning_rate=0.1, momentum=0.9,
             epsilon=1e-5, min_scale=0.01, loss=None, training=False, seed=None, verbose=0):
    """MetaInit: tune the norm of every weight matrix and kernel to minimize the gradient
    quotient, and rescale the model's current weights to those norms, in place.

    Dauphin & Schoenholz 2019, Eq. 1 and Algorithm 1. With g = grad L(theta) over every
    trainable weight (N numbers) and H its Hessian, the gradient quotient is

        GQ(theta) = (1/N) * sum | (g - H g) / (g + epsilon * s) - 1 |,   s = sign(g) (+1 at 0),

    the relative change of the gradient after a step along it (g(theta - g) ~ g - H g),
    near 0 where the loss is locally close to linear. H g is the gradient of ||g||^2 / 2;
    d GQ / d norm is a third derivative, which every backend computes by autodiff. Each
    weight of 2 or more dimensions takes signSGD steps with momentum on its norm, in
    the norm's own units (the paper's code):
    v <- momentum * v - learning_rate * sign(d GQ / d norm); norm <- norm + v (floored at
    `min_scale` x the starting norm, which the paper's code does not need for its
    settings). Biases and other vectors keep their values but count in GQ.

    Example:

    >>> initialize_weights(model, "lecun_normal", seed=0)
    >>> records = metainit(model, seed=0)             # N(0, 1) inputs, random labels
    >>> print(records)

    Args:
        model: a built Keras model whose outputs `loss` takes.
        data: None (the paper's default: inputs drawn from N(0, 1) in the model's input
            shapes, labels uniform over the last output dimension), or `(inputs,
            labels)` arrays with at least `batch_size` examples to draw batches from.
        iterations: signSGD steps (the paper's code: 500 by default).
        batch_size: examples per step.
        learning_rate, momentum: of signSGD on the norms (the paper's code: 0.1, 0.9).
        epsilon: the quotient's guard against g = 0 (the paper's code: 1e-5).
        min_scale: floor on norm / starting norm.
        loss, training, seed, verbose: as for `gradinit`.

    Returns:
        `LearnedInitRecords`: one record per trainable weight; `.history` per iteration
        (`gradient_quotient`, `loss`, `gradient_norm`).

    Raises:
        as `gradinit`.
    """
    settings = _metainit_settings(iterations, batch_size, learning_rate, momentum, epsilon, min_scale,
                                  data is None, training, seed)
    _check_model(model)
    loss = _default_loss(loss)
    if data is None:
        draw = _random_batches(model, settings["batch_size"])
    else:
        inputs, labels, count = _as_batches(model, data, settings["batch_size"], "metainit")
        draw = lambda rng: _take(inputs, labels, rng.choice(count, settings["batch_size"], replace=False))  # noqa: E731
    start = time.perf_counter()
    with unchanged_on_error(model):
        records, history = _metainit_steps(model, draw, loss, settings, verbose)
    return LearnedInitRecords(records, method="metainit", history=history, settings=settings,
                              seconds=time.perf_counter() - start)


def _metainit_settings(iterations, batch_size, learning_rate, momentum, epsilon, min_scale, random_data,
                       training, seed):
    """`metainit`'s arguments checked, as its records keep them."""
    momentum = validate_real("momentum", momentum)
    if not 0 <= momentum < 1:
        raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={momentum}")
    return {"iterations": _positive_int("iterations", iterations),
            "batch_size": _positive_int("batch_size", batch_size),
            "learning_rate": validate_real("learning_rate", learning_rate, positive=True), "momentum": momentum,
            "epsilon": validate_real("epsilon", epsilon, positive=True),
            "min_scale": validate_real("min_scale", min_scale, positive=True),
            "data": "random" if random_data else "given", "training": bool(training), "seed": validate_seed(seed)}


def _quotient_function(problem, epsilon):
    """The compiled `alphas, x, y -> ((GQ, (loss, ||g||)), d GQ / d alphas)`."""
    loss_and_gradient = _autodiff.value_and_grad(problem.loss_at)

    def half_squared_gradient(weights, x, y):
        value, gradient = loss_and_gradient(weights, x, y)
        return 0.5 * sum(keras.ops.sum(keras.ops.square(g)) for g in gradient), (gradient, value)

    hessian_times_gradient = _autodiff.value_and_grad(half_squared_gradient, has_aux=True)

    def quotient(alphas, x, y):
        (half_square, (gradient, value)), products = hessian_times_gradient(problem.weights(alphas), x, y)
        total = 0.0
        for g, hg in zip(gradient, products):
            guard = keras.ops.stop_gradient(keras.ops.where(g >= 0, 1.0, -1.0)) * epsilon
            total = total + keras.ops.sum(keras.ops.abs((g - hg) / (g + guard) - 1.0))
        return total / problem.size, (value, keras.ops.sqrt(2.0 * half_square))

    return _autodiff.compiled(_autodiff.value_and_grad(quotient, has_aux=True), tensorflow_graph=False)


def _metainit_steps(model, draw, loss, settings, verbose):
    """MetaInit's iterations on the model (weights assigned at the end): (records, history)."""
    variables = model.trainable_variables
    norms = [_norm_of(v.value) for v in variables]
    scaled = [i for i, v in enumerate(variables) if len(v.shape) >= 2 and norms[i] > 0]
    problem = _Problem(model, scaled, loss, settings["training"])
    step = _quotient_function(problem, settings["epsilon"])
    initial_norms = np.array([norms[i] for i in scaled])
    norm, velocity = initial_norms.copy(), np.zeros(len(scaled))
    rng = np.random.default_rng(settings["seed"])
    history = []
    for iteration in range(settings["iterations"]):
        x, y = draw(rng)
        alphas = keras.ops.convert_to_tensor((norm / initial_norms).astype("float32"))
        (value, (batch_loss, gradient_norm)), d_alpha = step(alphas, x, y)
        value = _finite(value, "gradient quotient", iteration)
        d_alpha = _finite_gradient(d_alpha, "gradient quotient", iteration)
        # d GQ / d norm_i = (d GQ / d alpha_i) / ||theta_i(0)||: the same sign.
        velocity = settings["momentum"] * velocity - settings["learning_rate"] * np.sign(d_alpha)
        norm = np.maximum(norm + velocity, settings["min_scale"] * initial_norms)
        history.append({"iteration": iteration, "gradient_quotient": value,
                        "loss": _finite(batch_loss, "loss", iteration), "gradient_norm": float(gradient_norm)})
        _progress(verbose, "metainit", iteration, settings["iterations"],
                  {"gradient quotient": value, "loss": history[-1]["loss"]})
    status = lambda v: "not scaled: vector" if len(v.shape) < 2 else "not scaled: zero norm"  # noqa: E731
    return _apply(model, problem, norm / initial_norms, "metainit", status), history


def _random_batches(model, batch_size):
    """MetaInit's default data: N(0, 1) inputs in the model's input shapes and labels
    uniform over the last output dimension (Dauphin & Schoenholz 2019, appendix code)."""
    inputs = model.inputs if getattr(model, "inputs", None) else None
    if not inputs:
        raise UnsupportedModelError("metainit without `data` draws random inputs in the shapes of "
                                    "`model.inputs`; this model has none (subclassed): pass `data`.",
                                    f"model={model.name}")
    outputs = model.outputs
    classes = outputs[0].shape[-1] if outputs and outputs[0].shape[-1] else None
    if not classes:
        raise UnsupportedModelError("metainit without `data` needs the output's last dimension (classes).",
                                    f"model={model.name}")
    if any(None in tuple(t.shape[1:]) for t in inputs):
        raise UnsupportedModelError("metainit without `data` draws random inputs in the shapes of "
                                    "`model.inputs`; an input has an unknown dimension: pass `data`.",
                                    f"input_shapes={[tuple(t.shape) for t in inputs]}")
    structure = model._inputs_struct if isinstance(getattr(model, "_inputs_struct", None), dict) else None

    def draw(rng):
        arrays = [rng.standard_normal((batch_size, *t.shape[1:])).astype(t.dtype or "float32") for t in inputs]
        if structure is not None:
            x = dict(zip(keras.tree.flatten({k: k for k in structure}), arrays))
        else:
            x = arrays[0] if len(arrays) == 1 else arrays
        x = keras.tree.map_structure(keras.ops.convert_to_tensor, x)
        return x, keras.ops.convert_to_tensor(rng.integers(0, classes, batch_size))
    return draw
