"""Distribution, seeding, serialization and validation of every initializer."""

import math
import pathlib

import keras
import numpy as np
import pytest

import initializers
from initializers import (
    ConvolutionOrthogonal,
    DeltaOrthogonal,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    Orthogonal,
    StandardUniform,
)

# Kernel shapes with their (fan_in, fan_out) as computed from the shape alone.
SHAPES = {
    "dense": ((1024, 512), (1024, 512)),
    "conv1d": ((5, 64, 128), (320, 640)),
    "conv2d": ((3, 3, 64, 128), (576, 1152)),
    "conv3d": ((3, 3, 3, 16, 32), (432, 864)),
    "depthwise": ((3, 3, 512, 1), (4608, 9)),
}

TRUNC = initializers.TRUNCATED_NORMAL_STD_CORRECTION

# (initializer, expected std as a function of (fan_in, fan_out), distribution),
# the formulas written out independently of the implementation.
CASES = {
    "he_normal": (HeNormal(seed=1), lambda i, o: math.sqrt(2 / i), "normal"),
    "he_normal_fan_out": (HeNormal(mode="fan_out", seed=1), lambda i, o: math.sqrt(2 / o), "normal"),
    "he_normal_leaky": (
        HeNormal(negative_slope=0.25, seed=1),
        lambda i, o: math.sqrt(2 / ((1 + 0.25**2) * i)),
        "normal",
    ),
    "he_normal_truncated": (HeNormal(truncated=True, seed=1), lambda i, o: math.sqrt(2 / i), "truncated"),
    "he_uniform": (HeUniform(seed=1), lambda i, o: math.sqrt(2 / i), "uniform"),
    "he_uniform_fan_out_leaky": (
        HeUniform(mode="fan_out", negative_slope=0.5, seed=1),
        lambda i, o: math.sqrt(2 / (1.25 * o)),
        "uniform",
    ),
    "glorot_uniform": (GlorotUniform(seed=1), lambda i, o: math.sqrt(2 / (i + o)), "uniform"),
    "glorot_normal": (GlorotNormal(seed=1), lambda i, o: math.sqrt(2 / (i + o)), "normal"),
    "glorot_normal_truncated": (
        GlorotNormal(truncated=True, seed=1), lambda i, o: math.sqrt(2 / (i + o)), "truncated"
    ),
    "lecun_normal": (LecunNormal(seed=1), lambda i, o: math.sqrt(1 / i), "normal"),
    "lecun_normal_truncated": (LecunNormal(truncated=True, seed=1), lambda i, o: math.sqrt(1 / i), "truncated"),
    "lecun_uniform": (LecunUniform(seed=1), lambda i, o: math.sqrt(1 / i), "uniform"),
    # Glorot & Bengio Eq. 1: U[-1/sqrt(n), 1/sqrt(n)] has variance 1 / (3n).
    "standard_uniform": (StandardUniform(seed=1), lambda i, o: 1 / math.sqrt(i), "uniform_limit"),
}


def _draw(initializer, shape):
    return keras.ops.convert_to_numpy(initializer(shape, dtype="float32")).astype(np.float64)


@pytest.mark.parametrize("shape_name", SHAPES)
@pytest.mark.parametrize("case", CASES)
def test_mean_and_std_match_formula(case, shape_name):
    initializer, expected, distribution = CASES[case]
    shape, (fan_in, fan_out) = SHAPES[shape_name]
    values = _draw(initializer, shape)
    n = values.size
    if distribution == "uniform_limit":
        limit = expected(fan_in, fan_out)
        std = limit / math.sqrt(3)
    else:
        std = expected(fan_in, fan_out)
    # 6-sigma bounds from the sampling distributions of the mean and of the
    # variance (Var[s^2] = sigma^4 (kurtosis - 1) / n; kurtosis <= 3 here).
    assert abs(values.mean()) < 6 * std / math.sqrt(n)
    assert abs(values.var() / std**2 - 1) < 6 * math.sqrt(2 / n)
    if distribution in ("uniform", "uniform_limit"):
        limit = std * math.sqrt(3)
        assert np.abs(values).max() <= limit * (1 + 1e-6)
        assert np.abs(values).max() > limit * 0.99
    elif distribution == "truncated":
        # Truncated at 2 std of the *uncorrected* Gaussian: std / TRUNC.
        assert np.abs(values).max() <= 2 * std / TRUNC * (1 + 1e-6)
    else:
        # Untruncated: P(|z| > 3) = 0.0027, so tails beyond 3 std must exist.
        beyond = np.mean(np.abs(values) > 3 * std)
        assert beyond > 0
        if n >= 100_000:
            assert 0.0015 < beyond < 0.004


def test_untruncated_differs_from_keras_truncated():
    ours = _draw(HeNormal(seed=3), (1000, 1000))
    keras_builtin = _draw(keras.initializers.HeNormal(seed=3), (1000, 1000))
    std = math.sqrt(2 / 1000)
    assert np.abs(ours).max() > 3 * std
    assert np.abs(keras_builtin).max() <= 2 * std / TRUNC * (1 + 1e-6)
    # Both have the same variance.
    assert abs(ours.std() / keras_builtin.std() - 1) < 0.01


def test_truncated_option_matches_keras_builtin_distribution():
    ours = _draw(HeNormal(truncated=True, seed=3), (1000, 1000))
    builtin = _draw(keras.initializers.HeNormal(seed=3), (1000, 1000))
    assert abs(ours.max() - builtin.max()) < 1e-3 * ours.max()
    assert abs(ours.std() / builtin.std() - 1) < 0.01


def test_standard_uniform_matches_pytorch_default_bound():
    # PyTorch's nn.Linear(in, out) default: kaiming_uniform(a=sqrt(5)) gives
    # bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + 5)) -> 1/sqrt(fan_in).
    fan_in = 300
    torch_bound = math.sqrt(2 / (1 + 5)) * math.sqrt(3 / fan_in)
    values = _draw(StandardUniform(seed=0), (fan_in, 100))
    assert np.abs(values).max() <= torch_bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.99 * torch_bound


@pytest.mark.parametrize("shape", [(64, 64), (256, 64), (64, 256), (3, 3, 16, 32)])
@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
def test_orthogonal_is_orthogonal(shape, gain):
    values = _draw(Orthogonal(gain=gain, seed=0), shape)
    matrix = values.reshape(-1, shape[-1]) / gain
    rows, cols = matrix.shape
    product = matrix.T @ matrix if rows >= cols else matrix @ matrix.T
    np.testing.assert_allclose(product, np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_rejects_vectors():
    with pytest.raises(ValueError, match="rank >= 2"):
        Orthogonal()((10,))


@pytest.mark.parametrize("shape", [(3, 8, 16), (3, 3, 16, 16), (5, 5, 4, 32), (3, 3, 3, 8, 8)])
def test_delta_orthogonal_zero_except_orthogonal_centre(shape):
    gain = 1.5
    values = _draw(DeltaOrthogonal(gain=gain, seed=0), shape)
    spatial = shape[:-2]
    centre_index = tuple(k // 2 for k in spatial)
    centre = values[centre_index]
    mask = np.ones(spatial, dtype=bool)
    mask[centre_index] = False
    assert np.all(values[mask] == 0)
    np.testing.assert_allclose(centre @ centre.T / gain**2, np.eye(shape[-2]), atol=1e-5)


@pytest.mark.parametrize(
    "shape, message",
    [
        ((3, 3, 32, 16), "in_channels <= out_channels"),
        ((64, 64), "convolution kernel"),
        ((2, 2, 8, 8), "odd spatial"),
        ((3, 3, 3, 3, 3, 8, 8), "rank 3 to 5"),  # rank 7: no such convolution
    ],
)
def test_delta_orthogonal_errors(shape, message):
    with pytest.raises(ValueError, match=message):
        DeltaOrthogonal()(shape)


def _circular_convolution_matrix(kernel, size):
    """The matrix of Keras's convolution (cross-correlation) of a (size,)*d x c_in signal with
    `kernel` under circular padding, rows = outputs, as numpy."""
    spatial, (c_in, c_out) = kernel.shape[:-2], kernel.shape[-2:]
    positions = list(np.ndindex(*(size,) * len(spatial)))
    index = {p: i for i, p in enumerate(positions)}
    matrix = np.zeros((len(positions) * c_out, len(positions) * c_in))
    for p in positions:
        for tap in np.ndindex(*spatial):
            q = tuple((a + b) % size for a, b in zip(p, tap))
            matrix[index[p] * c_out:(index[p] + 1) * c_out, index[q] * c_in:(index[q] + 1) * c_in] += kernel[tap].T
    return matrix


@pytest.mark.parametrize("shape", [(3, 3, 4, 4), (4, 4, 4, 4), (5, 5, 3, 3), (3, 6, 6), (3, 3, 2, 4), (2, 3, 4, 4)])
def test_convolution_orthogonal_is_an_isometry_under_circular_padding(shape):
    # Xiao et al. 2018, Sec. 3.1: every tap non-zero, yet the convolution preserves norms.
    kernel = _draw(ConvolutionOrthogonal(seed=1), shape).astype(np.float64)
    operator = _circular_convolution_matrix(kernel, size=6)
    np.testing.assert_allclose(operator.T @ operator, np.eye(operator.shape[1]), atol=2e-5)
    wide = _draw(ConvolutionOrthogonal(seed=1), (3, 3, 16, 16))
    assert np.all(np.linalg.norm(wide, axis=(2, 3)) > 0.1)  # every tap used: not a delta
    gained = _draw(ConvolutionOrthogonal(gain=1.5, seed=1), shape)
    np.testing.assert_allclose(gained, 1.5 * kernel, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape, message", [((3, 3, 8, 4), "in_channels <= out_channels"),
                                            ((16, 16), "convolution kernel")])
def test_convolution_orthogonal_errors(shape, message):
    with pytest.raises(ValueError, match=message):
        ConvolutionOrthogonal()(shape)


ALL_INSTANCES = [
    HeNormal(mode="fan_out", negative_slope=0.1, truncated=True, seed=4),
    HeUniform(mode="fan_out", negative_slope=0.1, seed=4),
    GlorotUniform(seed=4),
    GlorotNormal(truncated=True, seed=4),
    LecunNormal(seed=4),
    LecunUniform(seed=4),
    StandardUniform(seed=4),
    Orthogonal(gain=2.0, seed=4),
    DeltaOrthogonal(gain=2.0, seed=4),
    ConvolutionOrthogonal(gain=2.0, seed=4),
]
CONV_SHAPE = (3, 3, 8, 16)


@pytest.mark.parametrize("initializer", ALL_INSTANCES, ids=lambda i: type(i).__name__)
def test_same_seed_bit_identical(initializer):
    clone = type(initializer).from_config(initializer.get_config())
    first, second, third = _draw(initializer, CONV_SHAPE), _draw(initializer, CONV_SHAPE), _draw(clone, CONV_SHAPE)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, third)
    other = _draw(initializer.with_seed(5), CONV_SHAPE)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("initializer", ALL_INSTANCES, ids=lambda i: type(i).__name__)
def test_unseeded_instance_draws_fresh_values_each_call(initializer):
    unseeded = initializer.with_seed(None)
    assert not np.array_equal(_draw(unseeded, CONV_SHAPE), _draw(unseeded, CONV_SHAPE))


def test_unseeded_draws_follow_global_seed():
    initializer = HeNormal()
    keras.utils.set_random_seed(123)
    first = _draw(initializer, (50, 50))
    keras.utils.set_random_seed(123)
    second = _draw(initializer, (50, 50))
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("initializer", ALL_INSTANCES, ids=lambda i: type(i).__name__)
def test_config_round_trip(initializer):
    config = initializer.get_config()
    rebuilt = type(initializer).from_config(config)
    assert rebuilt.get_config() == config
    # get_config holds exactly the constructor's arguments.
    assert type(initializer)(**config).get_config() == config
    assert initializers.get(initializers.serialize(initializer)).get_config() == config


@pytest.mark.parametrize("initializer", ALL_INSTANCES, ids=lambda i: type(i).__name__)
def test_keras_file_round_trip(initializer, tmp_path):
    inputs = keras.Input((6, 6, 8))
    outputs = keras.layers.Conv2D(16, 3, kernel_initializer=initializer, name="conv")(inputs)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    loaded_initializer = loaded.get_layer("conv").kernel_initializer
    assert type(loaded_initializer) is type(initializer)
    assert loaded_initializer.get_config() == initializer.get_config()
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded.get_layer("conv").kernel),
        keras.ops.convert_to_numpy(model.get_layer("conv").kernel),
    )


@pytest.mark.parametrize(
    "name, cls",
    [
        ("he", HeNormal),
        ("he_normal", HeNormal),
        ("HeNormal", HeNormal),
        ("he_uniform", HeUniform),
        ("glorot", GlorotUniform),
        ("GlorotNormal", GlorotNormal),
        ("lecun", LecunNormal),
        ("lecun_uniform", LecunUniform),
        ("standard", StandardUniform),
        ("StandardUniform", StandardUniform),
        ("orthogonal", Orthogonal),
        ("delta_orthogonal", DeltaOrthogonal),
        ("convolution_orthogonal", ConvolutionOrthogonal),
    ],
)
def test_get_by_name(name, cls):
    assert type(initializers.get(name)) is cls


def test_every_class_has_snake_and_camel_names():
    names = initializers.valid_names()
    for cls in initializers._registry.INITIALIZER_CLASSES:
        assert cls.__name__ in names
        assert type(initializers.get(cls.__name__)) is cls


def test_get_keras_builtins_by_prefix():
    assert type(initializers.get("keras.he_normal")) is keras.initializers.HeNormal
    assert type(initializers.get("keras.GlorotUniform")) is keras.initializers.GlorotUniform
    built = initializers.get({"class_name": "keras.HeNormal", "config": {"seed": 7}})
    assert type(built) is keras.initializers.HeNormal
    assert built.get_config()["seed"] == 7
    assert initializers.serialize(built)["class_name"] == "keras.HeNormal"


def test_get_config_dict_and_instances():
    built = initializers.get({"class_name": "HeNormal", "config": {"mode": "fan_out", "seed": 3}})
    assert built.mode == "fan_out" and built.seed == 3
    instance = HeUniform()
    assert initializers.get(instance) is instance
    keras_instance = keras.initializers.Zeros()
    assert initializers.get(keras_instance) is keras_instance
    assert initializers.get(None) is None
    # The dict Keras writes when it serializes our classes also resolves.
    serialized = keras.saving.serialize_keras_object(HeNormal(seed=2))
    assert initializers.get(serialized).get_config() == HeNormal(seed=2).get_config()


@pytest.mark.parametrize(
    "identifier, message",
    [
        ("xavier_gaussian", "Valid names: he, glorot"),
        ("keras.not_an_initializer", "Unknown Keras built-in"),
        ({"class_name": "Nope", "config": {}}, "Valid names"),
        ({"config": {}}, "class_name"),
        (42, "name, a config dict"),
    ],
)
def test_get_errors(identifier, message):
    with pytest.raises(ValueError, match=message):
        initializers.get(identifier)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: HeNormal(mode="fan_avg"), "mode"),
        (lambda: HeUniform(mode="in"), "mode"),
        (lambda: HeNormal(negative_slope="0.1"), "negative_slope"),
        (lambda: HeNormal(negative_slope=float("nan")), "negative_slope"),
        (lambda: HeNormal(truncated="yes"), "truncated"),
        (lambda: GlorotNormal(truncated=1), "truncated"),
        (lambda: LecunNormal(truncated=None), "truncated"),
        (lambda: HeNormal(seed=-1), "seed"),
        (lambda: GlorotUniform(seed=1.5), "seed"),
        (lambda: StandardUniform(seed=True), "seed"),
        (lambda: LecunUniform(seed="1"), "seed"),
        (lambda: Orthogonal(gain=0.0), "gain"),
        (lambda: DeltaOrthogonal(gain=-1.0), "gain"),
        (lambda: Orthogonal(gain="relu"), "gain"),
        (lambda: Orthogonal(gain=float("inf")), "gain"),
        (lambda: DeltaOrthogonal(gain=np.float32("nan")), "gain"),
        (lambda: HeNormal(negative_slope=float("inf")), "negative_slope"),
        (lambda: HeNormal(negative_slope=1e155), "negative_slope"),  # 1 + a^2 overflows
        (lambda: HeUniform(negative_slope=-1e200), "negative_slope"),
        (lambda: HeNormal(seed=np.int64(-2)), "seed"),
        (lambda: HeNormal(seed=np.float64(3.0)), "seed"),
    ],
)
def test_bad_constructor_arguments_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("initializer", ALL_INSTANCES, ids=lambda i: type(i).__name__)
def test_bad_call_arguments_raise(initializer):
    with pytest.raises(ValueError, match="floating-point"):
        initializer(CONV_SHAPE, dtype="int32")
    with pytest.raises(ValueError, match="shape"):
        initializer((3, 0, 8, 16))
    with pytest.raises(ValueError, match="shape"):
        initializer("abc")


@pytest.mark.parametrize(
    "make, attribute, expected",
    [
        (lambda: Orthogonal(gain=np.float32(2)), "gain", 2.0),
        (lambda: DeltaOrthogonal(gain=np.float64(1.5)), "gain", 1.5),
        (lambda: HeNormal(negative_slope=np.float32(0.25)), "negative_slope", 0.25),
        (lambda: HeUniform(negative_slope=np.int32(1)), "negative_slope", 1.0),
        (lambda: HeNormal(truncated=np.bool_(True)), "truncated", True),
        (lambda: GlorotUniform(seed=np.int64(7)), "seed", 7),
    ],
)
def test_numpy_scalar_arguments_are_accepted_as_python_values(make, attribute, expected):
    initializer = make()
    value = getattr(initializer, attribute)
    assert value == expected and type(value) is type(expected)
    # The config stays plain JSON (numpy scalars are not JSON-serializable).
    import json

    assert json.loads(json.dumps(initializer.get_config())) == initializer.get_config()


@pytest.mark.parametrize("shape", [(2.5, 4), (3, 3.0, 8, 16), (True, 4), ("3", 4)])
def test_non_integer_shape_dimensions_raise(shape):
    with pytest.raises(ValueError, match="tuple of ints"):
        HeNormal(seed=0)(shape)
    with pytest.raises(ValueError, match="tuple of ints"):
        initializers.compute_fans(shape)


def test_numpy_integer_shape_dimensions_are_accepted():
    values = HeNormal(seed=0)((np.int64(4), np.int32(3)))
    assert tuple(values.shape) == (4, 3)


def test_float64_and_bfloat16_draws():
    if keras.backend.backend() != "jax":  # JAX computes in float32 unless jax_enable_x64
        assert keras.backend.standardize_dtype(HeNormal(seed=0)((4, 4), dtype="float64").dtype) == "float64"
    assert keras.backend.standardize_dtype(Orthogonal(seed=0)((4, 4), dtype="bfloat16").dtype) == "bfloat16"


def test_gain_table():
    assert initializers.gain("relu") == pytest.approx(math.sqrt(2))
    assert initializers.gain("tanh") == pytest.approx(5 / 3)
    assert initializers.gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="valid"):
        initializers.gain("swish")


def _two_layer_kernels(initializer):
    model = keras.Sequential([keras.Input((16,)),
                              keras.layers.Dense(16, kernel_initializer=initializer),
                              keras.layers.Dense(16, kernel_initializer=initializer)])
    return [keras.ops.convert_to_numpy(layer.kernel) for layer in model.layers]


def test_one_unseeded_instance_shared_by_two_layers_gives_distinct_kernels():
    first, second = _two_layer_kernels(HeNormal())
    assert not np.array_equal(first, second)
    # The pitfall this avoids: Keras 3 fixes an unseeded instance's seed at construction.
    keras_first, keras_second = _two_layer_kernels(keras.initializers.HeNormal())
    np.testing.assert_array_equal(keras_first, keras_second)


_LOAD_IN_FRESH_PROCESS = """
import sys
import keras
path = sys.argv[1]
if sys.argv[2] == "keras":
    try:
        keras.saving.load_model(path)
    except TypeError as error:
        print("KERAS_FAILED", len(str(error)))
else:
    import initializers
    model = initializers.load_model(path)
    print(type(model.get_layer("conv").kernel_initializer).__name__)
"""


def test_load_model_in_a_fresh_process_registers_our_initializers(tmp_path):
    import subprocess
    import sys

    inputs = keras.Input((6, 6, 2))
    outputs = keras.layers.Conv2D(4, 3, kernel_initializer=HeNormal(seed=1), name="conv")(inputs)
    path = tmp_path / "model.keras"
    keras.Model(inputs, outputs).save(path)

    def load(how):
        result = subprocess.run([sys.executable, "-c", _LOAD_IN_FRESH_PROCESS, str(path), how],
                                capture_output=True, text=True, timeout=300,
                                cwd=pathlib.Path(__file__).resolve().parents[1])
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.strip().splitlines()[-1]

    # What users hit without our import: Keras cannot find the class (why docs/initializers.md says so).
    assert load("keras").startswith("KERAS_FAILED")
    assert load("ours") == "HeNormal"


def test_load_model_names_an_unregistered_class_in_one_line(tmp_path):
    @keras.saving.register_keras_serializable(package="test_only_unregistered")
    class Doubling(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    inputs = keras.Input((3,))
    path = tmp_path / "custom.keras"
    keras.Model(inputs, Doubling()(inputs)).save(path)
    keras.saving.get_custom_objects().pop("test_only_unregistered>Doubling")
    with pytest.raises(TypeError, match="the class 'Doubling', which is not registered") as info:
        initializers.load_model(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 500


@pytest.mark.parametrize("initializer, shape", [(Orthogonal(gain=1.5, seed=2), (3, 3, 4, 8)),
                                                (DeltaOrthogonal(gain=1.5, seed=2), (3, 3, 4, 8))])
def test_stack_draws_independent_orthogonal_kernels_at_once(initializer, shape):
    stacked = keras.ops.convert_to_numpy(initializer.stack(6, shape, dtype="float32"))
    assert stacked.shape == (6, *shape)
    for kernel in stacked:
        matrix = kernel[1, 1] if isinstance(initializer, DeltaOrthogonal) else kernel.reshape(-1, shape[-1])
        gram = matrix @ matrix.T if isinstance(initializer, DeltaOrthogonal) else matrix.T @ matrix
        np.testing.assert_allclose(gram, 2.25 * np.eye(gram.shape[0]), atol=1e-4)
    assert not np.allclose(stacked[0], stacked[1])
    if isinstance(initializer, DeltaOrthogonal):
        assert np.all(stacked[:, 0] == 0) and np.all(stacked[:, :, 0] == 0)
