"""A small transformer classifier, written as people write one in Keras.

Token embedding, then `blocks` post-LN encoder blocks (Vaswani et al. 2017, Sec. 3.1:
x = LayerNorm(x + MultiHeadAttention(x, x)), x = LayerNorm(x + FFN(x))), mean pooling
and a linear readout. The residual sums are `Add` layers, so the init doctor reports
each branch's scale against its shortcut. A demo net for `initialize_weights`, LSUV and
the doctor on attention, embeddings and EinsumDense kernels (no position embedding:
order does not matter for initialization; add one for real text).
"""

import keras

from initializers import initializer_factory

from models._checks import check_positive_ints


def TransformerClassifier(
    vocabulary_size=1000,
    sequence_length=32,
    width=64,
    heads=4,
    blocks=2,
    classes=4,
    activation="gelu",
    kernel_initializer="keras.GlorotUniform",
    name="transformer_classifier",
):
    """Embedding -> `blocks` x (MultiHeadAttention, feedforward) -> pooling -> Dense.

    Example:

    >>> model = TransformerClassifier(vocabulary_size=100, sequence_length=16, width=32)
    >>> model.output_shape
    (None, 4)

    Args:
        vocabulary_size: token ids are in [0, vocabulary_size).
        sequence_length: tokens per example.
        width: the model width d (embedding size); the feedforward is 4 d wide.
        heads: attention heads (`width` must be divisible by it).
        blocks: encoder blocks.
        classes: logits of the readout.
        activation: the feedforward's nonlinearity.
        kernel_initializer: identifier for every kernel (Keras's default by default, as in
            a model nobody re-initialized); embeddings keep Keras's default.
        name: model name.
    """
    check_positive_ints(vocabulary_size=vocabulary_size, sequence_length=sequence_length, width=width, heads=heads,
                        blocks=blocks, classes=classes)
    if width % heads:
        raise ValueError(f"`width` must be divisible by `heads`. Received: width={width}, heads={heads}")
    new_initializer = initializer_factory(kernel_initializer)
    tokens = keras.Input((sequence_length,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocabulary_size, width, name="embedding")(tokens)
    for block in range(blocks):
        attended = keras.layers.MultiHeadAttention(heads, width // heads, kernel_initializer=new_initializer(),
                                                   name=f"block{block}_attention")(x, x)
        x = keras.layers.Add(name=f"block{block}_attention_merge")([x, attended])
        x = keras.layers.LayerNormalization(name=f"block{block}_attention_norm")(x)
        hidden = keras.layers.Dense(4 * width, activation=activation, kernel_initializer=new_initializer(),
                                    name=f"block{block}_feedforward_in")(x)
        hidden = keras.layers.Dense(width, kernel_initializer=new_initializer(),
                                    name=f"block{block}_feedforward_out")(hidden)
        x = keras.layers.Add(name=f"block{block}_feedforward_merge")([x, hidden])
        x = keras.layers.LayerNormalization(name=f"block{block}_feedforward_norm")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    logits = keras.layers.Dense(classes, kernel_initializer=new_initializer(), name="head")(x)
    return keras.Model(tokens, logits, name=name)
