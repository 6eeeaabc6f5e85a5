"""Keras functional model builders: demo nets now, the papers' nets with their reproductions.

`BUILDERS` maps the names that run configs use to builder functions; `build`
resolves one with a clear error for an unknown name. `weight_layers` is
`initializers.weight_layers` (the one definition of a weight layer).
"""

from initializers import weight_layers

from models.borrowed import HubClassifier, KerasApplication
from models.demo import CustomNet, SimpleMLP
from models.mlp import DeepMLP
from models.plain_nets import PlainNet
from models.residual import ResidualMLP
from models.residual_cnn import ResidualCNN, ResidualStack
from models.transformer import TransformerClassifier
from models.vanilla_cnn import StackedConvolution, VanillaCNN

BUILDERS = {
    "simple_mlp": SimpleMLP,
    "custom_net": CustomNet,
    "plain_net": PlainNet,
    "deep_mlp": DeepMLP,
    "transformer_classifier": TransformerClassifier,
    "vanilla_cnn": VanillaCNN,
    "residual_mlp": ResidualMLP,
    "residual_cnn": ResidualCNN,
    "keras_application": KerasApplication,
    "hub_classifier": HubClassifier,
}


def build(name, **kwargs):
    """Builds the model registered as `name` with the builder's keyword arguments."""
    if name not in BUILDERS:
        raise ValueError(f"Unknown model; valid: {', '.join(BUILDERS)}. Received: name={name!r}")
    return BUILDERS[name](**kwargs)


__all__ = ["BUILDERS", "CustomNet", "DeepMLP", "HubClassifier", "KerasApplication", "PlainNet", "ResidualCNN", "ResidualMLP", "ResidualStack",
           "SimpleMLP", "StackedConvolution", "TransformerClassifier", "VanillaCNN", "build", "weight_layers"]
