"""Loading `.keras` files that use this package's initializers.

Keras finds a custom class in a `.keras` file only if the class was registered
(`keras.saving.register_keras_serializable`) before the file is loaded, and it
imports on its own only modules of Keras's own packages. Our initializers register
themselves when `initializers` is imported, so in a fresh process
`keras.saving.load_model("model.keras")` fails with a long TypeError unless
`import initializers` came first. `initializers.load_model` does both.
"""

import re

import keras

import initializers  # noqa: F401  (registers every initializer of the package)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """`keras.saving.load_model` with this package's initializers registered.

    Same arguments as `keras.saving.load_model`. If the file still names a class
    nobody registered (a layer of your own, say), the error says which one and what
    to do, in one line, instead of Keras's full-config TypeError.

    Example:

    >>> import initializers
    >>> model = initializers.load_model("plain30_he.keras")

    Raises:
        TypeError: the file names a class that is not registered (the original
            Keras error is chained as the cause).
    """
    try:
        return keras.saving.load_model(
            filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode
        )
    except TypeError as error:
        found = re.search(r"Could not locate (class|function) '([^']+)'", str(error))
        if found is None:
            raise
        kind, name = found.groups()
        raise TypeError(
            f"Cannot load {filepath}: it names the {kind} {name!r}, which is not "
            "registered. Import the module that defines it (registered with "
            "`keras.saving.register_keras_serializable`) before loading, or pass it in "
            f"`custom_objects`. Received: filepath={str(filepath)!r}"
        ) from error
