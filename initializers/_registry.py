"""`get(identifier)`: resolve names, configs and instances to initializers.

Our initializers are named in CamelCase (`"HeNormal"`) or snake_case
(`"he_normal"`), plus short aliases (`"he"`, `"glorot"`, `"lecun"`, `"standard"`).
A Keras built-in is named with the `keras.` prefix: `"keras.HeNormal"`,
`"keras.he_normal"`, or `{"class_name": "keras.HeNormal", "config": {"seed": 1}}`.
The prefix removes all ambiguity: `"he_normal"` is always ours (untruncated), and
`"keras.he_normal"` is always Keras's (truncated).
"""

import keras

from initializers.errors import UnknownInitializerError
from initializers.orthogonal import ConvolutionOrthogonal, DeltaOrthogonal, Orthogonal
from initializers.variance_scaling import (
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    StandardUniform,
    VarianceScaling,
)

KERAS_PREFIX = "keras."

INITIALIZER_CLASSES = (
    HeNormal,
    HeUniform,
    GlorotUniform,
    GlorotNormal,
    LecunNormal,
    LecunUniform,
    StandardUniform,
    VarianceScaling,
    Orthogonal,
    DeltaOrthogonal,
    ConvolutionOrthogonal,
)

_SNAKE_NAMES = {
    HeNormal: "he_normal",
    HeUniform: "he_uniform",
    GlorotUniform: "glorot_uniform",
    GlorotNormal: "glorot_normal",
    LecunNormal: "lecun_normal",
    LecunUniform: "lecun_uniform",
    StandardUniform: "standard_uniform",
    VarianceScaling: "variance_scaling",
    Orthogonal: "orthogonal",
    DeltaOrthogonal: "delta_orthogonal",
    ConvolutionOrthogonal: "convolution_orthogonal",
}

# Short names. "glorot" is the paper's normalized init (Eq. 16), which is uniform.
ALIASES = {
    "he": HeNormal,
    "glorot": GlorotUniform,
    "lecun": LecunNormal,
    "standard": StandardUniform,
}

NAME_TO_CLASS = {
    **ALIASES,
    **{snake: cls for cls, snake in _SNAKE_NAMES.items()},
    **{cls.__name__: cls for cls in INITIALIZER_CLASSES},
}


def valid_names():
    """All names `get` accepts for our initializers, aliases first."""
    return list(NAME_TO_CLASS)


def _unknown(identifier):
    if identifier == "lsuv":
        return UnknownInitializerError(
            "LSUV is data-dependent, not an initializer of one kernel: call "
            "`initializers.lsuv(model, batch)` (in a run config, the harness does).", identifier)
    if identifier == "fixup":
        return UnknownInitializerError(
            "Fixup rescales a residual net's branches as a whole, not one kernel: call "
            "`initializers.initialize_weights(model, 'fixup')`.", identifier)
    return UnknownInitializerError(
        f"Unknown initializer {identifier!r}. Valid names: {', '.join(valid_names())}; "
        f"or '{KERAS_PREFIX}<name>' for a Keras built-in (e.g. 'keras.he_normal').", identifier)


def _get_keras(name, config=None):
    try:
        if config is None:
            return keras.initializers.get(name)
        return keras.initializers.get({"class_name": name, "config": config})
    except (ValueError, TypeError) as error:
        raise UnknownInitializerError(
            f"Unknown Keras built-in initializer {KERAS_PREFIX + name!r} ({error}).",
            KERAS_PREFIX + name) from None


def get(identifier):
    """Returns an initializer instance from a name, a config dict or an instance.

    Args:
        identifier: one of
            * a name of ours: `"he"`, `"he_normal"`, `"HeNormal"`, ... (see
              `valid_names()`), giving a default-constructed instance;
            * `"keras.<name>"`: a Keras built-in, e.g. `"keras.GlorotUniform"`;
            * a config dict `{"class_name": ..., "config": {...}}` with either kind
              of name (also the full dict `keras.saving.serialize_keras_object`
              writes for our classes);
            * an initializer instance (ours or Keras's), returned unchanged;
            * None, returned unchanged (as `keras.initializers.get` does).

    Returns:
        A `keras.initializers.Initializer` (or None).

    Raises:
        UnknownInitializerError: (a ValueError) for an unknown name; the message
            lists the valid names.
        ValueError: for a malformed identifier.

    Example:

    >>> get("he")                                   # ours, untruncated
    HeNormal(mode='fan_in', negative_slope=0.0, truncated=False, seed=None)
    >>> get({"class_name": "HeNormal", "config": {"mode": "fan_out", "seed": 3}})
    >>> get("keras.he_normal")                      # Keras's truncated HeNormal
    """
    if identifier is None or isinstance(identifier, keras.initializers.Initializer):
        return identifier
    if isinstance(identifier, str):
        if identifier.startswith(KERAS_PREFIX):
            return _get_keras(identifier[len(KERAS_PREFIX):])
        if identifier in NAME_TO_CLASS:
            return NAME_TO_CLASS[identifier]()
        raise _unknown(identifier)
    if isinstance(identifier, dict):
        class_name = identifier.get("class_name")
        config = identifier.get("config", {}) or {}
        if not isinstance(class_name, str) or not isinstance(config, dict):
            raise ValueError(
                "An initializer config must be {'class_name': str, 'config': dict}. "
                f"Received: identifier={identifier!r}"
            )
        if class_name.startswith(KERAS_PREFIX):
            return _get_keras(class_name[len(KERAS_PREFIX):], config)
        if class_name in NAME_TO_CLASS:
            return NAME_TO_CLASS[class_name].from_config(config)
        raise _unknown(class_name)
    raise ValueError(
        "An initializer identifier must be a name, a config dict or an Initializer "
        f"instance. Received: identifier={identifier!r}"
    )


def serialize(initializer):
    """Config dict that `get` turns back into an equal initializer.

    Keras built-ins get the `keras.` prefix so the round trip stays unambiguous.
    """
    cls = type(initializer)
    if cls in INITIALIZER_CLASSES:
        class_name = cls.__name__
    elif cls.__module__.startswith(KERAS_PREFIX):
        class_name = KERAS_PREFIX + cls.__name__
    else:
        raise ValueError(
            "Only this package's and Keras's built-in initializers can be named in a "
            f"config. Received: initializer={initializer!r}"
        )
    return {"class_name": class_name, "config": initializer.get_config()}
