"""Cost of the init doctor on ResNet50 (224x224, batch 8) against one forward+backward pass.

Run: python -m benchmarks.doctor_cost [--model ResNet50] [--size 224] [--batch 8]

Builds the Keras application (weights=None, nothing downloaded), times one
forward+backward pass of a cross-entropy (the backend's autodiff, median of 3 after
one untimed pass), then the whole `examine` with the default methods (the model as
given, auto, he, glorot, orthogonal; LSUV is left out by default for BatchNorm models
such as ResNet50; each candidate drawn on the model, measured and undone). Target:
build + examination within ~60 s on 2 CPU cores.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from initializers.diagnostics import backend_gradients  # noqa: E402
from initializers.doctor import examine  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ResNet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    start = time.perf_counter()
    model = getattr(keras.applications, args.model)(weights=None, input_shape=(args.size, args.size, 3))
    build = time.perf_counter() - start
    rng = np.random.default_rng(0)
    batch = rng.standard_normal((args.batch, args.size, args.size, 3)).astype("float32")
    labels = rng.integers(0, model.output_shape[-1], args.batch)
    loss = keras.losses.SparseCategoricalCrossentropy()
    step = lambda: backend_gradients(model, lambda outputs: loss(labels, outputs), batch,
                                     model.trainable_variables)
    step()
    timings = []
    for _ in range(3):
        begin = time.perf_counter()
        step()
        timings.append(time.perf_counter() - begin)
    forward_backward = statistics.median(timings)
    begin = time.perf_counter()
    report = examine(model, batch)
    examination = time.perf_counter() - begin
    print(f"backend={keras.backend.backend()} keras={keras.__version__} cpus={os.cpu_count()} "
          f"{args.model} {args.size}x{args.size}, batch {args.batch}, methods {', '.join(report.results)}\n")
    print("| step | s | in forward+backward passes |")
    print("|---|---|---|")
    print(f"| build {args.model} (weights=None) | {build:.1f} | - |")
    print(f"| one forward+backward pass (median of 3) | {forward_backward:.2f} | 1.0 |")
    print(f"| examine, {len(report.results)} methods, {len(report.results['current'].layers)} weight layers | "
          f"{examination:.1f} | {examination / forward_backward:.1f} |")
    print(f"| build + examine | {build + examination:.1f} | - |")
    print(f"\nflagged: {sorted({f['kind'] for f in report.flags}) or 'nothing'}; recommended: {report.recommended}")


if __name__ == "__main__":
    main()
