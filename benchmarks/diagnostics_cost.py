"""Cost of one diagnostics pass, in forward passes of the model it diagnoses.

Run: python -m benchmarks.diagnostics_cost [--width 1000] [--repeats 5]

Model: Glorot & Bengio's net (`models.DeepMLP`, 5 hidden tanh layers, 1024
inputs, 9 classes) on their 300 fixed examples. Rows, side by side in one run:
one forward pass and one forward + backward pass (the backend's autodiff, a
training step without the update) as the yardsticks; every layer's activations
from one multi-output model (what the recorder runs) vs the naive one sub-model
per layer; `activation_statistics`; the numpy backpropagation of Dense chains
alone, the autodiff path any model takes (`autodiff_gradients`, which copies the
model with taps on every call), and `gradient_statistics` (backpropagation plus
the statistics of ~5 million weight-gradient values: the percentiles and
histograms dominate); `jacobian_singular_values` (an eigenproblem
of width x width per example and layer, not meant to run every few steps).
Medians over `--repeats`; the first call of each (graph tracing) is not timed.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from benchmarks._timing import median_seconds  # noqa: E402
from initializers import diagnostics, initialize_weights  # noqa: E402
from initializers.diagnostics import probing  # noqa: E402
from models import DeepMLP  # noqa: E402
from reproductions.data import shapeset  # noqa: E402


def _forward_backward(model, inputs, labels):
    """One forward + backward pass with the backend's autodiff."""
    backend = keras.backend.backend()
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=False))
            return tape.gradient(loss, model.trainable_variables)

        return lambda: [g.numpy() for g in step(inputs, labels)]
    if backend == "jax":
        import jax

        def loss(values, x, y):
            logits, _ = model.stateless_call(values, [], x)
            return loss_fn(y, logits)

        grad = jax.jit(jax.grad(loss))
        values = [v.value for v in model.trainable_variables]
        return lambda: [g.block_until_ready() for g in grad(values, inputs, labels)]
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    images, labels = shapeset.generate(args.examples, seed=0)
    inputs = images.reshape(args.examples, -1)
    model = DeepMLP(inputs.shape[1], 9, depth=5, width=args.width, activation="tanh")
    initialize_weights(model, "standard_uniform", seed=0)
    per_layer_models = [keras.Model(model.inputs, layer.output) for layer in model.layers[1:]]
    probes = diagnostics.probes(model)
    probe_model = probing.probe_model(model, [p.output_layer.output for p in probes])

    rows = {
        "forward pass, model(x)": lambda: keras.ops.convert_to_numpy(model(inputs)),
        "forward + backward (backend autodiff)": _forward_backward(model, inputs, labels),
        "every layer's activations: one multi-output model (as the recorder)":
            lambda: probing.run(probe_model, inputs),
        "every layer's activations: one sub-model per layer (the naive way)":
            lambda: [keras.ops.convert_to_numpy(m(inputs)) for m in per_layer_models],
        "activation_statistics (probe model + statistics + histograms)":
            lambda: diagnostics.activation_statistics(model, inputs, value_range=(-1, 1)),
        "backpropagate (numpy, every layer's d loss/d h and d loss/d W)":
            lambda: diagnostics.backpropagate(model, inputs, labels),
        "autodiff_gradients (tapped copy of the model + backend autodiff)":
            lambda: diagnostics.autodiff_gradients(model, inputs, labels),
        "gradient_statistics (backpropagate + statistics + histograms)":
            lambda: diagnostics.gradient_statistics(model, inputs, labels),
        "jacobian_singular_values (16 examples)":
            lambda: diagnostics.jacobian_singular_values(model, inputs, max_examples=16),
    }
    seconds = {name: median_seconds(f, args.repeats) for name, f in rows.items() if f is not None}
    forward = seconds["forward pass, model(x)"]
    print(f"backend={keras.backend.backend()} keras={keras.__version__} cpus={os.cpu_count()} "
          f"DeepMLP 5 x {args.width} tanh, {args.examples} examples, median of {args.repeats}\n")
    print("| diagnostics pass | ms | in forward passes |")
    print("|---|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {1000 * value:.1f} | {value / forward:.1f} |")


if __name__ == "__main__":
    main()
