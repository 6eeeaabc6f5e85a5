"""The first updates at the training's learning rate: does the net fit one batch?

A net whose initialization suits its optimizer and learning rate fits a single batch: in a
few updates its loss on that batch falls far below where it started (the standard sanity
check before a long run). Whether it does depends on the learning rate as much as on the
initialization, which is what the measurements at initialization cannot see. GradInit
(Zhu et al. 2021) judges an initialization by the loss after the training's own first
update; the Post-LN transformer is the classic case of an initialization that trains at a
small learning rate and stalls at a large one without warmup (Xiong et al. 2020, "On Layer
Normalization in the Transformer Architecture": at initialization the gradients of its top
layers are large, and Adam's first steps at a large rate derail it).

`first_updates` takes `steps` updates of a fresh copy of the given optimizer on the batch,
and the same at a tenth of its learning rate from the same weights, and returns the mean
loss before and after each. A net that does not fit the batch at the given rate may just
be learning slowly (a small rate, plain SGD); one that does worse at the given rate than at
a tenth of it is past the rate its initialization takes.
"""

import dataclasses
import math

import keras

from initializers.diagnostics.gradients import backend_gradients


@dataclasses.dataclass
class UpdatesMeasurement:
    """Mean loss on the batch before and after each of `steps` updates of `optimizer` at
    its learning rate (`losses`, `ratio`: last over first, inf once not finite) and at a
    tenth of it (`smaller_rate_losses`, `smaller_rate_ratio`)."""

    optimizer: str
    learning_rate: float
    steps: int
    losses: list
    ratio: float
    smaller_rate_losses: list
    smaller_rate_ratio: float

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


def _updates(model, inputs, mean_loss_of_outputs, optimizer, steps):
    """Mean losses before and after each of `steps` updates (stops once not finite)."""
    variables = list(model.trainable_variables)
    losses = [_loss_value(model, inputs, mean_loss_of_outputs)]
    for _ in range(steps):
        if not math.isfinite(losses[-1]):
            break
        gradients = backend_gradients(model, mean_loss_of_outputs, inputs, variables)
        optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in gradients], variables))
        losses.append(_loss_value(model, inputs, mean_loss_of_outputs))
    return losses


def _ratio(losses):
    first, last = losses[0], losses[-1]
    return last / first if math.isfinite(last) and first > 0 else math.inf


def first_updates(model, inputs, mean_loss_of_outputs, optimizer, steps):
    """`UpdatesMeasurement` of `steps` updates of a fresh copy of `optimizer` on `inputs`,
    then (from the same weights) of a copy at a tenth of its learning rate, with the mean
    loss `mean_loss_of_outputs(outputs)`. Leaves the model's weights as they were found,
    the slots and step counters of the copies aside."""
    start = [keras.ops.convert_to_numpy(v) for v in model.weights]
    losses = _updates(model, inputs, mean_loss_of_outputs, fresh_optimizer(optimizer), steps)
    for variable, value in zip(model.weights, start):
        variable.assign(value)
    smaller = _updates(model, inputs, mean_loss_of_outputs, fresh_optimizer(optimizer, 0.1), steps)
    for variable, value in zip(model.weights, start):
        variable.assign(value)
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    return UpdatesMeasurement(type(optimizer).__name__, rate, steps, losses, _ratio(losses), smaller,
                              _ratio(smaller))


__all__ = ["UpdatesMeasurement", "first_updates", "fresh_optimizer"]
