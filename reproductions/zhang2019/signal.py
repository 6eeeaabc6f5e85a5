"""The signal of every row at initialization, against depth: how large the residual stack's
output is relative to its input, and how large the loss's gradient is, before any update.
Measured once before the sweep into `<workdir>/signal.json` (settings, one record per row,
depth and draw), from which the signal claims and `signal_at_init.png` are drawn.

Setting: each row's net (`reproductions.configs.zhang2019.model_kwargs`, the profile's
channels and readout) built and initialized as its runs are (`initialize_weights` with the
row's method, seed = draw), one batch of `signal_batch` training images (the training
stream of seed = draw), BatchNorm at the batch's statistics (`training=True`, as the first
update sees it). Per record: the stack gain, RMS of the residual stack's output over the
RMS of its input (the stream's growth over the blocks; Fixup: exactly 1, every branch ends
at 0), the logits' RMS, and the global norm of the gradient of the mean cross-entropy over
all trainable weights; a value that overflows float32 is recorded as null with
`"overflow": true` (He without normalization, deep).
"""

import math
import pathlib
import time

import keras
import numpy as np

import models
from initializers import initialize_weights
from initializers.diagnostics.gradients import backend_gradients
from initializers.jsonio import read_json, write_json_atomic
from reproductions import data
from reproductions.configs import zhang2019 as config
from reproductions.environment import environment

SIGNAL_FILE = "signal.json"


def signal_settings(profile, dataset=None):
    """What the signal depends on: remeasured when any of it changes."""
    settings = config.PROFILES[profile]
    return {"depths": list(settings["signal_depths"]), "draws": settings["signal_draws"],
            "batch": settings["signal_batch"], "channels": settings["channels"],
            "downsampling": settings["downsampling"], "readout": settings["readout"],
            "dataset": dataset or settings["dataset"], "rows": [key for key, _ in config.ROWS]}


def _rms(values):
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        rms = float(np.sqrt(np.mean(values * values)))
    return rms if math.isfinite(rms) else None


def measure_one(key, depth, draw, wanted, data_dir=None):
    """One record: the stack gain, logits RMS and gradient norm of row `key` at `depth`."""
    kwargs, method = config.model_kwargs(wanted, wanted["dataset"], key, depth)
    keras.utils.set_random_seed(draw)
    model = models.build("residual_cnn", **kwargs)
    initialize_weights(model, method, seed=draw)
    images, labels = data.first_batch(data.load(wanted["dataset"], "train", seed=draw, batch_size=wanted["batch"],
                                                data_dir=data_dir))
    stack = model.get_layer("blocks")
    taps = keras.Model(model.inputs[0], [stack.input, stack.output, model.outputs[0]])
    stack_in, stack_out, logits = (keras.ops.convert_to_numpy(t) for t in taps(images, training=True))
    rms_in, rms_out = _rms(stack_in), _rms(stack_out)
    labels = keras.ops.convert_to_tensor(np.asarray(labels))

    def loss(outputs):
        return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, outputs, from_logits=True))

    with np.errstate(all="ignore"):
        gradients = backend_gradients(model, loss, images, model.trainable_variables, training=True)
        squares = sum(float(np.sum(np.asarray(g, dtype=np.float64) ** 2)) for g in gradients)
    norm = math.sqrt(squares) if math.isfinite(squares) else None
    gain = rms_out / rms_in if rms_out is not None and rms_in else None
    return {"row": key, "depth": depth, "draw": draw, "blocks": kwargs["blocks"], "stack_gain": gain,
            "stack_input_rms": rms_in, "logits_rms": _rms(logits), "gradient_norm": norm,
            "overflow": gain is None or norm is None}


def measure_signal(workdir, profile, configs=None, seeds=None, log=print, dataset=None, data_dir=None):
    """`<workdir>/signal.json` for `profile` (kept when it holds these settings). The
    driver's `prepare` step."""
    path = pathlib.Path(workdir) / SIGNAL_FILE
    if configs:  # the sweep's own dataset (a --dataset override)
        dataset, data_dir = configs[0].dataset, configs[0].data_dir
    wanted = signal_settings(profile, dataset)
    if path.exists() and read_json(path).get("settings") == wanted:
        return
    log(f"Signal at initialization: {len(wanted['rows'])} rows at depths {wanted['depths']}, "
        f"{wanted['draws']} draws")
    start = time.perf_counter()
    records = []
    for depth in wanted["depths"]:
        for key in wanted["rows"]:
            for draw in range(wanted["draws"]):
                records.append(measure_one(key, depth, draw, wanted, data_dir))
        log(f"  depth {depth}: done [{time.perf_counter() - start:.0f}s]")
    write_json_atomic(path, {"settings": wanted, "records": records, "environment": environment(),
                             "seconds": time.perf_counter() - start})


def read_signal(workdir):
    """signal.json's content, or None when it was not measured."""
    path = pathlib.Path(workdir) / SIGNAL_FILE
    return read_json(path) if path.exists() else None


def signal_table(signal, quantity):
    """{row: {depth: [value per draw, None where it overflowed]}} of one quantity."""
    table = {}
    for record in signal["records"]:
        table.setdefault(record["row"], {}).setdefault(str(record["depth"]), []).append(record[quantity])
    return table
