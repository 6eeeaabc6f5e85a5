"""Layer-aware fans: what each layer computes, not what its kernel shape suggests."""

import keras
import pytest

from initializers import Fans, compute_fans, layer_fans


def _built(layer, input_shape):
    layer.build((None,) + input_shape)
    return layer


def test_compute_fans_matches_keras_convention():
    for shape in [(7,), (10, 20), (3, 8, 16), (3, 3, 8, 16), (2, 3, 3, 8, 16)]:
        assert compute_fans(shape) == keras.src.initializers.random_initializers.compute_fans(shape)


@pytest.mark.parametrize(
    "layer, input_shape, expected",
    [
        (keras.layers.Dense(20), (10,), {"kernel": Fans(10, 20)}),
        (keras.layers.Conv1D(16, 5), (32, 8), {"kernel": Fans(40, 80)}),
        (keras.layers.Conv2D(16, 3), (12, 12, 8), {"kernel": Fans(72, 144)}),
        (keras.layers.Conv3D(16, 3), (6, 6, 6, 8), {"kernel": Fans(216, 432)}),
        # Grouped conv: each input channel feeds only filters / groups outputs.
        (keras.layers.Conv2D(16, 3, groups=4), (12, 12, 8), {"kernel": Fans(18, 36)}),
        # Depthwise (3, 3, C, M): fan_in = kh * kw, fan_out = kh * kw * M.
        (keras.layers.DepthwiseConv2D(3, depth_multiplier=2), (12, 12, 8), {"kernel": Fans(9, 18)}),
        (keras.layers.DepthwiseConv1D(5), (20, 8), {"kernel": Fans(5, 5)}),
        # Transposed: kernel (kh, kw, out, in), axes swapped relative to Conv2D.
        (keras.layers.Conv2DTranspose(16, 3), (12, 12, 8), {"kernel": Fans(72, 144)}),
        (keras.layers.Conv1DTranspose(4, 3), (12, 8), {"kernel": Fans(24, 12)}),
        (
            keras.layers.SeparableConv2D(32, 3, depth_multiplier=2),
            (12, 12, 8),
            {"depthwise_kernel": Fans(9, 18), "pointwise_kernel": Fans(16, 32)},
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, keras.layers.Layer) else None,
)
def test_layer_fans(layer, input_shape, expected):
    assert layer_fans(_built(layer, input_shape)) == expected


def test_keras_shape_fans_are_wrong_for_depthwise_and_transpose():
    depthwise = _built(keras.layers.DepthwiseConv2D(3), (12, 12, 8))
    assert compute_fans(depthwise.kernel.shape).fan_in == 72  # Keras: 9 * C
    assert layer_fans(depthwise)["kernel"].fan_in == 9
    transpose = _built(keras.layers.Conv2DTranspose(16, 3), (12, 12, 8))
    assert compute_fans(transpose.kernel.shape) == (144, 72)  # in/out swapped
    assert layer_fans(transpose)["kernel"] == (72, 144)


def test_layer_without_kernel_raises():
    with pytest.raises(ValueError, match="no kernel with a known fan layout.*Supported"):
        layer_fans(_built(keras.layers.BatchNormalization(), (4,)))
    with pytest.raises(ValueError, match="no kernel"):
        layer_fans(keras.layers.Embedding(10, 4))


def test_unbuilt_layer_raises():
    with pytest.raises(ValueError, match="not built"):
        layer_fans(keras.layers.Dense(3))
