"""The two small models of the blog post this repository grew from.

Builders follow the `keras.applications` convention: a CamelCase function that
returns a functional `keras.Model`. Every weight layer takes `kernel_initializer`,
which accepts anything `initializers.get` does (our names, `"keras.<name>"` for a
Keras built-in, a config dict or an instance); each layer gets its own instance
and draw (`initializers.initializer_factory`: a seeded identifier gives every
layer a seed derived from it). Biases start at zero, as in both papers.
"""

import keras

from initializers import initializer_factory

from models._checks import check_positive_ints


def SimpleMLP(
    input_dim,
    hidden_dim,
    output_dim,
    kernel_initializer="he_normal",
    activation="relu",
    name="simple_mlp",
):
    """Two-layer perceptron: Dense(hidden_dim) -> activation -> Dense(output_dim).

    The blog post's `SimpleMLP(input_dim, hidden_dim, output_dim)`
    (`nn.Linear -> nn.ReLU -> nn.Linear`). The output is logits (no softmax), so
    train it with `from_logits=True`.

    Example:

    >>> model = SimpleMLP(784, 256, 10, kernel_initializer="he_normal")
    >>> model.output_shape
    (None, 10)

    Args:
        input_dim: number of input features.
        hidden_dim: width of the hidden layer.
        output_dim: number of outputs (logits).
        kernel_initializer: initializer identifier for both kernels.
        activation: hidden activation.
        name: model name.
    """
    check_positive_ints(input_dim=input_dim, hidden_dim=hidden_dim, output_dim=output_dim)
    new_initializer = initializer_factory(kernel_initializer)
    inputs = keras.Input((input_dim,), name="features")
    hidden = keras.layers.Dense(
        hidden_dim, activation=activation, kernel_initializer=new_initializer(), name="hidden"
    )(inputs)
    logits = keras.layers.Dense(
        output_dim, kernel_initializer=new_initializer(), name="logits"
    )(hidden)
    return keras.Model(inputs, logits, name=name)


def CustomNet(
    input_shape=(32, 32, 3),
    num_classes=10,
    kernel_initializer="he_normal",
    activation="relu",
    name="custom_net",
):
    """Small CNN: 2 x (Conv3x3 -> activation -> MaxPool2) -> Dense(128) -> Dense(classes).

    Our Keras version of the blog post's `CustomNet` demo CNN (the post shows only
    its use, so channel counts 16/32 and the 128-unit hidden layer are our
    choice). Outputs logits.

    Example:

    >>> model = CustomNet((32, 32, 3), 10, kernel_initializer="orthogonal")
    >>> model.output_shape
    (None, 10)

    Args:
        input_shape: (height, width, channels) of the images.
        num_classes: number of outputs (logits).
        kernel_initializer: initializer identifier for every kernel.
        activation: activation after every hidden layer.
        name: model name.
    """
    if len(tuple(input_shape)) != 3:
        raise ValueError(
            f"`input_shape` must be (height, width, channels). Received: input_shape={input_shape}"
        )
    check_positive_ints(num_classes=num_classes)
    new_initializer = initializer_factory(kernel_initializer)
    inputs = keras.Input(tuple(input_shape), name="images")
    x = inputs
    for index, filters in enumerate((16, 32), start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation=activation,
                                kernel_initializer=new_initializer(), name=f"conv{index}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{index}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, activation=activation, kernel_initializer=new_initializer(),
                           name="fc1")(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer=new_initializer(),
                                name="logits")(x)
    return keras.Model(inputs, logits, name=name)
