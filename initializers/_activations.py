"""The activation family the doctor counts dead units in, by the names
`activation_source` gives ("relu", "relu6", "leaky_relu", "gelu", ...).

(`method="auto"` needs no table: `initializers.auto_rule` computes its rule for any
activation from mean-field theory.)
"""

# ReLU-like: the rectifier of He et al. 2015 (Sec. 2.2), and activations whose positive
# side is the identity and whose negative side is near zero (GELU, SiLU/swish, ELU): a
# unit never positive on a batch passes (almost) no gradient.
RELU_FAMILY = ("relu", "relu6", "leaky_relu", "elu", "gelu", "gelu_approximate", "silu", "swish",
               "hard_silu", "hard_swish", "mish", "celu")
