"""The activation families the package's rules are keyed by, by the names
`activation_source` gives ("relu", "relu6", "leaky_relu", "tanh", ...).

`method="auto"` picks the initializer from the family (`reinit.auto_initializer`), and
the doctor counts dead units in the ReLU family's layers.
"""

# ReLU-like: the rectifier of He et al. 2015 (Sec. 2.2), and activations whose positive
# side is the identity and whose negative side is near zero (GELU, SiLU/swish, ELU).
RELU_FAMILY = ("relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "swish")
# Linear near 0, or the output's softmax: Glorot & Bengio 2010's assumptions.
GLOROT_FAMILY = ("linear", "tanh", "sigmoid", "softsign", "softmax", "hard_sigmoid")
# Self-normalizing nets (Klambauer et al. 2017).
LECUN_FAMILY = ("selu",)
AUTO_ACTIVATIONS = RELU_FAMILY + GLOROT_FAMILY + LECUN_FAMILY
