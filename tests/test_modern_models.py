"""Initialization, LSUV and the doctor on the models people build today: transformers,
recurrent nets, nested and subclassed models, several inputs, any output, any activation
(`auto` from mean-field theory), and models nobody here wrote (keras.applications,
KerasHub)."""

import math

import keras
import keras_hub
import numpy as np
import pytest

import models

from initializers import Orthogonal, auto_initializer, auto_rule, initialize_weights, lsuv
from initializers.diagnostics.gradients import autodiff_gradients
from initializers.diagnostics.tracing import leaf_layers, random_inputs, trace
from initializers.doctor import examine
from initializers.doctor.measure import measure_traced
from initializers.variance_scaling import LecunNormal, VarianceScaling


def _numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value))


# ------------------------------------------------------------------ models nobody here wrote


def transformer_classifier(width=32, heads=4):
    """Embedding -> MultiHeadAttention -> LayerNormalization -> Dense, the issue's transformer."""
    return models.TransformerClassifier(vocabulary_size=50, sequence_length=12, width=width, heads=heads,
                                        blocks=1, classes=5)


def lstm_classifier():
    tokens = keras.Input((10,), dtype="int32")
    x = keras.layers.Embedding(40, 16)(tokens)
    x = keras.layers.LSTM(24, name="lstm")(x)
    return keras.Model(tokens, keras.layers.Dense(3)(x))


def gru_sequence_model():
    inputs = keras.Input((10, 6))
    x = keras.layers.GRU(16, return_sequences=True, name="gru")(inputs)
    x = keras.layers.Bidirectional(keras.layers.SimpleRNN(8, return_sequences=True))(x)
    return keras.Model(inputs, keras.layers.Dense(4)(x))  # a class per time step


class SubclassedMLP(keras.Model):
    def __init__(self):
        super().__init__()
        self.first = keras.layers.Dense(64, activation="relu")
        self.second = keras.layers.Dense(64, activation="elu")
        self.head = keras.layers.Dense(3)

    def call(self, inputs):
        return self.head(self.second(self.first(inputs)))


def subclassed_mlp():
    model = SubclassedMLP()
    model(np.zeros((2, 8), "float32"))
    return model


def two_input_model():
    image = keras.Input((8, 8, 3), name="image")
    numbers = keras.Input((5,), name="numbers")
    x = keras.layers.Flatten()(keras.layers.Conv2D(8, 3, activation="relu")(image))
    x = keras.layers.Concatenate()([x, keras.layers.Dense(16, activation="relu")(numbers)])
    return keras.Model({"image": image, "numbers": numbers}, keras.layers.Dense(4)(x))


def segmentation_net():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
    return keras.Model(inputs, keras.layers.Conv2D(5, 1)(x))  # 5 classes per pixel


def separable_net():
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.SeparableConv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.DepthwiseConv2D(3, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))


def nested_model():
    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(32, activation="relu")], name="inner")
    inputs = keras.Input((8,))
    return keras.Model(inputs, keras.layers.Dense(3)(inner(inputs)))


def regressor():
    inputs = keras.Input((8,))
    x = keras.layers.Dense(64, activation="relu")(inputs)
    x = keras.layers.Dense(64, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def conv_lstm():
    inputs = keras.Input((3, 8, 8, 2))
    x = keras.layers.ConvLSTM2D(4, 3, padding="same")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))


OWN_MODELS = {
    "transformer": transformer_classifier, "lstm": lstm_classifier, "gru": gru_sequence_model,
    "subclassed": subclassed_mlp, "two_inputs": two_input_model, "segmentation": segmentation_net,
    "nested": nested_model, "regressor": regressor, "conv_lstm": conv_lstm,
    # Regression: the functional autodiff asked a SeparableConv2D for its (absent) `kernel`.
    "separable": separable_net,
}


def _batch(model, name):
    if name == "subclassed":  # no symbolic inputs: the caller passes a batch
        return np.random.default_rng(0).standard_normal((8, 8)).astype("float32")
    return random_inputs(model, 8, seed=0)


@pytest.mark.parametrize("name", sorted(OWN_MODELS))
def test_own_models_initialize_lsuv_and_examine(name):
    # Regression: "does not know how to initialize these weights" (Embedding, LSTM, GRU,
    # MultiHeadAttention), "sits inside a nested model", "unsupported layer", and the
    # (batch, classes)-only doctor.
    keras.utils.set_random_seed(0)
    model = OWN_MODELS[name]()
    batch = _batch(model, name)
    for method in ("auto", "he", "orthogonal", "glorot"):
        records = initialize_weights(model, method, seed=0)
        assert all(math.isfinite(r.std) and r.std > 0 for r in records), records
    before = [_numpy(v) for v in model.weights]
    report = examine(model, batch, methods=("current", "auto", "lsuv"))
    for variable, value in zip(model.weights, before):  # candidates are drawn, then undone
        np.testing.assert_array_equal(_numpy(variable), value)
    for result in report.results.values():
        assert 0 < result.forward_gain < math.inf and 0 < result.backward_gain < math.inf, result
    assert report.to_markdown().startswith("# Init doctor") and report.to_json()
    lsuv_records = lsuv(model, batch, seed=0)
    rescaled = [r for r in lsuv_records if r.status == "converged"]
    assert rescaled and all(abs(r.variance - 1) < 0.1 for r in rescaled)


def test_auto_on_a_transformer_names_each_rule_and_fans_from_the_einsum():
    model = transformer_classifier(width=32, heads=4)
    records = {(r.layer, r.weight): r for r in initialize_weights(model, "auto", seed=0)}
    embedding = records[("embedding", "embeddings")]
    assert embedding.fan_in == 1 and embedding.target_std == 1.0 and "embedding" in embedding.rule
    query = records[("query", "kernel")]  # (32, 4, 8): contracts the model width
    assert (query.fan_in, query.fan_out) == (32, 32) and query.method == "LecunNormal"
    output = records[("attention_output", "kernel")]  # (4, 8, 32): contracts heads x head size
    assert (output.fan_in, output.fan_out) == (32, 32)
    gelu = records[("block0_feedforward_in", "kernel")]
    assert gelu.method == "VarianceScaling" and "unstable" in gelu.rule and gelu.drift_per_layer > 1.1
    assert gelu.target_std == pytest.approx(math.sqrt(auto_rule("gelu").sigma_w2 / 32))


def test_orthogonal_einsum_kernel_is_orthogonal_between_contracted_and_other_axes():
    model = transformer_classifier(width=32, heads=4)
    initialize_weights(model, Orthogonal(), seed=0)
    attention = model.get_layer("block0_attention")
    query = _numpy(attention._query_dense.kernel).reshape(32, 32)  # (model width, heads x size)
    np.testing.assert_allclose(query.T @ query, np.eye(32), atol=1e-5)
    output = _numpy(attention._output_dense.kernel).reshape(32, 32)  # (heads x size, model width)
    np.testing.assert_allclose(output.T @ output, np.eye(32), atol=1e-5)


def test_recurrent_cells_orthogonal_per_gate_forget_bias_kept():
    model = lstm_classifier()
    records = {r.weight: r for r in initialize_weights(model, "auto", seed=0, bias=0.0) if r.layer == "lstm_cell"}
    cell = model.get_layer("lstm").cell
    recurrent = _numpy(cell.recurrent_kernel)
    for gate in range(4):  # Saxe et al. 2014: each gate's (units x units) block orthogonal
        block = recurrent[:, gate * 24:(gate + 1) * 24]
        np.testing.assert_allclose(block.T @ block, np.eye(24), atol=1e-5)
    assert not np.allclose(recurrent[:, :24], recurrent[:, 24:48])
    bias = _numpy(cell.bias)
    assert np.all(bias[24:48] == 1.0) and np.all(bias[:24] == 0) and np.all(bias[48:] == 0)
    kernel = records["kernel"]  # fans of one gate: (16 inputs, 24 units), tanh -> LeCun
    assert (kernel.fan_in, kernel.fan_out) == (16, 24) and kernel.target_std == pytest.approx(0.25)


def test_depth_scaled_residuals_scale_branch_ends_by_one_over_sqrt_n():
    model = transformer_classifier()
    plain = {r.layer: r for r in initialize_weights(model, "he", seed=0)}
    scaled = {r.layer: r for r in initialize_weights(model, "he", seed=0, depth_scaled_residuals=True)}
    for layer in ("attention_output", "block0_feedforward_out"):  # the two branch ends (N = 2)
        assert scaled[layer].target_std == pytest.approx(plain[layer].target_std / math.sqrt(2))
        assert "residual branch" in scaled[layer].rule
    assert scaled["query"].target_std == plain["query"].target_std
    # Names that repeat in a model (every block's "query") are told apart by their path.
    two_blocks = models.TransformerClassifier(vocabulary_size=50, sequence_length=8, width=16, heads=2, blocks=2)
    labels = [r.layer for r in initialize_weights(two_blocks, "he", seed=0)]
    assert "block0_attention/query" in labels and "block1_attention/query" in labels
    assert "block0_feedforward_in" in labels
    with pytest.raises(ValueError, match="no kernel ends a residual branch"):
        initialize_weights(regressor(), "he", depth_scaled_residuals=True)


def test_traced_gradients_equal_the_functional_autodiff_on_a_dense_chain():
    # Two independent routes to d loss / d (layer output): a tapped clone of the graph,
    # and taps added inside the layers' calls.
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="tanh"),
                              keras.layers.Dense(32, activation="relu"), keras.layers.Dense(4)])
    batch = np.random.default_rng(1).standard_normal((6, 8)).astype("float32")
    labels = np.array([0, 1, 2, 3, 0, 1])
    functional, kernels = autodiff_gradients(model, batch, labels)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    rows, _, _ = measure_traced(model, batch, lambda outputs: loss(labels, outputs))
    for row, gradient, kernel_gradient in zip(rows, functional, kernels):
        assert row.gradient_rms == pytest.approx(float(np.sqrt(np.mean(gradient ** 2))), rel=1e-5)
        assert row.weight_gradient_norm == pytest.approx(float(np.linalg.norm(kernel_gradient)), rel=1e-5)


def test_random_inputs_respect_vocabulary_masks_and_dtypes():
    tokens = keras.Input((7,), dtype="int32", name="token_ids")
    mask = keras.Input((7,), dtype="int32", name="padding_mask")
    x = keras.layers.Embedding(13, 4)(tokens)
    x = x * keras.ops.expand_dims(keras.ops.cast(mask, "float32"), -1)
    model = keras.Model({"token_ids": tokens, "padding_mask": mask}, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    batch = random_inputs(model, 5, seed=0)
    assert batch["token_ids"].dtype == np.int32 and batch["token_ids"].max() < 13
    assert np.all(batch["padding_mask"] == 1) and batch["token_ids"].shape == (5, 7)
    # A Rescaling input layer (MobileNetV3's pixels) sees N(0, 1) after its own scaling.
    inputs = keras.Input((4, 4, 3))
    rescaled = keras.Model(inputs, keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs))
    values = _numpy(rescaled(random_inputs(rescaled, 64, seed=0)))
    assert abs(values.mean()) < 0.1 and abs(values.std() - 1) < 0.1


def test_compiled_loss_and_surrogates_are_stated():
    segmentation = segmentation_net()
    report = examine(segmentation, methods=("current",))
    assert any("at every position" in note for note in report.notes)
    compiled = regressor()
    compiled.compile(loss="mse")
    report = examine(compiled, methods=("current",))
    assert any("compiled loss (mean_squared_error)" in note for note in report.notes)
    assert report.results["current"].backward_gain > 0


def test_trace_measures_leaves_in_call_order_inside_nested_models():
    model = nested_model()
    layers, outputs, _ = trace(model, np.ones((2, 8), "float32"))
    assert [layer.name for layer in layers] == [layer.name for layer in leaf_layers(model)]
    assert len(layers) == 3 and all(o.shape[0] == 2 for o in outputs)


# ------------------------------------------------------------------ auto for any activation


@pytest.mark.parametrize("activation, sigma_w2, rule", [
    ("relu", 2.0, "unit fixed point"),
    ("tanh", 1.0, "critical point"),
    ("softsign", 1.0, "critical point"),
    ("linear", 1.0, "unit fixed point"),
])
def test_auto_rule_reproduces_the_named_rules(activation, sigma_w2, rule):
    found = auto_rule(activation)
    assert found.sigma_w2 == pytest.approx(sigma_w2, rel=1e-9) and found.rule == rule and found.stable


def test_auto_rule_leaky_relu_selu_and_initializers():
    assert auto_rule("leaky_relu", 0.3).sigma_w2 == pytest.approx(2 / 1.09, rel=1e-9)
    assert auto_rule("selu").sigma_w2 == pytest.approx(1.0, rel=1e-4)  # Klambauer et al.'s constants
    assert isinstance(auto_initializer("selu"), LecunNormal)
    elu = auto_initializer("elu")
    assert isinstance(elu, VarianceScaling) and elu.scale == pytest.approx(1.5505, rel=1e-3)


@pytest.mark.parametrize("activation, stable", [("elu", True), ("softplus", True), ("swish", False),
                                                 ("silu", False), ("gelu", False), ("mish", False)])
def test_auto_rule_stability_of_the_unit_fixed_point(activation, stable):
    found = auto_rule(activation)
    assert found.stable == stable
    assert (found.drift_per_layer > 1.05) == (not stable)
    assert ("unstable" in found.describe()) == (not stable)


def test_auto_rule_takes_any_elementwise_callable_and_refuses_others():
    def scaled_tanh(x):
        return 2.0 * keras.ops.tanh(x)

    assert auto_rule(scaled_tanh).sigma_w2 == pytest.approx(0.25, rel=1e-4)  # 1 / phi'(0)^2
    with pytest.raises(ValueError, match="elementwise"):
        auto_rule("glu")
    with pytest.raises(ValueError, match="knows no activation"):
        auto_rule("not_an_activation")


def _deep_mlp(activation, depth=30, width=256):
    inputs = keras.Input((width,))
    x = inputs
    for _ in range(depth):
        x = keras.layers.Dense(width, activation=activation)(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


@pytest.mark.parametrize("activation", ["elu", "softplus"])
def test_auto_keeps_deep_elu_and_softplus_signals_within_2x(activation):
    # The check: 30 layers of width 256, N(0, 1) inputs; He (gain sqrt(2) by name)
    # let such nets grow ~3x; the stable unit fixed point keeps them.
    for seed in range(2):
        keras.utils.set_random_seed(seed)
        batch = np.random.default_rng(seed).standard_normal((64, 256)).astype("float32")
        report = examine(_deep_mlp(activation), batch, methods=("auto",), seed=seed)
        assert 0.5 < report.results["auto"].forward_gain < 2.0, report.results["auto"].forward_gain


@pytest.mark.parametrize("activation", ["swish", "gelu"])
def test_auto_says_it_cannot_keep_swish_and_gelu_and_the_doctor_recommends_lsuv(activation):
    keras.utils.set_random_seed(0)
    model = _deep_mlp(activation)
    records = initialize_weights(model, "auto", seed=0)
    assert all("unstable" in r.rule for r in records[:-1]) and records[0].drift_per_layer > 1.1
    batch = np.random.default_rng(0).standard_normal((64, 256)).astype("float32")
    report = examine(model, batch, methods=("auto", "lsuv"))
    assert any("unstable" in note and "LSUV" in note for note in report.notes)
    assert report.recommended == "lsuv"
    assert report.results["auto"].forward_gain > 2.0  # the drift the records announce


# ------------------------------------------------------------------ keras.applications and KerasHub

# Every keras.applications model that builds offline with weights=None; the smallest input
# each allows. The fast ones run in CI; the rest are marked slow (`pytest -m slow`).
APPLICATIONS = {
    "MobileNetV3Small": {"input_shape": (32, 32, 3)},
    "ConvNeXtTiny": {"input_shape": (32, 32, 3)},
    "EfficientNetV2B0": {"input_shape": (32, 32, 3)},
    "DenseNet121": {"input_shape": (32, 32, 3)},
    "MobileNet": {"input_shape": (32, 32, 3)},
    "MobileNetV3Large": {"input_shape": (32, 32, 3)},
    "NASNetMobile": {"input_shape": (32, 32, 3)},
    "ResNet50V2": {"input_shape": (32, 32, 3)},
    "ResNet101": {"input_shape": (32, 32, 3)},
    "Xception": {"input_shape": (71, 71, 3)},
    "InceptionV3": {"input_shape": (75, 75, 3)},
    "InceptionResNetV2": {"input_shape": (75, 75, 3)},
    "EfficientNetB0": {"input_shape": (32, 32, 3)},
    "VGG19": {"input_shape": (32, 32, 3)},
    "ConvNeXtSmall": {"input_shape": (32, 32, 3)},
    "EfficientNetV2S": {"input_shape": (32, 32, 3)},
}
FAST_APPLICATIONS = ("MobileNetV3Small", "ConvNeXtTiny")


@pytest.mark.parametrize("builder", [
    pytest.param(name, marks=() if name in FAST_APPLICATIONS else pytest.mark.slow) for name in APPLICATIONS])
def test_keras_applications_initialize_and_examine(builder):
    # Regression: ConvNeXt ("sits inside a nested model") and MobileNetV3Small (a crash in
    # the probe on its dynamic spatial shapes).
    model = getattr(keras.applications, builder)(weights=None, classes=10, **APPLICATIONS[builder])
    records = initialize_weights(model, "auto", seed=0)
    assert records and all(math.isfinite(r.std) for r in records)
    report = examine(model, methods=("current", "auto"))
    assert len(report.results["auto"].layers) >= len(records) // 2
    assert report.to_markdown()


def _hub_backbones():
    small = dict(vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64,
                 max_sequence_length=16)
    return {"bert": keras_hub.models.BertBackbone(**small), "gpt2": keras_hub.models.GPT2Backbone(**small)}


def test_keras_hub_backbones_initialize_lsuv_and_examine():
    for name, backbone in _hub_backbones().items():
        records = initialize_weights(backbone, "auto", seed=0)
        tables = [r for r in records if r.weight == "embeddings"]
        # Tied token embeddings (ReversibleEmbedding): every table at the readout's 1/sqrt(d).
        assert tables and all(r.target_std == pytest.approx(1 / math.sqrt(32)) for r in tables), name
        if name == "gpt2":
            scaled = initialize_weights(backbone, "auto", seed=0, depth_scaled_residuals=True)
            assert sum("residual branch" in r.rule for r in scaled) == 4  # 2 blocks x (attention, MLP)
        batch = random_inputs(backbone, 4, seed=0)
        assert batch["token_ids"].max() < 100 and np.all(batch["padding_mask"] == 1)
        report = examine(backbone, batch, methods=("current", "auto", "lsuv"))
        assert len(report.results["auto"].layers) == len(leaf_layers(backbone))
        assert all(0 < r.forward_gain < math.inf for r in report.results.values())
        assert any("gelu" in note for note in report.notes)  # the drift of the feedforward's GELU
        converged = [r for r in lsuv(backbone, batch, seed=0) if r.status == "converged"]
        assert len(converged) >= 12


def test_keras_hub_task_models_initialize_lsuv_and_examine():
    # Task models around the backbones: a classifier head, and a causal LM whose logits come
    # from the tied embedding called a second time (measured at its first call).
    backbones = _hub_backbones()
    for model in (keras_hub.models.BertTextClassifier(backbones["bert"], num_classes=3, preprocessor=None),
                  keras_hub.models.GPT2CausalLM(backbones["gpt2"], preprocessor=None)):
        assert initialize_weights(model, "auto", seed=0)
        batch = random_inputs(model, 4, seed=0)
        report = examine(model, batch, methods=("current", "lsuv"))
        assert all(0 < r.forward_gain < math.inf and 0 < r.backward_gain < math.inf for r in report.results.values())
