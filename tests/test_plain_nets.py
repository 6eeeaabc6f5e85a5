"""He et al. 2015 plain nets: layer counts, layout, no BatchNorm, options."""

import keras
import pytest

from models import PlainNet, build, weight_layers


@pytest.mark.parametrize("depth, convs", [(22, 19), (30, 27)])
def test_weight_layer_counts(depth, convs):
    model = PlainNet(depth, width_multiplier=1 / 32, input_shape=(32, 32, 1), num_classes=9)
    layers = weight_layers(model)
    assert len(layers) == depth
    assert sum(isinstance(l, keras.layers.Conv2D) for l in layers) == convs
    assert sum(isinstance(l, keras.layers.Dense) for l in layers) == 3
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in model.layers)
    assert model.output_shape == (None, 9)


def test_thirty_layer_net_adds_sixteen_2x2_convs_of_256_filters():
    model = PlainNet(30, width_multiplier=1.0, input_shape=(64, 64, 3), num_classes=10)
    two_by_two = [l for l in weight_layers(model) if getattr(l, "kernel_size", None) == (2, 2)]
    assert len(two_by_two) == 16 and {l.filters for l in two_by_two} == {256}
    assert weight_layers(model)[0].kernel_size == (7, 7) and weight_layers(model)[0].strides == (2, 2)


def test_width_multiplier_scales_widths_and_every_layer_is_relu():
    model = PlainNet(22, width_multiplier=1 / 32, input_shape=(32, 32, 1), num_classes=9)
    widths = [l.filters if isinstance(l, keras.layers.Conv2D) else l.units for l in weight_layers(model)]
    assert widths == [3] + [8] * 6 + [16] * 12 + [128, 128, 9]
    assert sum(isinstance(l, keras.layers.ReLU) for l in model.layers) == 21  # all but the logits


def test_prelu_option_and_registry():
    model = build("plain_net", depth=22, width_multiplier=1 / 32, input_shape=[32, 32, 1],
                  num_classes=9, activation="prelu")
    prelus = [l for l in model.layers if isinstance(l, keras.layers.PReLU)]
    assert len(prelus) == 21
    assert float(keras.ops.convert_to_numpy(prelus[0].alpha).mean()) == pytest.approx(0.25)


@pytest.mark.parametrize("kwargs, message", [
    (dict(depth=6), "depth"),
    (dict(depth=22.0), "depth"),
    (dict(activation="tanh"), "activation"),
    (dict(width_multiplier=0), "width_multiplier"),
    (dict(kernel_initializer="bogus"), "Valid names"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PlainNet(**{"input_shape": (32, 32, 1), "num_classes": 9, **kwargs})


@pytest.mark.parametrize("depth", [7, 10, 14, 38])
def test_any_depth_builds_with_that_many_weight_layers(depth):
    model = PlainNet(depth, width_multiplier=1 / 32, input_shape=(32, 32, 1), num_classes=9)
    layers = weight_layers(model)
    assert len(layers) == depth and layers[0].name == "stem" and layers[-1].name == "logits"
    assert all(l.kernel_size == (3, 3) for l in layers[1:-3])


@pytest.mark.parametrize("stem, maps", [("paper", (8, 4, 2)), ("small_images", (32, 16, 8))])
def test_stem_sets_the_stage_maps_of_small_images(stem, maps):
    model = PlainNet(30, width_multiplier=1 / 16, input_shape=(32, 32, 1), num_classes=9, stem=stem)
    layers = weight_layers(model)
    assert len(layers) == 30 and layers[0].strides == ((2, 2) if stem == "paper" else (1, 1))
    stage_maps = [next(l.output.shape[1] for l in layers if l.name.startswith(f"stage{s}_")) for s in (1, 2, 3)]
    assert tuple(stage_maps) == maps
    assert ("stem_pool" in [l.name for l in model.layers]) == (stem == "paper")


def test_unknown_stem_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"\('paper', 'small_images'\). Received: stem='tiny'"):
        PlainNet(22, input_shape=(32, 32, 1), num_classes=9, stem="tiny")
