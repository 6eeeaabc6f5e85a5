"""Training steps/s of the reproductions' nets on every installed Keras backend, side by side.

Run: python -m benchmarks.backends_speed [--steps 300]

The nets: He et al. 2015's 30-layer plain net at the quick profile's width (1/32,
Shapeset-location images, batch 64, SGD momentum), the He faithful profile's 22-layer
net (width 1/16, stride-1 stem; its config asks for no XLA, TensorFlow's fastest on a
CPU), and Glorot & Bengio's 5 x 1000 tanh MLP (flattened Shapeset-3x2, batch 10, plain
SGD). Each backend runs in its own process (KERAS_BACKEND must be set before Keras is
imported) with the same data, model and `fit` call, compiled as the harness compiles
(`harness.compile_options`: the config's XLA choice and 10 steps per execution; JAX
always compiled; torch eagerly one step at a time); the first `--warmup` steps
(compilation) are not timed. Under JAX the faithful net is also timed uncompiled (what
its config's `jit_compile=False` would give), the reason JAX always compiles. The table
ends with the fastest backend per net and the command that selects it.
"""

import argparse
import json
import os
import subprocess
import sys

NETS = {"he": "he2015 quick: PlainNet 30 layers, width 1/32, batch 64",
        "faithful": "he2015 faithful: PlainNet 22 layers, width 1/16, stride-1 stem, batch 64",
        "glorot": "glorot2010 DeepMLP 5 x 1000 tanh, batch 10"}
PROFILE_OF = {"he": "--profile quick", "faithful": "", "glorot": ""}

_CHILD = r"""
import json, sys, time, types
import numpy as np, keras
import models
from reproductions.data import shapeset
from reproductions.harness import compile_options
steps, warmup = int(sys.argv[1]), int(sys.argv[2])
# As the harness compiles (the config's XLA choice, 10 steps per execution, as the backend allows).
options = lambda jit: compile_options(types.SimpleNamespace(jit_compile=jit, steps_per_execution=10))
results, modes = {}, {}
nets = [("he", lambda: models.PlainNet(30, 1 / 32, (32, 32, 1), 9), shapeset.generate_location, 64,
         lambda: keras.optimizers.SGD(1e-3, momentum=0.9), False, options(True)),
        ("faithful", lambda: models.PlainNet(22, 1 / 16, (32, 32, 1), 9, stem="small_images"),
         shapeset.generate_location, 64, lambda: keras.optimizers.SGD(3e-3, momentum=0.9), False, options(False)),
        ("glorot", lambda: models.DeepMLP(1024, 9, depth=5, width=1000, activation="tanh"), shapeset.generate, 10,
         lambda: keras.optimizers.SGD(1e-2), True, options(True))]
if keras.backend.backend() == "jax":  # what the faithful config's jit_compile=False would give
    nets.append(("faithful_uncompiled", *nets[1][1:-1], {"jit_compile": False, "steps_per_execution": 10}))
for key, build, generator, batch, optimizer, flatten, compiled in nets:
    images, labels = generator(batch * (steps + warmup), 0)
    if flatten:
        images = images.reshape(len(images), -1)
    model = build()
    model.compile(optimizer(), keras.losses.SparseCategoricalCrossentropy(from_logits=True), **compiled)
    model.fit(images[:batch * warmup], labels[:batch * warmup], batch_size=batch, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(images[batch * warmup:], labels[batch * warmup:], batch_size=batch, epochs=1, verbose=0)
    results[key] = steps / (time.perf_counter() - start)
    modes[key] = ("XLA" if compiled["jit_compile"] else "no XLA") + f", {compiled['steps_per_execution']}/call"
print("RESULT " + json.dumps({"backend": keras.backend.backend(), **results, "modes": modes}))
"""


def installed(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rows = []
    for backend, module in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch")):
        if not installed(module):
            print(f"# {backend}: not installed, skipped", file=sys.stderr)
            continue
        env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run([sys.executable, "-c", _CHILD, str(args.steps), str(args.warmup)], cwd=root,
                                env=env, capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
        if result.returncode or not lines:
            print(f"# {backend}: failed: {result.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            continue
        rows.append(json.loads(lines[-1][len("RESULT "):]))
    print(f"cpus={os.cpu_count()} steps={args.steps} (after {args.warmup} warm-up steps), one process "
          "per backend, compiled as the harness compiles\n")
    print("| backend | " + " | ".join(f"{net} (steps/s; compile)" for net in NETS.values()) + " |")
    print("|---" * (len(NETS) + 1) + "|")
    base = rows[0] if rows else {}
    for row in rows:
        cells = [f"{row[key]:.3g} ({row[key] / base[key]:.2f}x; {row['modes'][key]})" for key in NETS]
        print(f"| {row['backend']} | " + " | ".join(cells) + " |")
    for row in rows:
        if "faithful_uncompiled" in row:
            print(f"\n{row['backend']}, the faithful net uncompiled: {row['faithful_uncompiled']:.3g} steps/s "
                  f"(compiled: {row['faithful']:.3g})")
    for key, net in NETS.items():
        if rows:
            best = max(rows, key=lambda r: r[key])
            script = f"scripts/reproduce_{net.split()[0]}.sh {PROFILE_OF[key]}".strip()
            print(f"\nfastest for {net}: {best['backend']} (KERAS_BACKEND={best['backend']} bash {script})")


if __name__ == "__main__":
    main()
