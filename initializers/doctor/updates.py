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

`first_updates` takes `steps` updates of a fresh copy of the given optimizer on the batch
and returns the mean loss before and after each; the caller restores the weights.
"""

import dataclasses
import math

import keras

from initializers.diagnostics.gradients import backend_gradients


@dataclasses.dataclass
class UpdatesMeasurement:
    """Mean loss on the batch before and after each of `steps` updates of `optimizer`."""

    optimizer: str
    learning_rate: float
    steps: int
    losses: list
    ratio: float  # last loss over the first (inf or nan: diverged)

    def as_dict(self):
        return dataclasses.asdict(self)


def fresh_optimizer(optimizer):
    """A new optimizer of the same class and configuration (no slots, step 0)."""
    return optimizer.__class__.from_config(optimizer.get_config())


def _loss_value(model, inputs, mean_loss_of_outputs):
    return float(keras.ops.convert_to_numpy(mean_loss_of_outputs(model(inputs, training=False))))


def first_updates(model, inputs, mean_loss_of_outputs, optimizer, steps):
    """`UpdatesMeasurement` of `steps` updates of a fresh copy of `optimizer` on `inputs`,
    with the mean loss `mean_loss_of_outputs(outputs)`. Changes the model's weights: the
    caller restores them. Stops early once the loss is not finite."""
    optimizer = fresh_optimizer(optimizer)
    variables = list(model.trainable_variables)
    losses = [_loss_value(model, inputs, mean_loss_of_outputs)]
    for _ in range(steps):
        if not math.isfinite(losses[-1]):
            break
        gradients = backend_gradients(model, mean_loss_of_outputs, inputs, variables)
        optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in gradients], variables))
        losses.append(_loss_value(model, inputs, mean_loss_of_outputs))
    first, last = losses[0], losses[-1]
    ratio = last / first if math.isfinite(last) and first > 0 else math.inf
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    return UpdatesMeasurement(type(optimizer).__name__, rate, steps, losses, ratio)


__all__ = ["UpdatesMeasurement", "first_updates", "fresh_optimizer"]
