"""Paper-exact Keras 3 initializers and model-level initialization tools.

Every initializer is a `keras.initializers.Initializer`, registered for `.keras`
serialization, backend-agnostic (`keras.random` / `keras.ops` only).

    from initializers import HeNormal, initialize_weights
    layer = keras.layers.Dense(256, activation="relu", kernel_initializer=HeNormal())
    print(initialize_weights(model, "auto", seed=0))
"""

from initializers._base import SeededInitializer
from initializers._fans import Fans, compute_fans, layer_fans
from initializers._registry import get, serialize, valid_names
from initializers.orthogonal import DeltaOrthogonal, Orthogonal, gain
from initializers.reinit import (
    InitializationRecords,
    LayerInitRecord,
    activation_after,
    activation_source,
    auto_initializer,
    initialize_weights,
)
from initializers.variance_scaling import (
    TRUNCATED_NORMAL_STD_CORRECTION,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    StandardUniform,
    VarianceScalingBase,
)

__all__ = [
    "DeltaOrthogonal",
    "Fans",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "InitializationRecords",
    "LayerInitRecord",
    "LecunNormal",
    "LecunUniform",
    "Orthogonal",
    "SeededInitializer",
    "StandardUniform",
    "TRUNCATED_NORMAL_STD_CORRECTION",
    "VarianceScalingBase",
    "activation_after",
    "activation_source",
    "auto_initializer",
    "compute_fans",
    "gain",
    "get",
    "initialize_weights",
    "layer_fans",
    "serialize",
    "valid_names",
]
