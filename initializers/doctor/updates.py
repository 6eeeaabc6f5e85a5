"""The first updates at the training's learning rate: does the net learn from its first
mini-batches, or does it fall apart?

A net whose initialization suits its optimizer and learning rate starts to fit its data in
a few updates (the standard sanity check before a long run). Whether it does depends on the
learning rate as much as on the initialization, which is what the measurements at
initialization cannot see. GradInit (Zhu et al. 2021) judges an initialization by the loss
after the training's own first update; the Post-LN transformer is the classic case of an
initialization that trains at a small learning rate and fails at a large one without
warmup (Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture": at
initialization the gradients of its top layers are large, and Adam's first steps at a
large rate derail it).

`first_updates` measures two things, from the same weights each time:

* the fit: `steps` updates of a fresh copy of the given optimizer on the whole batch, and
  the same at a tenth of the learning rate; the mean loss on the batch before and after
  each update. A net that does not start to fit one batch at the rate while it does at a
  tenth of it is past the rate its initialization takes (a net that is merely slow at a
  small rate does worse still at a tenth of it).
* the collapse: `steps` updates at the rate, each on the next mini-batch of `chunk`
  examples of the batch (cycling), as training takes them; how much the outputs still
  differ between examples at the end (`spread_ratio`: their std across the batch over the
  same at the start). A net that gives every example the same output, its best constant
  guess, has collapsed. A 12-block Post-LN transformer at Adam's 1e-3 does this within 20
  updates of 8 examples (the spread falls 1,000-fold; the same blocks Pre-LN, or at 1e-4,
  keep it), and then stays at chance for hundreds of updates (results/doctor). Updates on
  the whole batch do not show it: the same net fits one batch (its loss falls to a fifth
  in 20 updates), which is why the collapse is measured on mini-batches. The fit is not:
  on mini-batches cycling through one batch, a tenth of the rate memorizes the batch
  better than a rate that trains well (KerasHub's GPT-2 at Adam's 1e-3).
"""

import dataclasses
import math

import keras
import numpy as np

from initializers._inputs import batch_size
from initializers._weights import assign_weights, weight_values
from initializers.diagnostics.gradients import backend_gradients


@dataclasses.dataclass
class UpdatesMeasurement:
    """Mean loss on the batch before and after each of `steps` updates of `optimizer` on
    the whole batch at its learning rate (`losses`, `ratio`: last over first, inf once not
    finite) and at a tenth of it (`smaller_rate_losses`, `smaller_rate_ratio`); and
    `spread_ratio`, the outputs' std across the batch's examples after `steps` updates at
    the rate on mini-batches of `chunk` examples over before (None where it cannot be
    told: outputs not finite, or no spread at the start)."""

    optimizer: str
    learning_rate: float
    steps: int
    losses: list
    ratio: float
    smaller_rate_losses: list
    smaller_rate_ratio: float
    chunk: int
    spread_ratio: float | None

    def as_dict(self):
        return dataclasses.asdict(self)


def fresh_optimizer(optimizer, rate_factor=1.0):
    """A new optimizer of the same class and configuration (no slots, step 0), its learning
    rate times `rate_factor`."""
    config = optimizer.get_config()
    config["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate)) * rate_factor
    return optimizer.__class__.from_config(config)


def _loss_value(model, inputs, mean_loss_of_outputs):
    return float(keras.ops.convert_to_numpy(mean_loss_of_outputs(model(inputs, training=False))))


def _spread(model, inputs):
    """Mean over output units of the std across the batch's examples (the first output)."""
    outputs = keras.ops.convert_to_numpy(keras.tree.flatten(model(inputs, training=False))[0])
    outputs = outputs.reshape(outputs.shape[0], -1).astype("float64")
    return float(np.mean(np.std(outputs, axis=0))) if np.isfinite(outputs).all() else math.nan


def mini_batches(size, chunk):
    """Boolean masks of the batch's consecutive mini-batches of `chunk` examples (the
    remainder joins the last), or [None] (the whole batch) when fewer than two fit."""
    count = size // chunk
    if count < 2:
        return [None]
    index = np.minimum(np.arange(size) // chunk, count - 1)
    return [index == i for i in range(count)]


def _mini_batch_loss(mean_loss_of_outputs, mask):
    """The mean loss of the examples in `mask` alone: the whole batch goes through the
    model (its loss function is the batch's), the others' outputs held constant."""
    if mask is None:
        return mean_loss_of_outputs
    weight = _mask_weight(mask)

    def loss(outputs):
        def keep(output):
            rows = keras.ops.reshape(keras.ops.convert_to_tensor(mask), (mask.size,) + (1,) * (len(output.shape) - 1))
            return keras.ops.where(rows, output, keras.ops.stop_gradient(output))

        return mean_loss_of_outputs(keras.tree.map_structure(keep, outputs)) * weight

    return loss


def _updates(model, inputs, mean_loss_of_outputs, optimizer, steps, chunk):
    """Mean losses on the batch before and after each of `steps` updates, each on the next
    mini-batch (stops once not finite), and the spread ratio of the outputs. Each update's
    forward pass gives the loss before it (its mini-batch's value is the batch's, the other
    examples held constant, times a constant), so one more forward pass gives the last."""
    variables = list(model.trainable_variables)
    masks = mini_batches(batch_size(inputs), chunk)
    losses, start = [], _spread(model, inputs)
    for step in range(steps):
        loss = _mini_batch_loss(mean_loss_of_outputs, masks[step % len(masks)])
        gradients, value = backend_gradients(model, loss, inputs, variables, with_loss=True)
        losses.append(value / _mask_weight(masks[step % len(masks)]))
        if not math.isfinite(losses[-1]):
            break
        optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in gradients], variables))
    else:
        losses.append(_loss_value(model, inputs, mean_loss_of_outputs))
    end = _spread(model, inputs) if math.isfinite(losses[-1]) else math.nan
    spread_ratio = end / start if math.isfinite(end) and math.isfinite(start) and start > 0 else None
    return losses, spread_ratio


def _mask_weight(mask):
    """The factor `_mini_batch_loss` puts on the batch's loss (1 for the whole batch)."""
    return 1.0 if mask is None else float(mask.size / mask.sum())


def _ratio(losses):
    first, last = losses[0], losses[-1]
    return last / first if math.isfinite(last) and first > 0 else math.inf


def first_updates(model, inputs, mean_loss_of_outputs, optimizer, steps, chunk=8):
    """`UpdatesMeasurement` of `steps` updates of fresh copies of `optimizer`: on the whole
    of `inputs` at its rate and at a tenth of it, and on mini-batches of `chunk` examples at
    its rate, each from the weights as found; `mean_loss_of_outputs(outputs)` is the
    batch's mean loss. Leaves the model's weights as they were found, the slots and step
    counters of the copies aside."""
    start = weight_values(model)

    def run(rate_factor, mini_batch):
        try:
            return _updates(model, inputs, mean_loss_of_outputs, fresh_optimizer(optimizer, rate_factor), steps,
                            mini_batch)
        finally:
            assign_weights(model, start)

    size = batch_size(inputs)
    losses, _ = run(1.0, size)
    smaller, _ = run(0.1, size)
    _, spread = run(1.0, chunk)
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    used = chunk if len(mini_batches(size, chunk)) > 1 else size
    return UpdatesMeasurement(type(optimizer).__name__, rate, steps, losses, _ratio(losses), smaller,
                              _ratio(smaller), used, spread)


__all__ = ["UpdatesMeasurement", "first_updates", "fresh_optimizer", "mini_batches"]
