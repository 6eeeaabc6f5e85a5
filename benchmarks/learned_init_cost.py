"""Cost of the learned initializations (GradInit, MetaInit) against the rules and LSUV, in
forward + backward passes of the model they initialize.

Run: python -m benchmarks.learned_init_cost [--net mlp|plain30] [--repeats 3]

Nets: `mlp`, a 30-layer Dense ReLU net (width 256, 64 inputs, batch 64); `plain30`, the
He 2015 driver's faithful 30-layer plain net (width 1/16, stride-1 stem, 32x32x1 inputs,
batch 64), what the learned-init reproduction trains. Rows, side by side in one run: one
forward pass and one forward + backward pass (the yardstick: a training step without the
update); drawing He's rule (`initialize_weights`); LSUV; one iteration of GradInit's
objective step (two forward + backward passes: the gradient on S, the loss after the step
on S' and its gradient), of its constraint step (a gradient of the gradient norm: a second
derivative), and of MetaInit (a gradient of the gradient quotient, itself built on a
Hessian-vector product: a third derivative). An iteration's cost is measured as the
difference between runs of 1 and 1 + `--iterations` iterations (tracing excluded).
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import models  # noqa: E402
from benchmarks._timing import median_seconds  # noqa: E402
from initializers import gradinit, initialize_weights, lsuv, metainit  # noqa: E402
from reproductions.configs import plain_net_kwargs  # noqa: E402

BATCH = 64


def _net(name):
    if name == "mlp":
        x = keras.Input((64,))
        h = x
        for _ in range(29):
            h = keras.layers.Dense(256, activation="relu")(h)
        model = keras.Model(x, keras.layers.Dense(10)(h))
        shape, classes = (64,), 10
    else:
        model = models.build("plain_net", **plain_net_kwargs(30, 1 / 16, "small_images", "shapeset_location"))
        shape, classes = (32, 32, 1), 9
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4 * BATCH, *shape)).astype("float32")
    return model, x, rng.integers(0, classes, len(x))


def _per_iteration(run, iterations, repeats):
    """Seconds per iteration: (time of 1 + n iterations - time of 1) / n, medians."""
    one = median_seconds(lambda: run(1), repeats)
    many = median_seconds(lambda: run(1 + iterations), repeats)
    return (many - one) / iterations


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", choices=("mlp", "plain30"), default="mlp")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    model, x, y = _net(args.net)
    batch, labels = x[:BATCH], y[:BATCH]
    initialize_weights(model, "lecun_normal", seed=0)
    drawn = [keras.ops.convert_to_numpy(v) for v in model.weights]

    def reset():
        for variable, value in zip(model.weights, drawn):
            variable.assign(value)

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss_fn, jit_compile=False)
    forward = median_seconds(lambda: model.predict_on_batch(batch), args.repeats)
    step = median_seconds(lambda: model.train_on_batch(batch, labels), args.repeats)  # lr 0: no update

    def gradinit_run(iterations, bound=1.0):
        reset()
        gradinit(model, (x, y), optimizer="momentum", learning_rate=1e-3, iterations=iterations,
                 batch_size=BATCH, gradient_norm_bound=bound, seed=0)

    rows = [
        ("forward pass", forward),
        ("forward + backward (train_on_batch at lr 0)", step),
        ("initialize_weights(model, 'he_normal'), whole net", median_seconds(
            lambda: initialize_weights(model, "he_normal", seed=0), args.repeats)),
        ("lsuv(model, batch), whole net", median_seconds(lambda: (reset(), lsuv(model, batch, seed=0)),
                                                          args.repeats)),
        ("GradInit, one objective iteration (||g|| <= gamma)", _per_iteration(gradinit_run, args.iterations,
                                                                               args.repeats)),
        ("GradInit, one constraint iteration (||g|| > gamma)", _per_iteration(
            lambda n: gradinit_run(n, bound=1e-12), args.iterations, args.repeats)),
        ("MetaInit, one iteration (batch 64)", _per_iteration(
            lambda n: (reset(), metainit(model, (x, y), iterations=n, batch_size=BATCH, seed=0)),
            max(2, args.iterations // 5), max(1, args.repeats - 1))),
    ]
    print(f"backend={keras.backend.backend()} keras={keras.__version__} cpus={os.cpu_count()} net={args.net}, "
          f"batch {BATCH}, median of {args.repeats}\n")
    print("| step | s | in forward+backward passes |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.4f} | {seconds / step:.1f} |")


if __name__ == "__main__":
    main()
