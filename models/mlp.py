"""The deep fully connected net of Glorot & Bengio 2010.

What comes from the paper (Sec. 2.3 and Table 1): 1 to 5 hidden layers of 1000
units each, the same activation in every hidden layer (sigmoid, tanh or softsign
x / (1 + |x|)), a softmax output layer, biases 0. Depth 5 gave their Table 1.

Our choices: the output layer emits logits (the softmax is in the loss,
`from_logits=True`, which is the same cost -log P(y|x) computed stably);
`width` is configurable so the same topology runs on a CPU; the input is a flat
feature vector (flatten images first, e.g. `reproductions.data.load(...,
flatten=True)`).

Layer names are `hidden1` ... `hidden<depth>` and `logits`, which the
diagnostics (`initializers.diagnostics`) report per layer.
"""

import keras

from initializers import initializer_factory

from models._checks import check_positive_ints

ACTIVATIONS = ("sigmoid", "tanh", "softsign", "relu", "linear")


def DeepMLP(
    input_dim,
    num_classes,
    depth=5,
    width=1000,
    activation="tanh",
    kernel_initializer="glorot_uniform",
    name="deep_mlp",
):
    """`depth` hidden Dense layers of `width` units with `activation`, then logits.

    Example:

    >>> model = DeepMLP(1024, 9, depth=5, width=1000, activation="softsign",
    ...                 kernel_initializer="standard_uniform")
    >>> [layer.name for layer in model.layers[1:]]
    ['hidden1', 'hidden2', 'hidden3', 'hidden4', 'hidden5', 'logits']

    Args:
        input_dim: number of input features (1024 for flattened 32x32 Shapeset).
        num_classes: number of outputs (logits).
        depth: number of hidden layers (the paper: 1 to 5).
        width: units per hidden layer (the paper: 1000).
        activation: one of `ACTIVATIONS`, the same in every hidden layer.
        kernel_initializer: initializer identifier for every kernel (anything
            `initializers.get` accepts; each layer gets its own draw); biases start
            at zero.
        name: model name.
    """
    check_positive_ints(input_dim=input_dim, num_classes=num_classes, depth=depth, width=width)
    if activation not in ACTIVATIONS:
        raise ValueError(f"Unknown activation; valid: {', '.join(ACTIVATIONS)}. "
                         f"Received: activation={activation!r}")
    new_initializer = initializer_factory(kernel_initializer)
    inputs = keras.Input((input_dim,), name="features")
    x = inputs
    for index in range(1, depth + 1):
        x = keras.layers.Dense(width, activation=activation, kernel_initializer=new_initializer(),
                               bias_initializer="zeros", name=f"hidden{index}")(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer=new_initializer(),
                                bias_initializer="zeros", name="logits")(x)
    return keras.Model(inputs, logits, name=name)
