"""μP, the maximal update parametrization, for any Keras 3 model and optimizer.

Under the standard parametrization (SP: every kernel Var = c / fan_in, one learning
rate for every weight) the best learning rate moves as a model gets wider, so what is
tuned on a small model does not hold on a large one. Yang & Hu 2021 (Tensor Programs
IV, "Feature Learning in Infinite-Width Neural Networks") derive the per-layer scaling
of initialization and learning rate with width under which every layer keeps learning
features at any width (μP); Yang et al. 2022 (Tensor Programs V, "Tuning Large Neural
Networks via Zero-Shot Hyperparameter Transfer", Table 3) state it for SGD and Adam,
and show that under μP the best learning rate stays put as width grows.

The rules, relative to a **base model** (the model the hyperparameters were tuned on;
at the base width μP equals SP). With `m_in` the width multiplier of a weight's fan-in
(width / base width of its contracted axes, 1 if they do not grow) and `m_out` of its
other axes (Tensor Programs V, Table 3, in the form without output multipliers):

| weight (its axes that grow) | init variance | SGD learning rate | Adam learning rate |
|---|---|---|---|
| input (fan-out only; embeddings too) | c / fan_in (as SP) | lr * m_out | lr |
| hidden (fan-in and fan-out) | c / fan_in (as SP) | lr * m_out / m_in | lr / m_in |
| output (fan-in only) | c / (fan_in * m_in), or 0 | lr / m_in | lr / m_in |
| biases, norm scales (vectors) | as SP | lr * m_out | lr |
| nothing grows | as SP | lr | lr |

so one formula covers every weight: SGD `lr * m_out / m_in`, Adam `lr / m_in`. The
reference implementation (`microsoft/mup`, PyTorch) writes the output layer with a
`1/m_in` forward multiplier (`MuReadout`) instead; by the abc-symmetry of Tensor
Programs IV (Sec. 3: multiplier n^-a, init n^-b, lr n^-c; a -> a + t, b -> b - t,
c -> c - 2t for SGD, c - t for Adam) both give the same function and the same
updates at every width, and this form needs no custom layer: the model stays plain Keras.
The readout starts at zero by default (`readout="zero"`, as the reference repo's MLP
example and Tensor Programs V, Sec. D.2, recommend); `readout="scaled"` draws it with
the variance of the table.

Which axes grow with width is inferred, as the reference does, from two builds of the
model at two widths (the **base** and a **delta** model): an axis whose size differs
between them is a width axis, and its base size is the base model's. The weights of
the three models are matched by position (`model.weights` order), so the builder must
make the same weights in the same order at every width.

Attention: μP scales attention logits by 1/d instead of 1/sqrt(d) (Tensor Programs V,
Sec. 4 and Table 3 note). `MuP.initialize` sets Keras `MultiHeadAttention`'s logit
scale to `sqrt(d_base) / d` (equal to SP's 1/sqrt(d) at the base width). That scale is
a private attribute of the layer (`_inverse_sqrt_key_dim`, Keras 3): it is not saved in
`.keras` files, so call `MuP.scale_attention()` again after loading. Other attention
layers (`keras.layers.Attention`, KerasHub's own) are not covered.

Example:

>>> from initializers import mup
>>> build = lambda width: models.DeepMLP(1024, 9, depth=2, width=width, activation="relu")
>>> model = build(1024)
>>> parametrization = mup.MuP(model, mup.BaseShapes.from_builder(build, base_width=64))
>>> parametrization.initialize("he_normal", seed=0)   # Var 2/fan_in, readout zero
>>> model.compile(optimizer=parametrization.optimizer(keras.optimizers.SGD(0.1, momentum=0.9)),
...               loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
>>> print(parametrization.describe())                  # role and multipliers per weight
"""

import dataclasses
import json
import math

import keras

from initializers._graph import every_layer
from initializers._weights import weight_specs
from initializers.reinit import initialize_weights

# Initialization methods that keep Var proportional to 1/fan_in, as μP's input and hidden
# weights need (a fan-average or orthogonal draw of the input layer would shrink it with width).
FAN_IN_METHODS = ("lecun_normal", "lecun_uniform", "he_normal", "he_uniform", "auto")
READOUTS = ("zero", "scaled")
ROLES = ("input", "hidden", "output", "vector", "fixed")  # `WidthRule.role`
# Optimizers whose update is linear in the gradient ("sgd") or normalized entrywise ("adam"):
# the two columns of the table (Tensor Programs V, Sec. 4 and App. B).
OPTIMIZER_KINDS = {"SGD": "sgd", "Adam": "adam", "AdamW": "adam", "Adamax": "adam", "Nadam": "adam",
                   "RMSprop": "adam", "Adagrad": "adam", "Lion": "adam"}


def _fan_in_axes(model):
    """{id(variable): fan-in axes} of every kernel-like weight `initialize_weights` draws
    (kernels, recurrent kernels, embedding tables); biases and other weights are vectors."""
    axes = {}
    for layer in every_layer(model):
        for spec in weight_specs(layer) or ():
            if spec.role != "bias":
                rank = len(spec.variable.shape)
                axes[id(spec.variable)] = tuple(spec.in_axes) if spec.in_axes is not None else tuple(range(rank - 1))
    return axes


@dataclasses.dataclass(frozen=True)
class BaseShapes:
    """Which axes of each weight grow with width, and their sizes at the base width.

    Attributes:
        paths: the base model's weight paths, in `model.weights` order (for messages).
        shapes: each weight's shape in the base model.
        width_axes: each weight's axes whose size differs between base and delta model.
    """

    paths: tuple
    shapes: tuple
    width_axes: tuple

    @classmethod
    def from_models(cls, base_model, delta_model):
        """From two builds of one model at two widths (any two different widths)."""
        base, delta = base_model.weights, delta_model.weights
        if len(base) != len(delta):
            raise ValueError("The base and delta models must have the same weights. Received: "
                             f"{len(base)} and {len(delta)} weights")
        width_axes = []
        for b, d in zip(base, delta):
            if len(b.shape) != len(d.shape):
                raise ValueError(f"Weight {b.path} has rank {len(b.shape)} in the base model and "
                                 f"{len(d.shape)} in the delta model. Received: {b.shape} and {d.shape}")
            width_axes.append(tuple(i for i, (x, y) in enumerate(zip(b.shape, d.shape)) if x != y))
        if not any(width_axes):
            raise ValueError("No weight changes shape between the base and delta models: "
                             "build them at two different widths")
        return cls(tuple(v.path for v in base), tuple(tuple(v.shape) for v in base), tuple(width_axes))

    @classmethod
    def from_builder(cls, build, base_width, delta_width=None):
        """From `build(base_width)` and `build(delta_width)` (default: twice the base)."""
        return cls.from_models(build(base_width), build(delta_width or 2 * base_width))

    def to_json(self):
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text):
        fields = json.loads(text)
        return cls(tuple(fields["paths"]), tuple(tuple(s) for s in fields["shapes"]),
                   tuple(tuple(a) for a in fields["width_axes"]))


@dataclasses.dataclass(frozen=True)
class WidthRule:
    """μP's rule for one weight: its role and width multipliers (see the module table)."""

    path: str
    shape: tuple
    base_shape: tuple
    width_axes: tuple
    role: str
    fan_in_multiplier: float
    fan_out_multiplier: float

    def lr_multiplier(self, kind):
        """The factor on the optimizer's learning rate: "sgd" m_out / m_in, "adam" 1 / m_in."""
        if kind == "sgd":
            return self.fan_out_multiplier / self.fan_in_multiplier
        return 1.0 / self.fan_in_multiplier

    def init_std_multiplier(self, readout):
        """The factor on the SP draw's standard deviation: 0 or 1/sqrt(m_in) for the readout."""
        if self.role != "output":
            return 1.0
        return 0.0 if readout == "zero" else 1.0 / math.sqrt(self.fan_in_multiplier)


def width_rules(model, base_shapes):
    """One `WidthRule` per weight of `model` (in `model.weights` order)."""
    weights = model.weights
    if len(weights) != len(base_shapes.shapes):
        raise ValueError(f"The model has {len(weights)} weights, its base shapes {len(base_shapes.shapes)}: "
                         f"build both with the same builder. Received: model={model.name!r}")
    fan_in_axes = _fan_in_axes(model)
    rules = []
    for variable, base_shape, axes in zip(weights, base_shapes.shapes, base_shapes.width_axes):
        shape = tuple(variable.shape)
        if len(shape) != len(base_shape):
            raise ValueError(f"Weight {variable.path} has rank {len(shape)}, its base shape "
                             f"{len(base_shape)}. Received: {shape} and {base_shape}")
        fan_in = fan_in_axes.get(id(variable), ())
        multiplier = {axis: shape[axis] / base_shape[axis] for axis in axes}
        m_in = math.prod(multiplier[a] for a in axes if a in fan_in)
        m_out = math.prod(multiplier[a] for a in axes if a not in fan_in)
        wide_in, wide_out = any(a in fan_in for a in axes), any(a not in fan_in for a in axes)
        if id(variable) not in fan_in_axes:
            role = "vector" if axes else "fixed"
        else:
            role = {(False, True): "input", (True, True): "hidden", (True, False): "output",
                    (False, False): "fixed"}[(wide_in, wide_out)]
        rules.append(WidthRule(variable.path, shape, tuple(base_shape), tuple(axes), role,
                               float(m_in), float(m_out)))
    return rules


def optimizer_kind(optimizer):
    """"sgd" or "adam": which column of μP's table a Keras optimizer follows."""
    for cls in type(optimizer).__mro__:
        if cls.__module__.startswith("keras") and cls.__name__ in OPTIMIZER_KINDS:
            return OPTIMIZER_KINDS[cls.__name__]
    raise ValueError(f"No μP rule for this optimizer; valid: {', '.join(OPTIMIZER_KINDS)} (and their "
                     f"subclasses). Received: optimizer={type(optimizer).__name__}")


class MuP:
    """μP for one built model: its per-weight rules, initialization and optimizer.

    Args:
        model: the built model to train (any width).
        base_shapes: a `BaseShapes` of the same builder (`BaseShapes.from_builder`).
        readout: "zero" (output weights start at 0) or "scaled" (drawn with
            Var = c / (fan_in * m_in)).
    """

    def __init__(self, model, base_shapes, readout="zero"):
        if readout not in READOUTS:
            raise ValueError(f"Unknown readout; valid: {', '.join(READOUTS)}. Received: readout={readout!r}")
        self.model, self.base_shapes, self.readout = model, base_shapes, readout
        self.rules = width_rules(model, base_shapes)

    def initialize(self, method="lecun_normal", *, seed=None):
        """Draws every weight as SP would with `method` (a fan-in rule), then rescales the
        output weights (zero or 1/sqrt(m_in)) and sets attention logits to 1/d scaling.
        Returns `initialize_weights`'s records (of the SP draw)."""
        if method not in FAN_IN_METHODS:
            raise ValueError(f"μP needs Var proportional to 1/fan_in; valid methods: "
                             f"{', '.join(FAN_IN_METHODS)}. Received: method={method!r}")
        records = initialize_weights(self.model, method, seed=seed)
        for variable, rule in zip(self.model.weights, self.rules):
            factor = rule.init_std_multiplier(self.readout)
            if factor != 1.0:
                variable.assign(keras.ops.convert_to_numpy(variable) * factor)
        self.scale_attention()
        return records

    def scale_attention(self):
        """Sets every `MultiHeadAttention`'s logit scale to sqrt(d_base) / d (μP's 1/d)."""
        layers = [layer for layer in every_layer(self.model) if isinstance(layer, keras.layers.MultiHeadAttention)]
        for layer in layers:
            base_key_dim = self._base_key_dim(layer)
            layer._inverse_sqrt_key_dim = math.sqrt(base_key_dim) / layer._key_dim
        return len(layers)

    def _base_key_dim(self, layer):
        """The key dimension of `layer` at the base width: from its query kernel's rule."""
        path = layer._query_dense.kernel.path
        rule = next(r for r in self.rules if r.path == path)
        return rule.base_shape[-1]

    def lr_multipliers(self, kind):
        """{weight path: learning-rate factor} of the trainable weights, for "sgd" or "adam"."""
        if kind not in ("sgd", "adam"):
            raise ValueError(f"Unknown optimizer kind; valid: sgd, adam. Received: kind={kind!r}")
        trainable = {id(v) for v in self.model.trainable_weights}
        return {rule.path: rule.lr_multiplier(kind) for variable, rule in zip(self.model.weights, self.rules)
                if id(variable) in trainable}

    def optimizer(self, optimizer):
        """`optimizer` (a Keras optimizer, not yet used) with μP's per-weight learning rates."""
        return with_lr_multipliers(optimizer, self.lr_multipliers(optimizer_kind(optimizer)))

    def describe(self, kind="sgd"):
        """A table: each weight's role, width multipliers, init and learning-rate factors."""
        header = ("weight", "shape", "base shape", "role", "m_in", "m_out", "init std x", f"{kind} lr x")
        rows = [(r.path, str(r.shape), str(r.base_shape), r.role, f"{r.fan_in_multiplier:g}",
                 f"{r.fan_out_multiplier:g}", f"{r.init_std_multiplier(self.readout):.4g}",
                 f"{r.lr_multiplier(kind):.4g}") for r in self.rules]
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


class _LearningRateMultipliers:
    """Mixin: a Keras optimizer whose learning rate is multiplied per weight.

    The multipliers are keyed by weight path (`variable.path`). Each group of weights with
    the same multiplier goes through the optimizer's own (backend-specific) update with
    `learning_rate * multiplier`, so the update is exactly that optimizer's with a
    per-weight learning rate, on every backend (torch's fused updates included).
    Weight decay (`weight_decay=`, AdamW's too) is applied by Keras with the unscaled rate.
    """

    def __init__(self, *args, lr_multipliers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lr_multipliers = {str(k): float(v) for k, v in (lr_multipliers or {}).items()}
        for path, value in self.lr_multipliers.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"Learning-rate multipliers must be positive. Received: {path}={value}")
        self._multiplier_of_index = None
        self._multiplier_of_variable = None  # {id(variable): factor}: `with_weight_lr_multipliers`

    def build(self, variables):
        super().build(variables)
        if self._multiplier_of_variable is not None:
            missing = [v.path for v in variables if id(v) not in self._multiplier_of_variable]
            if missing or len(variables) != len(self._multiplier_of_variable):
                raise ValueError("The multipliers must name exactly the weights the optimizer trains. "
                                 f"Received: multipliers for {len(self._multiplier_of_variable)} weights, "
                                 f"{len(variables)} trained" + (f", none for {', '.join(missing)}" if missing else ""))
            self._multiplier_of_index = [self._multiplier_of_variable[id(v)] for v in variables]
            return
        paths = [v.path for v in variables]
        unknown = sorted(set(self.lr_multipliers) - set(paths))
        if unknown:
            raise ValueError(f"Learning-rate multipliers name weights the model does not train: "
                             f"{', '.join(unknown)}; trainable: {', '.join(paths)}")
        self._multiplier_of_index = [self.lr_multipliers.get(path, 1.0) for path in paths]

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        groups = {}
        for grad, variable in zip(grads, trainable_variables):
            multiplier = self._multiplier_of_index[self._get_variable_index(variable)]
            group = groups.setdefault(multiplier, ([], []))
            group[0].append(grad)
            group[1].append(variable)
        for multiplier, (group_grads, group_variables) in groups.items():
            rate = learning_rate if multiplier == 1.0 else learning_rate * multiplier
            super()._backend_update_step(group_grads, group_variables, rate)

    def get_config(self):
        return {**super().get_config(), "lr_multipliers": dict(self.lr_multipliers)}


@keras.saving.register_keras_serializable(package="initializers")
class MuSGD(_LearningRateMultipliers, keras.optimizers.SGD):
    """`keras.optimizers.SGD` (with or without momentum) with per-weight learning-rate
    multipliers (`lr_multipliers={path: factor}`), e.g. μP's (`MuP.optimizer`)."""


@keras.saving.register_keras_serializable(package="initializers")
class MuAdam(_LearningRateMultipliers, keras.optimizers.Adam):
    """`keras.optimizers.Adam` with per-weight learning-rate multipliers."""


@keras.saving.register_keras_serializable(package="initializers")
class MuAdamW(_LearningRateMultipliers, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with per-weight learning-rate multipliers (the weight
    decay keeps the unscaled rate)."""


_REGISTERED = {keras.optimizers.SGD: MuSGD, keras.optimizers.Adam: MuAdam, keras.optimizers.AdamW: MuAdamW}


def with_lr_multipliers(optimizer, lr_multipliers):
    """A new optimizer like `optimizer` (same config) whose learning rate is multiplied per
    weight by `lr_multipliers` ({weight path: factor}; unnamed weights: 1).

    SGD, Adam and AdamW become `MuSGD`, `MuAdam`, `MuAdamW` (saved with the model);
    any other Keras optimizer gets a subclass made on the fly, which trains the same but
    cannot be reloaded from a `.keras` file.
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(f"Expected a Keras optimizer. Received: optimizer={optimizer!r}")
    if getattr(optimizer, "built", False):
        raise ValueError("The optimizer has already been built (used); pass a fresh one. "
                         f"Received: optimizer={optimizer.name!r}")
    cls = type(optimizer)
    if isinstance(optimizer, _LearningRateMultipliers):
        config = {**optimizer.get_config(), "lr_multipliers": lr_multipliers}
        return cls.from_config(config)
    wrapped = _REGISTERED.get(cls) or type(f"Mu{cls.__name__}", (_LearningRateMultipliers, cls), {})
    return wrapped.from_config({**optimizer.get_config(), "lr_multipliers": lr_multipliers})


def with_weight_lr_multipliers(optimizer, variables, multipliers):
    """Like `with_lr_multipliers`, keyed by the weights themselves: `multipliers[i]` is the
    learning-rate factor of `variables[i]`, which must be exactly the weights the optimizer
    will train. For models whose weight paths repeat, e.g. several copies of one net
    trained as one model (`reproductions.harness` trains a fused group of runs so, each
    run with its own learning rate). Trains as `with_lr_multipliers` does; its
    `get_config` cannot hold the weights, so it is not saved with a model.
    """
    variables, multipliers = list(variables), [float(m) for m in multipliers]
    if len(variables) != len(multipliers):
        raise ValueError(f"One multiplier per weight. Received: {len(variables)} weights, "
                         f"{len(multipliers)} multipliers")
    for variable, value in zip(variables, multipliers):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"Learning-rate multipliers must be positive. Received: {variable.path}={value}")
    wrapped = with_lr_multipliers(optimizer, {})
    wrapped._multiplier_of_variable = {id(v): m for v, m in zip(variables, multipliers)}
    return wrapped
