"""Orthogonal (Saxe et al. 2013), delta-orthogonal and convolution-orthogonal (Xiao et al. 2018)
initializers."""

import math

import keras
from keras import ops

from initializers._base import (
    SeededInitializer,
    derived_seed,
    validate_float_dtype,
    validate_real,
    validate_shape,
)

# Gains that keep the second moment of the signal through one layer: the table of
# PyTorch's `torch.nn.init.calculate_gain` (relu sqrt(2) from He et al. 2015, Sec. 2.2).
_GAINS = {
    "linear": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 0.75,
}


def gain(activation, negative_slope=0.0):
    """Recommended gain for `Orthogonal` / `DeltaOrthogonal` before `activation`.

    linear 1, sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + a^2)),
    selu 3/4 (the same table as PyTorch's `torch.nn.init.calculate_gain`).

    Args:
        activation: one of "linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu".
        negative_slope: a, used by "leaky_relu" only.

    Returns:
        The gain, a float.
    """
    if activation == "leaky_relu":
        slope = validate_real("negative_slope", negative_slope)
        return math.sqrt(2.0 / (1.0 + slope * slope))
    if activation not in _GAINS:
        valid = sorted([*_GAINS, "leaky_relu"])
        raise ValueError(f"Unknown activation; valid: {valid}. Received: activation={activation!r}")
    return _GAINS[activation]


def _validate_gain(value):
    return validate_real("gain", value, positive=True)


def random_orthogonal(num_rows, num_cols, seed, dtype, count=None):
    """A (num_rows, num_cols) matrix with orthonormal rows or columns (the shorter side);
    with `count`, a (count, num_rows, num_cols) stack of independent ones, drawn at once
    (one batched QR).

    QR decomposition of a Gaussian matrix with the signs of R's diagonal moved
    into Q, which makes Q uniformly (Haar) distributed (Mezzadri 2007); plain QR
    is not, since the QR routine fixes R's signs.
    """
    transposed = num_rows < num_cols
    tall_shape = (num_cols, num_rows) if transposed else (num_rows, num_cols)
    batch = () if count is None else (count,)
    gaussian = keras.random.normal(batch + tall_shape, dtype="float32", seed=seed)
    q, r = ops.qr(gaussian, mode="reduced")
    signs = ops.where(ops.diagonal(r, axis1=-2, axis2=-1) >= 0, 1.0, -1.0)
    q = q * ops.expand_dims(signs, -2)
    if transposed:
        q = ops.swapaxes(q, -1, -2)
    return ops.cast(q, dtype)


def _isometry_kernel_shape(name, shape):
    """(spatial, in_channels, out_channels) of a convolution kernel (*spatial, in, out) of
    rank 3 to 5 with in <= out, which an isometry needs; else Keras's ValueError naming
    the initializer."""
    if not 3 <= len(shape) <= 5:
        raise ValueError(f"{name} needs a convolution kernel (*spatial, in_channels, out_channels) of "
                         f"rank 3 to 5. Received: shape={shape}")
    spatial, in_channels, out_channels = shape[:-2], shape[-2], shape[-1]
    if in_channels > out_channels:
        raise ValueError(f"{name} needs in_channels <= out_channels (an isometry needs orthonormal "
                         f"rows). Received: shape={shape} (in_channels={in_channels}, "
                         f"out_channels={out_channels})")
    return spatial, in_channels, out_channels


class _GainedInitializer(SeededInitializer):
    """A seeded initializer with a positive `gain`: the orthogonal family's arguments."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed=seed)
        self.gain = _validate_gain(gain)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


@keras.saving.register_keras_serializable(package="initializers")
class Orthogonal(_GainedInitializer):
    """Random orthogonal matrix times a gain (Saxe et al. 2013).

    The kernel is flattened to (prod(shape[:-1]), shape[-1]) and filled with a
    Haar-random matrix whose rows (if wide) or columns (if tall) are orthonormal,
    times `gain`: W^T W = gain^2 I (tall) or W W^T = gain^2 I (wide). Same
    distribution as `keras.initializers.Orthogonal`; use `gain("relu")` etc. for
    the gain that suits the activation.

    Examples:

    >>> w = Orthogonal(seed=0)(shape=(256, 256))  # w.T @ w == I
    >>> layer = keras.layers.Dense(256, activation="tanh",
    ...                            kernel_initializer=Orthogonal(gain=gain("tanh")))

    Args:
        gain: positive multiplier applied to the orthogonal matrix.
        seed: None (fresh values every call) or an int (identical values every call).

    Reference:
        Saxe, McClelland, Ganguli. "Exact solutions to the nonlinear dynamics of
        learning in deep linear neural networks", ICLR 2014 (arXiv 1312.6120).
    """

    def __call__(self, shape, dtype=None):
        shape = validate_shape(shape)
        if len(shape) < 2:
            raise ValueError(
                f"Orthogonal needs a kernel of rank >= 2. Received: shape={shape}"
            )
        dtype = validate_float_dtype(dtype)
        matrix = random_orthogonal(math.prod(shape[:-1]), shape[-1], self._draw_seed(), dtype)
        return self.gain * ops.reshape(matrix, shape)

    def stack(self, count, shape, dtype=None):
        """`count` independent kernels of `shape`, stacked along a new first axis, drawn at
        once (a batched QR: `models.StackedConvolution`'s thousands of layers)."""
        shape = validate_shape(shape)
        matrices = random_orthogonal(math.prod(shape[:-1]), shape[-1], self._draw_seed(),
                                     validate_float_dtype(dtype), count=count)
        return self.gain * ops.reshape(matrices, (count,) + shape)


@keras.saving.register_keras_serializable(package="initializers")
class DeltaOrthogonal(_GainedInitializer):
    """Delta-orthogonal convolution kernel (Xiao et al. 2018).

    For a kernel of shape (*k, c_in, c_out) with odd spatial sizes k and
    c_in <= c_out: every tap is zero except the spatial centre, which holds a
    Haar-random (c_in, c_out) matrix with orthonormal rows times `gain`. The
    convolution then acts at initialization as an orthogonal 1x1 map, an exact
    isometry of the input (norm-preserving), which is what lets vanilla tanh CNNs
    of 10,000 layers train at the critical point.

    Examples:

    >>> w = DeltaOrthogonal(seed=0)(shape=(3, 3, 64, 64))  # w[1, 1] orthogonal
    >>> layer = keras.layers.Conv2D(64, 3, padding="same", activation="tanh",
    ...                             kernel_initializer=DeltaOrthogonal())

    Args:
        gain: positive multiplier applied to the centre matrix.
        seed: None (fresh values every call) or an int (identical values every call).

    Reference:
        Xiao, Bahri, Sohl-Dickstein, Schoenholz, Pennington. "Dynamical Isometry
        and a Mean Field Theory of CNNs: How to Train 10,000-Layer Vanilla
        Convolutional Neural Networks", ICML 2018, Algorithm 2.
    """

    @staticmethod
    def _kernel_shape(shape):
        """(spatial, in_channels, out_channels) of a valid delta-orthogonal kernel shape."""
        spatial, in_channels, out_channels = _isometry_kernel_shape("DeltaOrthogonal", shape)
        if any(k % 2 == 0 for k in spatial):
            raise ValueError(
                "DeltaOrthogonal needs odd spatial kernel sizes so that the kernel "
                f"has a centre tap. Received: shape={shape}"
            )
        return spatial, in_channels, out_channels

    def __call__(self, shape, dtype=None):
        shape = validate_shape(shape)
        spatial, in_channels, out_channels = self._kernel_shape(shape)
        dtype = validate_float_dtype(dtype)
        centre = self.gain * random_orthogonal(
            in_channels, out_channels, self._draw_seed(), dtype
        )
        centre = ops.reshape(centre, (1,) * len(spatial) + (in_channels, out_channels))
        padding = [(k // 2, k // 2) for k in spatial] + [(0, 0), (0, 0)]
        return ops.pad(centre, padding)

    def stack(self, count, shape, dtype=None):
        """`count` independent kernels of `shape`, stacked along a new first axis, drawn at
        once (a batched QR: `models.StackedConvolution`'s thousands of layers)."""
        spatial, in_channels, out_channels = self._kernel_shape(validate_shape(shape))
        centres = self.gain * random_orthogonal(in_channels, out_channels, self._draw_seed(),
                                                validate_float_dtype(dtype), count=count)
        centres = ops.reshape(centres, (count,) + (1,) * len(spatial) + (in_channels, out_channels))
        padding = [(0, 0)] + [(k // 2, k // 2) for k in spatial] + [(0, 0), (0, 0)]
        return ops.pad(centres, padding)


def _symmetric_projection(size, seed, dtype):
    """P = U diag(m) U^T: the orthogonal projection onto the span of a random subset of the
    columns of a Haar-random orthogonal U (each column kept with probability 1/2)."""
    basis = random_orthogonal(size, size, seed, "float32")
    keep = ops.cast(keras.random.uniform((size,), seed=derived_seed(seed, 1)) < 0.5, "float32")
    return ops.cast(ops.matmul(basis * keep[None, :], ops.transpose(basis)), dtype)


@keras.saving.register_keras_serializable(package="initializers")
class ConvolutionOrthogonal(_GainedInitializer):
    """Random orthogonal convolution kernel of any size (Xiao et al. 2018, Sec. 3.1).

    For a kernel (*k, c_in, c_out) with c_in <= c_out: a Haar-random (c_in, c_out) matrix
    H with orthonormal rows, convolved, along each spatial axis and (k - 1) times per
    axis, with a two-tap kernel [P, I - P] whose P is a random symmetric projection
    (`_symmetric_projection`, a new one each time). The convolution's symbol (its
    Fourier transform over positions) is then H (P_1 + (I - P_1) z_1) (P_2 + ...) ..., a
    product of unitary matrices at every frequency, so the convolution with circular
    padding is an exact isometry (norm-preserving), like `DeltaOrthogonal`'s, but with
    every tap non-zero: the spatially non-uniform orthogonal kernels of Xiao et al.'s
    block construction (for 2D, its 2x2 blocks [[P Q, P (I - Q)], [(I - P) Q, (I - P)(I - Q)]]
    are one step along each axis). With zero ("same") padding the isometry holds away
    from the borders only.

    Examples:

    >>> w = ConvolutionOrthogonal(seed=0)(shape=(3, 3, 64, 64))
    >>> layer = keras.layers.Conv2D(64, 3, padding="same", activation="tanh",
    ...                             kernel_initializer=ConvolutionOrthogonal())

    Args:
        gain: positive multiplier of the kernel.
        seed: None (fresh values every call) or an int (identical values every call).

    Reference:
        Xiao, Bahri, Sohl-Dickstein, Schoenholz, Pennington. "Dynamical Isometry and a
        Mean Field Theory of CNNs: How to Train 10,000-Layer Vanilla Convolutional Neural
        Networks", ICML 2018, Sec. 3.1 and Algorithm 1 (orthogonal kernels by block
        convolutions of symmetric projections).
    """

    def __call__(self, shape, dtype=None):
        shape = validate_shape(shape)
        spatial, in_channels, out_channels = _isometry_kernel_shape("ConvolutionOrthogonal", shape)
        dtype = validate_float_dtype(dtype)
        seed = self._draw_seed()
        kernel = ops.reshape(random_orthogonal(in_channels, out_channels, derived_seed(seed, 0), "float32"),
                             (1,) * len(spatial) + (in_channels, out_channels))
        identity = ops.eye(out_channels, dtype="float32")
        step = 1
        for axis, size in enumerate(spatial):
            for _ in range(size - 1):
                projection = _symmetric_projection(out_channels, derived_seed(seed, step), "float32")
                kernel = _two_tap_convolution(kernel, axis, projection, identity - projection)
                step += 1
        return ops.cast(self.gain * kernel, dtype)


def _two_tap_convolution(kernel, axis, first, second):
    """The kernel convolved along spatial `axis` with the two-tap kernel [first, second]
    (matrices acting on the output channels): one tap longer along that axis."""
    padding = [(0, 0)] * len(kernel.shape)
    before, after = list(padding), list(padding)
    before[axis], after[axis] = (0, 1), (1, 0)
    return ops.pad(ops.matmul(kernel, first), before) + ops.pad(ops.matmul(kernel, second), after)
