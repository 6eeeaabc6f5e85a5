"""Paper-exact Keras 3 initializers and model-level initialization tools.

Every initializer is a `keras.initializers.Initializer`, registered for `.keras`
serialization when this package is imported (load saved models with
`initializers.load_model`, or import the package before `keras.saving.load_model`),
backend-agnostic (`keras.random` / `keras.ops` only).

    from initializers import HeNormal, initialize_weights
    layer = keras.layers.Dense(256, activation="relu", kernel_initializer=HeNormal())
    print(initialize_weights(model, "auto", seed=0))

Learned initialization (GradInit, Zhu et al. 2021; MetaInit, Dauphin & Schoenholz 2019):
`initializers.gradinit(model, (x, y), optimizer=..., learning_rate=...)` and
`initializers.metainit(model)` rescale the current weights, one factor per tensor.

μP (Yang et al. 2022: initialization and learning rate that transfer across width):
`initializers.mup` (`MuP`, `BaseShapes`, `MuSGD` / `MuAdam` / `MuAdamW`).

Installs with `pip install .` from a checkout (or from the repository's URL) on any Keras
backend, TensorFlow not required; see docs/initializers.md#install.
"""

# The version of the package (pyproject.toml reads it from here; CHANGELOG.md says what
# each version changed).
__version__ = "0.1.0"

# First, before anything imports Keras: the doctor's command line starts without
# TensorFlow's C++ start-up log (a library import changes nothing; see `_console`).
from initializers import _console

_console.quiet_start()

from initializers._base import SeededInitializer  # noqa: E402
from initializers.auto import AutoRule, auto_rule, rule_table
from initializers._fans import WEIGHT_LAYER_TYPES, Fans, compute_fans, layer_fans
from initializers._graph import (
    ActivationSource,
    activation_after,
    activation_source,
    is_weight_layer,
    walk_layers,
    weight_layers,
)
from initializers._per_layer import fresh_initializer, initializer_factory, layer_seed
from initializers._registry import get, serialize, valid_names
from initializers.errors import (
    InitializationError,
    InputMismatchError,
    LayerOutputError,
    LearnedInitError,
    UnknownInitializerError,
    UnsupportedModelError,
)
from initializers.learned import LearnedInitRecords, LearnedScaleRecord, gradinit, learned_options, metainit
from initializers.lsuv import LSUVRecord, LSUVRecords, lsuv, lsuv_options
from initializers.mup import BaseShapes, MuAdam, MuAdamW, MuP, MuSGD, with_lr_multipliers
from initializers.orthogonal import ConvolutionOrthogonal, DeltaOrthogonal, Orthogonal, gain
from initializers.reinit import (
    InitializationRecords,
    LayerInitRecord,
    auto_initializer,
    initialize_weights,
    residual_branch_ends,
)
from initializers.residual import ScalarBias, ScalarMultiplier, residual_branches
from initializers.saving import load_model
from initializers.variance_scaling import (
    TRUNCATED_NORMAL_STD_CORRECTION,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    StandardUniform,
    VarianceScaling,
    VarianceScalingBase,
)

__all__ = [
    "ActivationSource",
    "AutoRule",
    "BaseShapes",
    "ConvolutionOrthogonal",
    "DeltaOrthogonal",
    "Fans",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "InitializationError",
    "InitializationRecords",
    "InputMismatchError",
    "LSUVRecord",
    "LayerOutputError",
    "LearnedInitError",
    "LearnedInitRecords",
    "LearnedScaleRecord",
    "LSUVRecords",
    "LayerInitRecord",
    "LecunNormal",
    "LecunUniform",
    "MuAdam",
    "MuAdamW",
    "MuP",
    "MuSGD",
    "Orthogonal",
    "ScalarBias",
    "ScalarMultiplier",
    "SeededInitializer",
    "StandardUniform",
    "TRUNCATED_NORMAL_STD_CORRECTION",
    "UnknownInitializerError",
    "UnsupportedModelError",
    "VarianceScaling",
    "VarianceScalingBase",
    "WEIGHT_LAYER_TYPES",
    "activation_after",
    "activation_source",
    "auto_initializer",
    "auto_rule",
    "compute_fans",
    "fresh_initializer",
    "gain",
    "get",
    "gradinit",
    "initialize_weights",
    "initializer_factory",
    "is_weight_layer",
    "layer_fans",
    "layer_seed",
    "learned_options",
    "load_model",
    "residual_branch_ends",
    "residual_branches",
    "rule_table",
    "lsuv",
    "lsuv_options",
    "metainit",
    "serialize",
    "valid_names",
    "walk_layers",
    "weight_layers",
    "with_lr_multipliers",
]
