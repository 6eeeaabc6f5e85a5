"""Argument checks shared by the model builders."""


def check_positive_ints(**values):
    """Raises Keras's ValueError for the first argument that is not a positive int (bools
    refused). Usage: `check_positive_ints(depth=depth, width=width)`."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")


def check_odd_kernel_size(kernel_size):
    """Raises Keras's ValueError unless `kernel_size` is an odd positive int (a centre tap)."""
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"`kernel_size` must be an odd positive int. Received: kernel_size={kernel_size!r}")


def check_readout_and_downsampling(readout, readouts, downsampling):
    """The very deep CNNs' arguments: `readout` one of `readouts`, `downsampling` an int >= 0."""
    if readout not in readouts:
        raise ValueError(f"`readout` must be one of {readouts}. Received: readout={readout!r}")
    if isinstance(downsampling, bool) or not isinstance(downsampling, int) or downsampling < 0:
        raise ValueError(f"`downsampling` must be an int >= 0. Received: downsampling={downsampling!r}")


def check_stem_channels(downsampling, input_shape, channels):
    """Without a downsampling convolution the stacked layers read the input itself, which must
    then have their `channels`."""
    if downsampling == 0 and input_shape[-1] != channels:
        raise ValueError(f"Without downsampling the input must have `channels` channels. Received: "
                         f"input_shape={input_shape}, channels={channels}")
