"""Variance-scaling initializers exactly as the papers define them.

Every initializer here draws i.i.d. zero-mean values with

    Var[W] = scale / n,   n = fan_in, fan_out or (fan_in + fan_out) / 2,

from one of three distributions, chosen explicitly:

* `"normal"`: an *untruncated* Gaussian N(0, scale / n). This is what He et al.
  2015 (Sec. 2.2) prescribe.
* `"truncated_normal"`: a Gaussian truncated at +-2 of its own std, with that std
  divided by `TRUNCATED_NORMAL_STD_CORRECTION` so that the *truncated* draw has
  variance exactly scale / n. This is what Keras's `HeNormal`, `GlorotNormal`,
  `LecunNormal` (and `VarianceScaling(distribution="truncated_normal")`) do.
* `"uniform"`: U[-limit, limit] with limit = sqrt(3 * scale / n).
"""

import math

import keras
import numpy as np

from initializers._base import (
    SeededInitializer,
    validate_float_dtype,
    validate_real,
    validate_shape,
)
from initializers._fans import compute_fans

# Std of a standard normal truncated to [-2, 2]; Keras's own constant. Dividing the
# Gaussian's std by it makes the truncated draw's variance equal the target.
TRUNCATED_NORMAL_STD_CORRECTION = 0.87962566103423978

MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")


def _validate_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")
    return value


def _validate_negative_slope(negative_slope):
    return validate_real("negative_slope", negative_slope)


class VarianceScalingBase(SeededInitializer):
    """Shared machinery: Var[W] = scale / n with an explicit distribution.

    Subclasses fix `scale`, `mode` and `distribution` from their own, paper-named
    arguments. Beside the usual `__call__(shape, dtype)`, which computes fans from
    the shape as Keras does, `sample(shape, fan_in, fan_out, dtype)` takes the fans
    from the caller; `initialize_weights` uses it with fans computed from the layer.
    """

    def __init__(self, *, scale, mode, distribution, seed=None):
        super().__init__(seed=seed)
        self.scale = validate_real("scale", scale, positive=True)
        self.mode = _validate_choice("mode", mode, MODES)
        self.distribution = _validate_choice("distribution", distribution, DISTRIBUTIONS)

    def fan(self, fan_in, fan_out):
        """The n of Var[W] = scale / n for this initializer's `mode`."""
        return {
            "fan_in": fan_in,
            "fan_out": fan_out,
            "fan_avg": (fan_in + fan_out) / 2.0,
        }[self.mode]

    def stddev(self, fan_in, fan_out):
        """Target standard deviation of the drawn values, sqrt(scale / n)."""
        return math.sqrt(self.scale / self.fan(fan_in, fan_out))

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(validate_shape(shape))
        return self.sample(shape, fan_in, fan_out, dtype=dtype)

    def sample(self, shape, fan_in, fan_out, dtype=None):
        """Draws a tensor of `shape` using the given fans instead of the shape's."""
        shape = validate_shape(shape)
        dtype = validate_float_dtype(dtype)
        std = self.stddev(fan_in, fan_out)
        seed = self._draw_seed()
        if self.distribution == "normal":
            return keras.random.normal(shape, stddev=std, dtype=dtype, seed=seed)
        if self.distribution == "truncated_normal":
            return keras.random.truncated_normal(
                shape, stddev=std / TRUNCATED_NORMAL_STD_CORRECTION, dtype=dtype, seed=seed
            )
        limit = math.sqrt(3.0) * std
        return keras.random.uniform(shape, minval=-limit, maxval=limit, dtype=dtype, seed=seed)


def _validate_truncated(truncated):
    if not isinstance(truncated, (bool, np.bool_)):
        raise ValueError(f"`truncated` must be True or False. Received: truncated={truncated!r}")
    return bool(truncated)


def _normal_distribution(truncated):
    return "truncated_normal" if _validate_truncated(truncated) else "normal"


def _he_scale(negative_slope):
    # He et al. 2015, Eq. 15 for PReLU/leaky ReLU with slope a: 1/2 (1 + a^2) n Var = 1.
    # a * a, not a**2: for |a| > 1e154 the square is inf (scale 0, refused below)
    # where float ** would raise OverflowError.
    scale = 2.0 / (1.0 + negative_slope * negative_slope)
    if not scale > 0:
        raise ValueError(
            "`negative_slope` is so large that the variance 2 / (1 + a^2) underflows to 0. "
            f"Received: negative_slope={negative_slope!r}"
        )
    return scale


def _he_mode(mode):
    # He et al. 2015 derive fan_in (forward, Eq. 10) and fan_out (backward, Eq. 14).
    return _validate_choice("mode", mode, ("fan_in", "fan_out"))


@keras.saving.register_keras_serializable(package="initializers")
class HeNormal(VarianceScalingBase):
    """He et al. 2015 initialization: untruncated Gaussian, std sqrt(2 / ((1 + a^2) n)).

    Draws W ~ N(0, 2 / ((1 + a^2) * n)) with n = fan_in (forward condition,
    He Eq. 10) or n = fan_out (backward condition, Eq. 14), and a the negative
    slope of the rectifier (0 for ReLU; Eq. 15 for PReLU / leaky ReLU).

    The paper's distribution is an untruncated Gaussian (the default here). Keras's
    built-in `keras.initializers.HeNormal` instead draws a Gaussian truncated at
    +-2 std with a corrected std; `truncated=True` reproduces that variant exactly.

    Examples:

    >>> init = HeNormal(seed=0)
    >>> values = init(shape=(512, 256))  # std sqrt(2 / 512) = 0.0625
    >>> layer = keras.layers.Conv2D(64, 3, activation="relu",
    ...                             kernel_initializer=HeNormal(mode="fan_out"))

    Args:
        mode: `"fan_in"` (default, preserves forward activations) or `"fan_out"`
            (preserves backward gradients).
        negative_slope: slope a of the rectifier for negative inputs (0.0: ReLU).
        truncated: if True, draw Keras's truncated-at-2-std Gaussian with the std
            corrected to keep the same variance (not the paper's distribution).
        seed: None (fresh values every call) or an int (identical values every call).

    Reference:
        He, Zhang, Ren, Sun. "Delving Deep into Rectifiers: Surpassing Human-Level
        Performance on ImageNet Classification", ICCV 2015, Sec. 2.2.
    """

    def __init__(self, mode="fan_in", negative_slope=0.0, truncated=False, seed=None):
        negative_slope = _validate_negative_slope(negative_slope)
        super().__init__(
            scale=_he_scale(negative_slope),
            mode=_he_mode(mode),
            distribution=_normal_distribution(truncated),
            seed=seed,
        )
        self.negative_slope = negative_slope
        self.truncated = bool(truncated)

    def get_config(self):
        return {
            "mode": self.mode,
            "negative_slope": self.negative_slope,
            "truncated": self.truncated,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="initializers")
class HeUniform(VarianceScalingBase):
    """He et al. 2015 variance with a uniform distribution.

    W ~ U[-limit, limit], limit = sqrt(6 / ((1 + a^2) n)), so that
    Var[W] = 2 / ((1 + a^2) n) as in `HeNormal`; n = fan_in or fan_out. Same
    distribution as `keras.initializers.HeUniform` (which has no `negative_slope`
    and no `mode`).

    Examples:

    >>> values = HeUniform(seed=0)(shape=(512, 256))  # limit sqrt(6 / 512)
    >>> layer = keras.layers.Dense(128, activation="relu", kernel_initializer=HeUniform())

    Args:
        mode: `"fan_in"` (default) or `"fan_out"`.
        negative_slope: slope a of the rectifier for negative inputs (0.0: ReLU).
        seed: None (fresh values every call) or an int (identical values every call).

    Reference:
        He et al. 2015, "Delving Deep into Rectifiers", Sec. 2.2 (the variance;
        the paper itself samples from a Gaussian).
    """

    def __init__(self, mode="fan_in", negative_slope=0.0, seed=None):
        negative_slope = _validate_negative_slope(negative_slope)
        super().__init__(
            scale=_he_scale(negative_slope),
            mode=_he_mode(mode),
            distribution="uniform",
            seed=seed,
        )
        self.negative_slope = negative_slope

    def get_config(self):
        return {"mode": self.mode, "negative_slope": self.negative_slope, "seed": self.seed}


@keras.saving.register_keras_serializable(package="initializers")
class GlorotUniform(VarianceScalingBase):
    """Glorot & Bengio 2010 "normalized initialization" (Eq. 16).

    W ~ U[-sqrt(6 / (fan_in + fan_out)), +sqrt(6 / (fan_in + fan_out))], so
    Var[W] = 2 / (fan_in + fan_out). Same distribution as Keras's default
    `keras.initializers.GlorotUniform`.

    Examples:

    >>> values = GlorotUniform(seed=0)(shape=(1000, 1000))  # limit sqrt(6 / 2000)
    >>> layer = keras.layers.Dense(1000, activation="tanh",
    ...                            kernel_initializer=GlorotUniform())

    Args:
        seed: None (fresh values every call) or an int (identical values every call).

    Reference:
        Glorot, Bengio. "Understanding the difficulty of training deep feedforward
        neural networks", AISTATS 2010, Eq. 16.
    """

    def __init__(self, seed=None):
        super().__init__(scale=1.0, mode="fan_avg", distribution="uniform", seed=seed)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="initializers")
class GlorotNormal(VarianceScalingBase):
    """Glorot variance with an untruncated Gaussian: N(0, 2 / (fan_in + fan_out)).

    The variance of Glorot & Bengio 2010's normalized initialization (Eq. 16)
    drawn from a plain Gaussian. Keras's `keras.initializers.GlorotNormal` draws
    a Gaussian truncated at +-2 std with a corrected std; `truncated=True` gives
    that variant.

    Examples:

    >>> values = GlorotNormal(seed=0)(shape=(1000, 1000))  # std sqrt(2 / 2000)
    >>> layer = keras.layers.Dense(10, kernel_initializer=GlorotNormal())

    Args:
        truncated: if True, Keras's truncated-at-2-std Gaussian with corrected std.
        seed: None (fresh values every call) or an int (identical values every call).

    Reference:
        Glorot, Bengio, AISTATS 2010, Eq. 16 (variance); the Gaussian form is the
        one commonly called "Xavier normal".
    """

    def __init__(self, truncated=False, seed=None):
        super().__init__(
            scale=1.0, mode="fan_avg", distribution=_normal_distribution(truncated), seed=seed
        )
        self.truncated = bool(truncated)

    def get_config(self):
        return {"truncated": self.truncated, "seed": self.seed}


@keras.saving.register_keras_serializable(package="initializers")
class LecunNormal(VarianceScalingBase):
    """LeCun initialization: untruncated Gaussian N(0, 1 / fan_in).

    n * Var[W] = 1 with n = fan_in. This is also the "Xavier" initialization as
    He et al. 2015 restate it (Sec. 2.2: n_l Var[w_l] = 1), whose signal shrinks
    by a factor 1/sqrt(2) per ReLU layer, and the init that keeps SELU networks
    self-normalizing. Keras's `keras.initializers.LecunNormal` is truncated at
    +-2 std with a corrected std; `truncated=True` gives that variant.

    Examples:

    >>> values = LecunNormal(seed=0)(shape=(256, 256))  # std 1/16
    >>> layer = keras.layers.Dense(64, activation="selu", kernel_initializer=LecunNormal())

    Args:
        truncated: if True, Keras's truncated-at-2-std Gaussian with corrected std.
        seed: None (fresh values every call) or an int (identical values every call).

    Reference:
        LeCun, Bottou, Orr, Mueller. "Efficient BackProp", 1998; He et al. 2015,
        Sec. 2.2 (as "Xavier").
    """

    def __init__(self, truncated=False, seed=None):
        super().__init__(
            scale=1.0, mode="fan_in", distribution=_normal_distribution(truncated), seed=seed
        )
        self.truncated = bool(truncated)

    def get_config(self):
        return {"truncated": self.truncated, "seed": self.seed}


@keras.saving.register_keras_serializable(package="initializers")
class LecunUniform(VarianceScalingBase):
    """LeCun variance with a uniform distribution: U[+-sqrt(3 / fan_in)].

    Var[W] = 1 / fan_in. Same distribution as `keras.initializers.LecunUniform`.

    Examples:

    >>> values = LecunUniform(seed=0)(shape=(300, 100))  # limit 0.1

    Args:
        seed: None (fresh values every call) or an int (identical values every call).

    Reference:
        LeCun et al., "Efficient BackProp", 1998.
    """

    def __init__(self, seed=None):
        super().__init__(scale=1.0, mode="fan_in", distribution="uniform", seed=seed)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="initializers")
class StandardUniform(VarianceScalingBase):
    """Glorot & Bengio 2010's "standard" heuristic (Eq. 1): U[-1/sqrt(n), 1/sqrt(n)].

    n = fan_in, so n * Var[W] = 1/3. This is also exactly PyTorch's default
    initialization of `nn.Linear` and `nn.Conv*` weights
    (`kaiming_uniform_(a=sqrt(5))`), so it is the init to use when porting a
    PyTorch model's training behaviour to Keras. Keras has no built-in
    equivalent. It is the baseline Glorot & Bengio show to make activations and
    back-propagated gradients shrink with depth.

    Examples:

    >>> values = StandardUniform(seed=0)(shape=(100, 10))  # limit 0.1
    >>> layer = keras.layers.Dense(10, kernel_initializer=StandardUniform())

    Args:
        seed: None (fresh values every call) or an int (identical values every call).

    Reference:
        Glorot, Bengio, AISTATS 2010, Eq. 1.
    """

    def __init__(self, seed=None):
        super().__init__(scale=1.0 / 3.0, mode="fan_in", distribution="uniform", seed=seed)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="initializers")
class VarianceScaling(VarianceScalingBase):
    """Var[W] = scale / n for any `scale`: the general form of the rules above.

    `method="auto"` draws with it where mean-field theory asks for a variance no named
    rule has (e.g. scale = 1 / E[swish(z)^2] = 2.81 for a kernel followed by swish;
    `initializers.auto_rule`). Unlike Keras's `VarianceScaling`, whose "normal" is
    truncated, `distribution="normal"` here is an untruncated Gaussian N(0, scale / n).

    Examples:

    >>> values = VarianceScaling(scale=2.0, seed=0)(shape=(256, 256))  # = HeNormal's std
    >>> values = VarianceScaling(scale=1.0, mode="fan_avg", distribution="uniform")(shape=(4, 4))

    Args:
        scale: the positive variance factor (sigma_w^2 of mean-field theory).
        mode: "fan_in" (default), "fan_out" or "fan_avg".
        distribution: "normal" (untruncated, default), "truncated_normal" or "uniform".
        seed: None (fresh values every call) or an int (identical values every call).

    Reference:
        Poole et al. 2016, "Exponential expressivity in deep neural networks through
        transient chaos" (sigma_w^2 / n as the weight variance of the length map).
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="normal", seed=None):
        super().__init__(scale=scale, mode=mode, distribution=distribution, seed=seed)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}
