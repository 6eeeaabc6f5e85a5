"""The errors of this package that a program may want to tell apart.

Each is a `ValueError`, as Keras raises for bad input, with Keras's message shape
"<reason> Received: <argument>=<value>"; `reason` holds the first part alone, so a
command line (the init doctor's) can print a one-line reason without parsing text.

    try:
        initialize_weights(model, "auto")
    except UnsupportedModelError as error:
        print(error.reason)
"""


class InitializationError(ValueError):
    """Base class: `reason` (a sentence) and `received` (the offending argument, as
    "name=value")."""

    def __init__(self, reason, received):
        self.reason, self.received = reason, received
        super().__init__(f"{reason} Received: {received}")


class UnknownInitializerError(InitializationError):
    """An initializer identifier `initializers.get` does not know; the reason lists the
    valid names. `identifier` is what was asked for."""

    def __init__(self, reason, identifier):
        super().__init__(reason, f"identifier={identifier!r}")
        self.identifier = identifier


class UnsupportedModelError(InitializationError):
    """A model a tool cannot work on as it is (or with the method asked for): not built,
    no weight layer, a layer with weights it can neither initialize nor leave alone, a
    weight layer inside a nested model, an activation `"auto"` has no rule for, a kernel
    the initializer cannot draw, an output the doctor cannot measure, a model it cannot
    copy."""


class LayerOutputError(InitializationError):
    """A layer's output on the given batch cannot be worked with: constant (LSUV cannot
    scale it to unit variance; e.g. dead ReLUs upstream, or a constant batch) or not
    finite. `layer` is the layer's name."""

    def __init__(self, reason, layer):
        super().__init__(reason, f"layer={layer}")
        self.layer = layer


class InputMismatchError(InitializationError):
    """A batch that does not fit the model's inputs: a missing, extra or wrongly shaped
    input (the reason names the input and both shapes), inputs whose batch sizes differ,
    or an empty batch. `input_name` is the input concerned (None: the batch as a whole)."""

    def __init__(self, reason, received, input_name=None):
        super().__init__(reason, received)
        self.input_name = input_name


class LearnedInitError(InitializationError):
    """The objective of a learned initialization (`gradinit`, `metainit`) or its gradient
    is not finite (an overflowing model, a bad batch): the model is left as it was.
    `iteration` is where it happened."""

    def __init__(self, reason, iteration):
        super().__init__(reason, f"iteration={iteration}")
        self.iteration = iteration
