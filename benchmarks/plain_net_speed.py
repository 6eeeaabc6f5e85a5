"""Steps/s of each He 2015 profile's 30-layer net: the harness with and without XLA, next
to a plain `tf.function` training loop of the same net, same data, same process kind.

Run: python -m benchmarks.plain_net_speed [--steps 150] [--threads 1] [--profiles quick faithful]

Why: XLA's CPU convolutions are fast on tiny maps and slow once maps and channels grow,
so each profile's compile mode (`jit_compile` in `reproductions/configs/he2015.py`) is
chosen from this table. Each row runs in its own process with `--threads` intra-op
threads (1 = what each of the 2 workers of the default `--jobs` gets on a 2-core
machine), TensorFlow backend. The harness row is `harness.run` on the profile's
Fig. 3 config (He init, its batch, optimizer and steps per execution; one evaluation
of one batch at the end); the plain rows are a hand-written `tf.function` step in a
Python loop over the same `reproductions.data` stream. All rows include the first
step's compilation, as a run does (a profile's run is 1,500 steps or more, so this
table, over fewer steps, slightly favours the mode that compiles faster).
"""

import argparse
import json
import os
import subprocess
import sys

MODES = ("harness, XLA", "harness, no XLA", "plain tf.function, XLA", "plain tf.function, no XLA")


def _config(profile, steps, jit_compile):
    import dataclasses

    from reproductions.configs import he2015 as he_config

    configs, _ = he_config.get_experiment(profile)
    config = next(c for c in configs if c.tags["figure"] == "fig3" and c.tags["init"] == "he")
    return dataclasses.replace(config, steps=steps, eval_every=steps, eval_examples=config.batch_size,
                               jit_compile=jit_compile, seed=0)


def _plain_loop(config):
    import keras

    import models
    from benchmarks.harness_speed import plain_loop_steps_per_second
    from initializers import initialize_weights
    from reproductions import data, harness

    keras.utils.set_random_seed(0)
    model = models.build(config.model, **config.model_kwargs)
    initialize_weights(model, config.initializer, seed=0)
    return plain_loop_steps_per_second(model, harness.optimizer_of(config),
                                       data.load(config.dataset, "train", config.batch_size, seed=0),
                                       config.steps, jit_compile=config.jit_compile)


def _child(profile, mode, steps, threads):
    from reproductions import worker

    worker.configure(threads)
    worker._pin_tensorflow_threads(threads)
    config = _config(profile, steps, jit_compile="no XLA" not in mode)
    if mode.startswith("harness"):
        import tempfile

        from reproductions import harness

        with tempfile.TemporaryDirectory() as workdir:
            rate = harness.run(config, workdir, verbose=0)["train_steps_per_s"]
    else:
        rate = _plain_loop(config)
    print("RESULT " + json.dumps({"rate": rate, "net": _describe(config)}))


def _describe(config):
    kwargs = config.model_kwargs
    return (f"{kwargs['depth']} layers, width x{kwargs['width_multiplier']:g}, stem "
            f"{kwargs.get('stem', 'paper')}, batch {config.batch_size}")


def _measure(profile, mode, steps, threads):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "benchmarks.plain_net_speed", "--child", profile, mode,
                             "--steps", str(steps), "--threads", str(threads)],
                            capture_output=True, text=True, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"{profile} / {mode} failed:\n{result.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profiles", nargs="+", default=["quick", "faithful"])
    parser.add_argument("--child", nargs=2, metavar=("PROFILE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child, args.steps, args.threads)
        return
    import keras
    import tensorflow as tf

    print(f"backend=tensorflow tensorflow={tf.__version__} keras={keras.__version__} cpus={os.cpu_count()} "
          f"threads={args.threads} steps={args.steps} (each row its own process)\n")
    print("| profile | net | training loop | steps/s | vs plain loop, same compile |")
    print("|---|---|---|---|---|")
    for profile in args.profiles:
        results = {mode: _measure(profile, mode, args.steps, args.threads) for mode in MODES}
        for mode, result in results.items():
            plain = results["plain tf.function, no XLA" if "no XLA" in mode else "plain tf.function, XLA"]
            print(f"| {profile} | {result['net']} | {mode} | {result['rate']:.1f} | "
                  f"{result['rate'] / plain['rate']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
