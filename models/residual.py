"""A deep residual MLP, with or without normalization: the net whose initialization Fixup
(Zhang et al. 2019), SkipInit (De & Smith 2020) and ReZero (Bachlechner et al. 2020) are about.

`blocks` residual blocks x <- x + W2 relu(W1 n(x)) of `width` units, n the block's
normalization (none, LayerNorm: Pre-LN, or BatchNorm), between a Dense stem and a Dense
readout on relu(x). The residual sums are `Add` layers named `block<i>_merge`, so the init
doctor reads the stream at them. With He's init and no normalization every branch adds a
variance about as large as the stream's: the stream's variance doubles per block, 2^blocks
over the net (the known-bad case of the doctor's calibration panel, results/doctor).
"""

import keras

from initializers import initializer_factory

from models._checks import check_positive_ints

NORMALIZATIONS = {None: None, "layer": keras.layers.LayerNormalization, "batch": keras.layers.BatchNormalization}


def ResidualMLP(
    input_dim,
    num_classes,
    blocks=50,
    width=256,
    normalization=None,
    kernel_initializer="he_normal",
    name="residual_mlp",
):
    """Dense stem -> `blocks` x (x + W2 relu(W1 n(x))) -> relu -> Dense logits.

    Example:

    >>> model = ResidualMLP(1024, 9, blocks=4, width=64)
    >>> [layer.name for layer in model.layers if "merge" in layer.name]
    ['block0_merge', 'block1_merge', 'block2_merge', 'block3_merge']

    Args:
        input_dim: features per example.
        num_classes: logits of the readout.
        blocks: residual blocks.
        width: units of the stream and of every branch layer.
        normalization: None, "layer" (LayerNormalization on each branch's input, Pre-LN)
            or "batch" (BatchNormalization there).
        kernel_initializer: identifier for every kernel (one fresh instance per layer).
        name: model name.
    """
    check_positive_ints(input_dim=input_dim, num_classes=num_classes, blocks=blocks, width=width)
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"`normalization` must be one of {list(NORMALIZATIONS)}. "
                         f"Received: normalization={normalization!r}")
    new_initializer = initializer_factory(kernel_initializer)
    inputs = keras.Input((input_dim,), name="features")
    x = keras.layers.Dense(width, kernel_initializer=new_initializer(), name="stem")(inputs)
    for block in range(blocks):
        branch = x if normalization is None else NORMALIZATIONS[normalization](name=f"block{block}_norm")(x)
        branch = keras.layers.Dense(width, activation="relu", kernel_initializer=new_initializer(),
                                    name=f"block{block}_in")(branch)
        branch = keras.layers.Dense(width, kernel_initializer=new_initializer(), name=f"block{block}_out")(branch)
        x = keras.layers.Add(name=f"block{block}_merge")([x, branch])
    x = keras.layers.ReLU(name="stream_relu")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, kernel_initializer=new_initializer(),
                                                  name="logits")(x), name=name)
