"""The plain (no BatchNorm, no shortcuts) deep ReLU nets of He et al. 2015, Figs 2-3.

What comes from the paper (He et al. 2015, Sec. 2.2, Sec. 4.1 and Table 3):
* "model B" of Table 3 has 22 weight layers: 19 convolutions + 3 fully
  connected. Its layout: a 7x7 stride-2 stem convolution (96 filters), then three
  stages of six 3x3 convolutions (256, 512, 512 filters) separated by pooling,
  then fc 4096, fc 4096, fc classes. Every conv/fc layer but the last is
  followed by ReLU (or PReLU).
* The 30-layer net of Fig. 3 has 27 convolutions + 3 fc, built from the
  14-layer model (11 conv + 3 fc) by adding 16 convolutions of 256 2x2 filters.
* No BatchNorm (the paper predates its wide use); biases start at 0.

Our choices (the paper does not give them, or gives them for 224x224 ImageNet):
* Pooling: 2x2 max-pooling after the stem and after the first two stages
  (the paper uses a 3x3/3 pool after the stem and SPP at the top), then Flatten.
* The 14-layer base: the stem + stages of (4, 3, 3) 3x3 convolutions with 256,
  512, 512 filters; the 16 added 2x2 convolutions (256 filters) are placed at the
  end of the stages as (6, 5, 5).
* `width_multiplier` scales every conv and hidden fc width (rounded, at least 1
  filter), so the same topology runs on a CPU (e.g. 1/32) or near the paper's
  size on a GPU (1.0). `input_shape` and `num_classes` follow the dataset.
* All convolutions use "same" padding.
* `stem` (our option for small images): "paper" is the 7x7 stride-2 stem convolution
  followed by 2x2 max-pooling, which takes 224x224 inputs to 56x56 maps in the first
  stage (56 / 28 / 14 over the three stages, as in the paper). On 32x32 inputs the same
  stem leaves 8 / 4 / 2: a 3x3 convolution on a 2x2 map reads padding on 5 of its 9
  taps, and every such layer loses that fraction of the variance He's rule plans for
  (`reproductions.fidelity` measures what the whole net loses). "small_images" is the same 7x7 convolution at stride 1 without the pooling, so
  32x32 inputs give 32 / 16 / 8 maps: the last stage stays on maps of at least 8x8, as
  the ImageNet net's does. The layouts (22 and 30 layers) are otherwise unchanged.
* Other depths (the trainability maps): the same stem, three stages of 3x3
  convolutions (256, 512, 512 filters) sharing depth - 4 convolutions as evenly
  as possible (the first stages get the extra ones), the same fc head. 22 and 30
  keep the layouts above exactly.

The builder counts weight layers: `len(initializers.weight_layers(model)) == depth`.
"""

import keras

from initializers import initializer_factory

STEM_KERNEL, STEM_FILTERS = 7, 96
# stem name -> (stride of the stem convolution, whether a 2x2 max-pool follows it)
STEMS = {"paper": (2, True), "small_images": (1, False)}
FC_UNITS = 4096
# Per stage: list of (kernel size, filters) of the stage's convolutions.
LAYOUTS = {
    22: (
        [(3, 256)] * 6,
        [(3, 512)] * 6,
        [(3, 512)] * 6,
    ),
    30: (
        [(3, 256)] * 4 + [(2, 256)] * 6,
        [(3, 512)] * 3 + [(2, 256)] * 5,
        [(3, 512)] * 3 + [(2, 256)] * 5,
    ),
}
DEPTHS = tuple(LAYOUTS)  # the paper's depths; any depth >= MIN_DEPTH builds
STAGE_FILTERS = (256, 512, 512)
MIN_DEPTH = 1 + len(STAGE_FILTERS) + 3  # stem, one conv per stage, 3 fc
ACTIVATIONS = ("relu", "prelu")


def layout(depth):
    """Per stage, the (kernel size, filters) of its convolutions, for `depth` weight layers."""
    if depth in LAYOUTS:
        return LAYOUTS[depth]
    convs = depth - MIN_DEPTH + len(STAGE_FILTERS)
    stages = len(STAGE_FILTERS)
    counts = [convs // stages + (1 if index < convs % stages else 0) for index in range(stages)]
    return tuple([(3, filters)] * count for filters, count in zip(STAGE_FILTERS, counts))


def _scaled(width, multiplier):
    return max(1, int(round(width * multiplier)))


def PlainNet(
    depth=22,
    width_multiplier=1.0,
    input_shape=(224, 224, 3),
    num_classes=1000,
    activation="relu",
    kernel_initializer="he_normal",
    name=None,
    stem="paper",
):
    """Plain deep ReLU/PReLU CNN of He et al. 2015 (22 or 30 weight layers, or any depth).

    Example:

    >>> model = PlainNet(depth=30, width_multiplier=1 / 32, input_shape=(32, 32, 1),
    ...                  num_classes=9)
    >>> len(initializers.weight_layers(model))
    30

    Args:
        depth: 22 (Fig. 2, "model B"), 30 (Fig. 3), or any other number of weight
            layers >= 7 (`layout`).
        width_multiplier: scales every conv and hidden fc width.
        input_shape: (height, width, channels).
        num_classes: outputs (logits, no softmax).
        activation: "relu" or "prelu" (PReLU with one slope per channel, init 0.25
            as in the paper).
        kernel_initializer: identifier for `initializers.get` (every kernel; each
            layer gets its own draw).
        name: model name (default `plain{depth}`).
        stem: "paper" (7x7 stride-2 convolution + 2x2 max-pooling, for 224x224 inputs)
            or "small_images" (the same convolution at stride 1, no pooling: 32x32 inputs
            keep maps of 32 / 16 / 8 in the three stages); see the module docstring.

    Reference:
        He, Zhang, Ren, Sun. "Delving Deep into Rectifiers", ICCV 2015, Table 3
        and Figs. 2-3.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < MIN_DEPTH:
        raise ValueError(f"`depth` must be an int >= {MIN_DEPTH} (the paper's: {DEPTHS}). "
                         f"Received: depth={depth!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"`activation` must be one of {ACTIVATIONS}. Received: activation={activation!r}")
    if not (isinstance(width_multiplier, (int, float)) and width_multiplier > 0):
        raise ValueError(f"`width_multiplier` must be positive. Received: width_multiplier={width_multiplier!r}")
    if stem not in STEMS:
        raise ValueError(f"`stem` must be one of {tuple(STEMS)}. Received: stem={stem!r}")
    new_initializer = initializer_factory(kernel_initializer)  # one instance and draw per layer

    def nonlinearity(x, layer_name):
        if activation == "relu":
            return keras.layers.ReLU(name=f"{layer_name}_relu")(x)
        return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25),
                                  shared_axes=[1, 2] if len(x.shape) == 4 else None,
                                  name=f"{layer_name}_prelu")(x)

    inputs = keras.Input(tuple(input_shape), name="images")
    stem_stride, stem_pool = STEMS[stem]
    x = keras.layers.Conv2D(_scaled(STEM_FILTERS, width_multiplier), STEM_KERNEL, strides=stem_stride,
                            padding="same", kernel_initializer=new_initializer(), name="stem")(inputs)
    x = nonlinearity(x, "stem")
    if stem_pool:
        x = keras.layers.MaxPooling2D(2, padding="same", name="stem_pool")(x)
    stages = layout(depth)
    for stage_index, stage in enumerate(stages, start=1):
        for conv_index, (kernel_size, filters) in enumerate(stage, start=1):
            layer_name = f"stage{stage_index}_conv{conv_index}_{kernel_size}x{kernel_size}"
            x = keras.layers.Conv2D(_scaled(filters, width_multiplier), kernel_size, padding="same",
                                    kernel_initializer=new_initializer(), name=layer_name)(x)
            x = nonlinearity(x, layer_name)
        if stage_index < len(stages):
            x = keras.layers.MaxPooling2D(2, padding="same", name=f"stage{stage_index}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for fc_index in (1, 2):
        layer_name = f"fc{fc_index}"
        x = keras.layers.Dense(_scaled(FC_UNITS, width_multiplier), kernel_initializer=new_initializer(),
                               name=layer_name)(x)
        x = nonlinearity(x, layer_name)
    logits = keras.layers.Dense(num_classes, kernel_initializer=new_initializer(), name="logits")(x)
    return keras.Model(inputs, logits, name=name or f"plain{depth}")
