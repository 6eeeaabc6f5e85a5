"""Models as Keras and KerasHub build them, wrapped to train on this repository's data: the
"known-good" nets of the doctor's calibration panel (results/doctor), each keeping its own
initializers.

* `KerasApplication`: a `keras.applications` model (weights=None: nothing downloaded) on
  images of any channel count (a grey image is repeated into three channels first).
* `HubClassifier`: a KerasHub backbone (GPT-2, BERT, RoBERTa), built small, under mean
  pooling and a Dense readout, on token ids alone (padding mask of ones, segment ids 0).

KerasHub is imported only when a `HubClassifier` is built.
"""

import importlib

import keras

from models._checks import check_positive_ints

HUB_BACKBONES = {"gpt2": "GPT2Backbone", "bert": "BertBackbone", "roberta": "RobertaBackbone"}


def KerasApplication(application, input_shape=(32, 32, 3), num_classes=10, name=None, **kwargs):
    """`keras.applications.<application>(weights=None, classes=num_classes, ...)` on
    `input_shape` images; `kwargs` go to the application.

    Example:

    >>> model = KerasApplication("ResNet50", (32, 32, 1), 9)
    >>> model.output_shape
    (None, 9)
    """
    builder = getattr(keras.applications, application, None)
    if builder is None or not callable(builder):
        raise ValueError(f"`application` must name a keras.applications builder (e.g. ResNet50). "
                         f"Received: application={application!r}")
    height, width, channels = input_shape
    core = builder(weights=None, input_shape=(height, width, 3), classes=num_classes, **kwargs)
    inputs = keras.Input(tuple(input_shape), name="images")
    images = inputs if channels == 3 else keras.layers.Concatenate(name="to_rgb")([inputs] * (3 // channels))
    return keras.Model(inputs, core(images), name=name or f"{application.lower()}_{height}")


def HubClassifier(backbone="gpt2", vocabulary_size=1000, sequence_length=32, num_classes=9, num_layers=4,
                  hidden_dim=128, num_heads=4, intermediate_dim=512, name=None):
    """A KerasHub backbone (`HUB_BACKBONES`) with its own initializers -> mean pooling over
    the sequence -> Dense logits.

    Example:

    >>> model = HubClassifier("bert", vocabulary_size=100, sequence_length=16, num_layers=2, hidden_dim=32,
    ...                       num_heads=2, intermediate_dim=64)
    >>> model.output_shape
    (None, 9)
    """
    if backbone not in HUB_BACKBONES:
        raise ValueError(f"`backbone` must be one of {list(HUB_BACKBONES)}. Received: backbone={backbone!r}")
    check_positive_ints(vocabulary_size=vocabulary_size, sequence_length=sequence_length, num_classes=num_classes,
                        num_layers=num_layers, hidden_dim=hidden_dim, num_heads=num_heads,
                        intermediate_dim=intermediate_dim)
    keras_hub = importlib.import_module("keras_hub")
    core = getattr(keras_hub.models, HUB_BACKBONES[backbone])(
        vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads, hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim, max_sequence_length=sequence_length)
    tokens = keras.Input((sequence_length,), dtype="int32", name="token_ids")
    inputs = {"token_ids": tokens, "padding_mask": keras.ops.ones_like(tokens)}
    if "segment_ids" in core.input:
        inputs["segment_ids"] = keras.ops.zeros_like(tokens)
    features = core(inputs)
    sequence = features["sequence_output"] if isinstance(features, dict) else features
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(sequence)
    return keras.Model(tokens, keras.layers.Dense(num_classes, name="head")(pooled), name=name or f"{backbone}_classifier")
