"""Time to draw large kernels: our initializers next to the Keras built-in of each family.

Run: python -m benchmarks.initializers_speed [--repeats 7]

Prints a Markdown table (median wall time over repeats after one warm-up draw,
values copied to host memory so lazy backends finish). Target: ours within 1.1x
of the built-in for the variance-scaling family. Both sides are given an int seed.
"""

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import initializers as ours  # noqa: E402

SHAPES = ((4096, 4096), (3, 3, 512, 512))
SEED = 1234

# (row label, our initializer, Keras built-in of the same family or None)
PAIRS = (
    ("HeNormal (ours untruncated / Keras truncated)", ours.HeNormal(seed=SEED),
     keras.initializers.HeNormal(seed=SEED)),
    ("HeNormal truncated (both truncated)", ours.HeNormal(truncated=True, seed=SEED),
     keras.initializers.HeNormal(seed=SEED)),
    ("HeUniform", ours.HeUniform(seed=SEED), keras.initializers.HeUniform(seed=SEED)),
    ("GlorotUniform", ours.GlorotUniform(seed=SEED), keras.initializers.GlorotUniform(seed=SEED)),
    ("GlorotNormal (ours untruncated / Keras truncated)", ours.GlorotNormal(seed=SEED),
     keras.initializers.GlorotNormal(seed=SEED)),
    ("LecunNormal (ours untruncated / Keras truncated)", ours.LecunNormal(seed=SEED),
     keras.initializers.LecunNormal(seed=SEED)),
    ("LecunUniform", ours.LecunUniform(seed=SEED), keras.initializers.LecunUniform(seed=SEED)),
    ("StandardUniform / Keras VarianceScaling(1/3, fan_in, uniform)", ours.StandardUniform(seed=SEED),
     keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform", seed=SEED)),
    ("Orthogonal", ours.Orthogonal(seed=SEED), keras.initializers.Orthogonal(seed=SEED)),
    ("DeltaOrthogonal (no Keras built-in)", ours.DeltaOrthogonal(seed=SEED), None),
)


def _time_once(initializer, shape):
    start = time.perf_counter()
    keras.ops.convert_to_numpy(initializer(shape))
    return time.perf_counter() - start


def _median_seconds(initializers_to_time, shape, repeats):
    """Median draw time of each initializer, timed interleaved so that load drift
    on the machine affects both sides of a comparison alike."""
    for initializer in initializers_to_time:
        _time_once(initializer, shape)  # warm-up (tracing, allocation)
    times = [[] for _ in initializers_to_time]
    for _ in range(repeats):
        for index, initializer in enumerate(initializers_to_time):
            times[index].append(_time_once(initializer, shape))
    return [statistics.median(t) for t in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed draws per cell")
    args = parser.parse_args()
    print(f"backend={keras.backend.backend()} keras={keras.__version__} "
          f"python={platform.python_version()} cpus={os.cpu_count()} repeats={args.repeats}\n")
    print("| initializer | shape | ours (ms) | Keras (ms) | ours / Keras |")
    print("|---|---|---|---|---|")
    for label, mine, builtin in PAIRS:
        for shape in SHAPES:
            if isinstance(mine, ours.DeltaOrthogonal) and len(shape) != 4:
                continue
            if builtin is None:
                (ours_s,) = _median_seconds([mine], shape, args.repeats)
                keras_cell, ratio_cell = "-", "-"
            else:
                ours_s, keras_s = _median_seconds([mine, builtin], shape, args.repeats)
                keras_cell, ratio_cell = f"{keras_s * 1e3:.1f}", f"{ours_s / keras_s:.2f}x"
            print(f"| {label} | {shape} | {ours_s * 1e3:.1f} | {keras_cell} | {ratio_cell} |",
                  flush=True)


if __name__ == "__main__":
    main()
