"""`method="auto"`: the weight variance for any activation, from mean-field theory.

For a layer z = W phi(x) with W_ij ~ N(0, sigma_w^2 / fan_in), in the limit of infinite
width the second moment of the pre-activations follows the length map (Poole et al.
2016, Eq. 3; Schoenholz et al. 2017, Sec. 2)

    q^{l+1} = sigma_w^2 E_z[phi(sqrt(q^l) z)^2],  z ~ N(0, 1),   (no biases)

and `auto_rule(activation)` picks sigma_w^2 by one of two rules, computed by Gauss-Hermite
quadrature (`initializers.diagnostics.mean_field`) and cached:

* **unit fixed point** (every activation that is not odd): sigma_w^2 = 1 / E[phi(z)^2],
  so that a unit second moment maps to itself. This reproduces He et al. 2015 (Eq. 10:
  ReLU -> 2; Eq. 15: leaky ReLU with slope a -> 2 / (1 + a^2)) and the LeCun rule of
  self-normalizing nets (Klambauer et al. 2017: SELU -> 1). The slope of the length map
  there, s = sigma_w^2 d/dq E[phi(sqrt(q) z)^2] at q = 1, says whether the fixed point
  is stable: s < 1 pulls a drifting signal back (ELU 0.89, softplus 0.49), s = 1 is
  neutral (ReLU: every length is a fixed point), s > 1 pushes it away by a factor s per
  layer (swish/SiLU 1.17, GELU 1.14, mish 1.08): no data-free variance keeps such a
  net's signal over many layers, and its records and the doctor say so (LSUV, Mishkin &
  Matas 2016, measures the drift on data and removes it).
* **critical point** (odd activations, phi(-x) = -phi(x): tanh, softsign, erf, linear):
  sigma_w^2 = 1 / phi'(0)^2. With an odd saturating phi and no biases, E[phi(sqrt(q)
  z)^2] < phi'(0)^2 q, so a unit fixed point exists only in the chaotic phase (tanh:
  sigma_w^2 = 2.54, chi_1 = 1.18, gradients grow 1.18x per layer); the order-to-chaos
  transition is at sigma_w^2 phi'(0)^2 = 1 (Poole et al. 2016; Schoenholz et al. 2017,
  Sec. 3: tanh without biases is critical at sigma_w^2 = 1), where the length map's
  fixed point is q* = 0 with slope exactly 1: the signal decays, but only as a power
  law in depth, not exponentially. This is LeCun's 1 / fan_in for tanh and linear
  layers, and Glorot & Bengio 2010's normalized init for square layers.

`softmax` is not elementwise: a softmax output layer gets Glorot & Bengio 2010's
normalized init (a readout, whose scale no later layer depends on).

Example:

>>> auto_rule("relu").sigma_w2, auto_rule("tanh").sigma_w2, auto_rule("selu").sigma_w2
(2.0, 1.0, 1.0)
>>> print(auto_rule("swish").describe())
sigma_w^2 = 2.811 (unit fixed point, unstable: a drift grows x1.173 per layer; use LSUV)
"""

import dataclasses
import functools
import math

import keras
import numpy as np

from initializers.diagnostics.mean_field import _ACTIVATIONS as MEAN_FIELD_ACTIVATIONS
from initializers.diagnostics.mean_field import _rule
from initializers.errors import UnsupportedModelError
from initializers.variance_scaling import GlorotUniform, HeNormal, LecunNormal, VarianceScaling

UNIT_FIXED_POINT = "unit fixed point"
CRITICAL_POINT = "critical point"
READOUT = "readout"
# A length-map slope within this of 1 is neutral (ReLU's is exactly 1).
NEUTRAL_SLOPE = 1e-6
# Names whose rule is a rectifier's: drawn with `HeNormal(negative_slope=a)`, the
# paper's own initializer (sigma_w^2 = 2 / (1 + a^2) exactly).
RECTIFIERS = ("relu", "leaky_relu")
# An odd function up to float32 rounding of Keras's own activations.
_ODD_TOLERANCE = 1e-6


@dataclasses.dataclass(frozen=True)
class AutoRule:
    """What mean-field theory says about one activation (see the module docstring).

    `sigma_w2` is the weight variance times fan_in; `rule` is "unit fixed point",
    "critical point" or "readout"; `length_map_slope` the slope of the length map at
    the chosen fixed point (q = 1, or q = 0 at a critical point); `stable` whether it
    is below 1 (or neutral, within 1e-6); `chi_1` the mean squared singular value of one
    layer's Jacobian there (> 1: gradients grow backwards, < 1: they shrink).
    """

    activation: str
    sigma_w2: float
    rule: str
    length_map_slope: float
    stable: bool
    chi_1: float

    @property
    def drift_per_layer(self):
        """Factor by which a deviation of the signal's second moment from the fixed point
        grows per layer (> 1 only where the fixed point is unstable)."""
        return self.length_map_slope

    def describe(self):
        """One line for the records: the variance, the rule that decided and what follows."""
        head = f"sigma_w^2 = {self.sigma_w2:.4g} ({self.rule}"
        if self.rule == READOUT:
            return head + ": softmax output, Glorot & Bengio 2010)"
        if self.rule == CRITICAL_POINT:
            return head + ", odd activation: the signal decays as a power law, E[z^2] = 1 is kept only when chaotic)"
        if not self.stable:
            return head + f", unstable: a drift grows x{self.length_map_slope:.4g} per layer; use LSUV)"
        return head + f", stable: slope {self.length_map_slope:.3g})"

    def as_dict(self):
        return {**dataclasses.asdict(self), "drift_per_layer": self.drift_per_layer}


def _numpy_function(activation, negative_slope):
    """(phi, phi' or None, name): phi as a numpy function of float64 arrays, its exact
    derivative where known, and its display name."""
    if activation == "leaky_relu" or (activation == "relu" and negative_slope):
        slope = float(negative_slope)
        return (lambda x: np.where(x > 0, x, slope * x)), None, f"leaky_relu({slope:g})"
    if isinstance(activation, str) and activation in MEAN_FIELD_ACTIVATIONS:
        return (*MEAN_FIELD_ACTIVATIONS[activation], activation)
    if isinstance(activation, str):
        try:
            function = keras.activations.get(activation)
        except ValueError:
            raise UnsupportedModelError(
                f"method='auto' knows no activation {activation!r}: pass a Keras activation name or "
                "the activation function itself (any elementwise callable).",
                f"activation={activation!r}") from None
        name = activation
    elif callable(activation):
        function, name = activation, getattr(activation, "__name__", type(activation).__name__)
    else:
        raise ValueError(f"`activation` must be a name or a callable. Received: activation={activation!r}")
    return (lambda x: np.asarray(keras.ops.convert_to_numpy(function(x)), dtype=np.float64)), None, name


def _derivative(phi, exact):
    """phi' (exact, else a central difference whose step suits the precision phi computes
    in: Keras activations compute in float32 on the JAX backend)."""
    if exact is not None:
        return exact
    third = phi(np.array([1.0 / 3.0]))[0]
    # A result that is exactly a float32 number was computed in float32.
    step = 1e-6 if float(np.float32(third)) != third else 1e-3
    return lambda x: (phi(x + step) - phi(x - step)) / (2 * step)


@functools.lru_cache(maxsize=None)
def auto_rule(activation, negative_slope=0.0):
    """The `AutoRule` of `activation` (a Keras activation name or any elementwise callable),
    computed by quadrature once and cached.

    Args:
        activation: e.g. "relu", "gelu", "mish", `keras.activations.silu` or a function of
            your own (it receives a float array and must act on each element alone).
        negative_slope: the slope of a leaky ReLU ("leaky_relu", or "relu" with a slope).

    Raises:
        UnsupportedModelError: an unknown name, or an activation that is not elementwise
            (e.g. "glu"), or whose second moment is 0 or not finite.
    """
    if activation == "softmax":
        return AutoRule("softmax", 1.0, READOUT, 0.0, True, math.nan)
    phi, exact_derivative, name = _numpy_function(activation, negative_slope)
    nodes, weights = _rule(200)
    try:
        values, column = phi(nodes), phi(nodes[:, None])
    except Exception:  # e.g. "glu", which halves the last axis
        values = column = None
    if values is None or np.shape(values) != nodes.shape or np.shape(column) != (nodes.size, 1) \
            or not np.allclose(values, column.ravel(), rtol=1e-5, atol=1e-6):
        raise UnsupportedModelError(f"method='auto' needs an elementwise activation; {name!r} is not one "
                                    "(its output on a vector is not its output on each element).",
                                    f"activation={name!r}")
    second = float(weights @ values ** 2)
    if not (second > 0 and math.isfinite(second)):
        raise UnsupportedModelError(f"E[phi(z)^2] of activation {name!r} is {second}: no variance "
                                    "keeps its signal.", f"activation={name!r}")
    derivative = _derivative(phi, exact_derivative)
    scale = max(float(np.max(np.abs(values))), 1e-12)
    odd = bool(np.max(np.abs(values + phi(-nodes))) <= _ODD_TOLERANCE * scale)
    slope_at_zero = float(derivative(np.zeros(1))[0])
    linear = math.isclose(second, slope_at_zero ** 2, rel_tol=1e-9)  # E[phi(z)^2] = phi'(0)^2
    if odd and slope_at_zero != 0 and not linear:
        sigma_w2 = 1.0 / slope_at_zero ** 2
        # Fixed point q* = 0; the length map's slope there is sigma_w^2 phi'(0)^2 = 1.
        chi = sigma_w2 * slope_at_zero ** 2
        return AutoRule(name, _tidy(sigma_w2), CRITICAL_POINT, 1.0, True, chi)
    sigma_w2 = 1.0 / second
    step = 1e-4  # d/dq E[phi(sqrt(q) z)^2] at q = 1, central difference
    moment = lambda q: float(weights @ phi(math.sqrt(q) * nodes) ** 2)
    slope = sigma_w2 * (moment(1 + step) - moment(1 - step)) / (2 * step)
    chi = sigma_w2 * float(weights @ derivative(nodes) ** 2)
    return AutoRule(name, _tidy(sigma_w2), UNIT_FIXED_POINT, slope, slope <= 1 + NEUTRAL_SLOPE, chi)


def _tidy(value):
    """Round off quadrature noise so that exact rules read exactly (ReLU: 2.0, not 1.9999999)."""
    nearest = round(value, 9)
    return nearest if abs(nearest - value) < 1e-9 * max(1.0, abs(value)) else value


def auto_initializer(activation, negative_slope=0.0):
    """The initializer `method="auto"` picks for a kernel whose output meets `activation`.

    From `auto_rule`: ReLU and leaky ReLU -> `HeNormal(negative_slope=a)` (He et al.
    2015); sigma_w^2 = 1 (tanh, softsign, linear, SELU) -> `LecunNormal`; softmax ->
    `GlorotUniform` (Glorot & Bengio 2010); any other sigma_w^2 ->
    `VarianceScaling(scale=sigma_w^2)` (an untruncated Gaussian N(0, sigma_w^2 / fan_in)).
    """
    rule = auto_rule(activation, negative_slope)
    if rule.rule == READOUT:
        return GlorotUniform()
    if activation in RECTIFIERS:
        return HeNormal(negative_slope=negative_slope)
    if math.isclose(rule.sigma_w2, 1.0, rel_tol=1e-4):  # SELU's published constants: 0.99998
        return LecunNormal()
    return VarianceScaling(scale=rule.sigma_w2)


# The activations `rule_table` tabulates by default.
COMMON_ACTIVATIONS = ("relu", "leaky_relu", "relu6", "elu", "selu", "gelu", "silu", "mish", "softplus",
                      "tanh", "softsign", "sigmoid", "hard_sigmoid", "hard_silu", "linear", "softmax")


def rule_table(activations=COMMON_ACTIVATIONS, negative_slope=0.2):
    """A markdown table of `auto_rule` for each activation (leaky ReLU with `negative_slope`,
    Keras's default slope of the function)."""
    lines = ["| activation | sigma_w^2 | rule | length-map slope | stable | chi_1 | initializer |",
             "|---|---|---|---|---|---|---|"]
    for name in activations:
        slope = negative_slope if name == "leaky_relu" else 0.0
        rule = auto_rule(name, slope)
        chi = "-" if math.isnan(rule.chi_1) else f"{rule.chi_1:.3f}"
        initializer = auto_initializer(name, slope)
        lines.append(f"| {rule.activation} | {rule.sigma_w2:.4g} | {rule.rule} | {rule.length_map_slope:.3f} | "
                     f"{'yes' if rule.stable else 'no'} | {chi} | {type(initializer).__name__} |")
    return "\n".join(lines)


__all__ = ["AutoRule", "auto_initializer", "auto_rule", "rule_table"]
