"""The diagnostics' autodiff gradients on every installed Keras backend, side by side.

Run: python -m benchmarks.backends_gradients

One 22-layer plain net of He et al. 2015 (width 1/32, 32x32 inputs), one set of
weights (drawn once with numpy, He's variance) and one batch of 16 examples; each
backend, in its own process, computes every kernel's gradient norm
(`kernel_gradient_norms`) and the RMS of the back-propagated gradient at every weight
layer (`autodiff_gradients`). The table gives each backend's largest relative
difference to TensorFlow's numbers: the backends must agree up to float32 round-off.
torch is not in requirements.txt; install it to include it.
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, sys
import numpy as np, keras
import models
from initializers.diagnostics import gradients
model = models.PlainNet(22, 1 / 32, (32, 32, 1), 9)
data = np.load(sys.argv[1])
model.set_weights([data[f"w{i}"] for i in range(len(model.weights))])
_, norms = gradients.kernel_gradient_norms(model, data["batch"], data["labels"])
backprop, _ = gradients.autodiff_gradients(model, data["batch"], data["labels"])
print("RESULT " + json.dumps({"norms": [float(n) for n in norms],
                              "backprop_rms": [float(np.sqrt(np.mean(np.square(b)))) for b in backprop]}))
"""


def _inputs(path):
    """Weights (He's variance from the shapes, numpy) and one batch, saved for every backend."""
    import numpy as np

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import models

    model = models.PlainNet(22, 1 / 32, (32, 32, 1), 9)
    rng = np.random.default_rng(0)
    weights = {f"w{i}": (rng.standard_normal(w.shape) * np.sqrt(2.0 / max(1, np.prod(w.shape[:-1]))))
               .astype("float32") for i, w in enumerate(model.get_weights())}
    np.savez(path, **weights, batch=rng.uniform(-1, 1, (16, 32, 32, 1)).astype("float32"),
             labels=rng.integers(0, 9, 16))


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "inputs.npz")
        subprocess.run([sys.executable, "-c", f"from benchmarks.backends_gradients import _inputs; _inputs({path!r})"],
                       cwd=root, env={**os.environ, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=True)
        for backend in ("tensorflow", "jax", "torch"):
            if importlib.util.find_spec(backend) is None:
                print(f"# {backend}: not installed, skipped", file=sys.stderr)
                continue
            env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "3"}
            run = subprocess.run([sys.executable, "-c", _CHILD, path], cwd=root, env=env, capture_output=True,
                                 text=True)
            lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
            if run.returncode or not lines:
                print(f"# {backend}: failed: {run.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            results[backend] = json.loads(lines[-1][len("RESULT "):])
    if "tensorflow" not in results:
        sys.exit("TensorFlow is the reference and did not run")
    reference = results["tensorflow"]
    print("PlainNet 22 layers, width 1/32, batch 16; max relative difference to TensorFlow over the layers\n")
    print("| backend | kernel gradient norms | back-propagated gradient RMS |")
    print("|---|---|---|")
    for backend, result in results.items():
        cells = [max(abs(a - b) / abs(a) for a, b in zip(reference[key], result[key]))
                 for key in ("norms", "backprop_rms")]
        print(f"| {backend} | " + " | ".join(f"{cell:.1e}" for cell in cells) + " |")


if __name__ == "__main__":
    main()
