"""A small transformer classifier, written as people write one in Keras.

Token embedding, then `blocks` post-LN encoder blocks (Vaswani et al. 2017, Sec. 3.1:
x = LayerNorm(x + MultiHeadAttention(x, x)), x = LayerNorm(x + FFN(x))), or pre-LN ones
(x = x + MultiHeadAttention(LayerNorm(x)), x = x + FFN(LayerNorm(x)), a final LayerNorm;
Xiong et al. 2020, who show the post-LN form needs learning-rate warmup and the pre-LN form
does not), mean pooling and a linear readout. The residual sums are `Add` layers, so the init doctor reports
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
    normalization="post",
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
        normalization: "post" (LayerNorm after each residual sum, the original form) or
            "pre" (LayerNorm on each branch's input, and once before the pooling).
        name: model name.
    """
    check_positive_ints(vocabulary_size=vocabulary_size, sequence_length=sequence_length, width=width, heads=heads,
                        blocks=blocks, classes=classes)
    if width % heads:
        raise ValueError(f"`width` must be divisible by `heads`. Received: width={width}, heads={heads}")
    if normalization not in ("post", "pre"):
        raise ValueError(f"`normalization` must be 'post' or 'pre'. Received: normalization={normalization!r}")
    new_initializer = initializer_factory(kernel_initializer)
    tokens = keras.Input((sequence_length,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocabulary_size, width, name="embedding")(tokens)
    pre = normalization == "pre"
    for block in range(blocks):
        normed = keras.layers.LayerNormalization(name=f"block{block}_attention_norm")(x) if pre else x
        attended = keras.layers.MultiHeadAttention(heads, width // heads, kernel_initializer=new_initializer(),
                                                   name=f"block{block}_attention")(normed, normed)
        x = keras.layers.Add(name=f"block{block}_attention_merge")([x, attended])
        if not pre:
            x = keras.layers.LayerNormalization(name=f"block{block}_attention_norm")(x)
        normed = keras.layers.LayerNormalization(name=f"block{block}_feedforward_norm")(x) if pre else x
        hidden = keras.layers.Dense(4 * width, activation=activation, kernel_initializer=new_initializer(),
                                    name=f"block{block}_feedforward_in")(normed)
        hidden = keras.layers.Dense(width, kernel_initializer=new_initializer(),
                                    name=f"block{block}_feedforward_out")(hidden)
        x = keras.layers.Add(name=f"block{block}_feedforward_merge")([x, hidden])
        if not pre:
            x = keras.layers.LayerNormalization(name=f"block{block}_feedforward_norm")(x)
    if pre:
        x = keras.layers.LayerNormalization(name="final_norm")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    logits = keras.layers.Dense(classes, kernel_initializer=new_initializer(), name="head")(x)
    return keras.Model(tokens, logits, name=name)
