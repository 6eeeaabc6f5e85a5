"""Training throughput of the harness vs a plain tf.function loop, and Shapeset's generator.

Run: python -m benchmarks.harness_speed [--steps 3000]

Same model (case 1's SimpleMLP(1024, 256, 9)), same optimizer, same input
pipeline (`reproductions.data.load`), same process. The harness row is
`harness.run` (Keras `fit` with callbacks; its step rate includes one evaluation
of a single batch at the end); the plain row is a hand-written `tf.function` training step
(XLA) in a Python loop. Both include the first step's compilation. Target:
harness >= 0.95x of the plain loop. The last rows add the diagnostics callback
(`initializers.diagnostics.ActivationStatsRecorder`, without and with gradient
statistics) to show its overhead. Also prints Shapeset-3x2 images/s on one core
(target >= 20,000).
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import models  # noqa: E402
from initializers import diagnostics, initialize_weights  # noqa: E402
from reproductions import data, harness  # noqa: E402
from reproductions.data import shapeset  # noqa: E402
from reproductions.run_config import RunConfig, RunOptions  # noqa: E402

MODEL_KWARGS = dict(input_dim=1024, hidden_dim=256, output_dim=9)
BATCH_SIZE = 64
LEARNING_RATE = 0.01


def harness_steps_per_second(steps, steps_per_execution, record=None):
    config = RunConfig(
        name=f"bench-spe{steps_per_execution}", model="simple_mlp", model_kwargs=MODEL_KWARGS,
        initializer="he_normal", flatten=True, batch_size=BATCH_SIZE, steps=steps,
        eval_every=steps, eval_examples=BATCH_SIZE, learning_rate=LEARNING_RATE,
        steps_per_execution=steps_per_execution)
    with tempfile.TemporaryDirectory() as workdir:
        callbacks = []
        if record:
            # Glorot & Bengio's setting: statistics of 300 fixed examples every 100 updates;
            # record="gradients" adds the back-propagated and weight-gradient statistics.
            images, labels = shapeset.generate(300, seed=0)
            callbacks.append(diagnostics.ActivationStatsRecorder(
                images.reshape(300, -1), os.path.join(workdir, "stats.jsonl"), every=100,
                labels=labels if record == "gradients" else None))
        final = harness.run(config, workdir, RunOptions(callbacks_for=lambda config: callbacks), verbose=0)
    return final["train_steps_per_s"]


def plain_loop_steps_per_second(model, optimizer, dataset, steps, jit_compile=True):
    """Steps/s of a hand-written `tf.function` training step (cross-entropy on logits) in a
    Python loop over `dataset`, the first step's compilation included: the reference
    the harness is compared with (here and in `benchmarks.plain_net_speed`)."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit_compile)
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    start = time.perf_counter()
    for images, labels in dataset.take(steps):
        loss = train_step(images, labels)
    float(loss)  # wait for the last step
    return steps / (time.perf_counter() - start)


def plain_steps_per_second(steps):
    keras.utils.set_random_seed(0)
    model = models.build("simple_mlp", **MODEL_KWARGS)
    initialize_weights(model, "he_normal", seed=0)
    return plain_loop_steps_per_second(model, keras.optimizers.SGD(LEARNING_RATE, momentum=0.9),
                                       data.load("shapeset3x2", "train", BATCH_SIZE, seed=0, flatten=True), steps)


def shapeset_images_per_second(num_examples=20_000, repeats=3):
    shapeset.generate(1000, seed=0)  # warm-up
    times = []
    for repeat in range(repeats):
        start = time.perf_counter()
        shapeset.generate(num_examples, seed=repeat)
        times.append(time.perf_counter() - start)
    return num_examples / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps per measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds; each measures every loop once, in turn, and the table "
                             "shows the median over rounds (machine load drifts)")
    args = parser.parse_args()
    tf.config.threading.set_inter_op_parallelism_threads(0)
    print(f"backend={keras.backend.backend()} tensorflow={tf.__version__} keras={keras.__version__} "
          f"cpus={os.cpu_count()} steps={args.steps} batch={BATCH_SIZE} rounds={args.rounds}\n")
    loops = {
        "plain tf.function loop (XLA)": lambda: plain_steps_per_second(args.steps),
        "harness.run, steps_per_execution=1": lambda: harness_steps_per_second(args.steps, 1),
        "harness.run, steps_per_execution=10": lambda: harness_steps_per_second(args.steps, 10),
        "harness.run, steps_per_execution=10, + ActivationStatsRecorder (300 examples / 100 steps)":
            lambda: harness_steps_per_second(args.steps, 10, record="activations"),
        "same, recorder with labels (activations + gradients)":
            lambda: harness_steps_per_second(args.steps, 10, record="gradients"),
    }
    rates = {name: [] for name in loops}
    for _ in range(args.rounds):
        for name, measure in loops.items():
            rates[name].append(measure())
    medians = {name: statistics.median(values) for name, values in rates.items()}
    plain = medians["plain tf.function loop (XLA)"]
    print("| training loop | steps/s (median) | min-max over rounds | vs plain |")
    print("|---|---|---|---|")
    for name, rate in medians.items():
        print(f"| {name} | {rate:.0f} | {min(rates[name]):.0f}-{max(rates[name]):.0f} | "
              f"{rate / plain:.2f}x |")
    with_one_core = shapeset_images_per_second()
    print(f"\n| Shapeset-3x2 generator (numpy, one thread) | {with_one_core:,.0f} images/s |")
    print("|---|---|")


if __name__ == "__main__":
    main()
