"""Build and first-step time of Xiao et al. 2018's vanilla CNN (and of the residual CNN of
the Fixup reproduction) against depth.

Run: python -m benchmarks.vanilla_cnn_build [--depths 10 100 1000 10000] [--channels 64]
                                            [--net vanilla|residual|residual_batchnorm]

The identical layers are one `models.StackedConvolution` applied with
`keras.ops.scan`, so the graph holds one convolution at any depth: building
(drawing every slice's kernel: delta-orthogonal, one QR per layer) and compiling (the
first training step) should take seconds, not minutes, at 1,000 layers and beyond.
Prints one row per depth: build, first step (trace + compile + one update), a later step,
parameters, and the process's peak resident memory (each depth in a fresh process, so
the peaks are comparable: what the forward pass keeps for the backward one grows with
depth). MNIST-sized inputs (28x28x1, two stride-2 convolutions: 7x7 maps), batch 8.
`--net residual`: `models.ResidualCNN` with depth / 2 basic blocks (the same number of
identical 3x3 convolutions, two per block, plus the merges), Fixup's scalars and draw;
`residual_batchnorm`: with BatchNorm after each convolution instead.
"""

import argparse
import concurrent.futures
import multiprocessing
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from models import ResidualCNN, VanillaCNN  # noqa: E402

NETS = ("vanilla", "residual", "residual_batchnorm")


def build_net(net, depth, channels):
    """The net of `--net` with `depth` identical convolution layers."""
    if net == "vanilla":
        return VanillaCNN(depth, channels=channels, input_shape=(28, 28, 1), seed=0)
    from initializers import initialize_weights

    batch_norm = net == "residual_batchnorm"
    model = ResidualCNN(max(1, depth // 2), channels=channels, input_shape=(28, 28, 1), downsampling=2,
                        normalization="batch" if batch_norm else None, scalars=None if batch_norm else "fixup",
                        seed=0)
    if not batch_norm:
        initialize_weights(model, "fixup", seed=0)
    return model


def measure(depth, channels, batch_size, net="vanilla"):
    """(build s, first step s, later step s, parameters) of one depth."""
    start = time.perf_counter()
    model = build_net(net, depth, channels)
    build = time.perf_counter() - start
    model.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).standard_normal((batch_size, 28, 28, 1)).astype("float32")
    y = np.arange(batch_size) % 10
    start = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter() - start
    start = time.perf_counter()
    model.train_on_batch(x, y)
    later = time.perf_counter() - start
    return build, first, later, model.count_params()


def measure_in_fresh_process(depth, channels, batch_size, net="vanilla"):
    """`measure`'s row plus the peak resident memory (MiB) of a process that ran only it."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_measure_with_peak_memory, depth, channels, batch_size, net).result()


def _measure_with_peak_memory(depth, channels, batch_size, net):
    row = measure(depth, channels, batch_size, net)
    return (*row, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # Linux: KiB


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--net", choices=NETS, default="vanilla")
    args = parser.parse_args()
    print(f"backend={keras.backend.backend()} keras={keras.__version__} cpus={os.cpu_count()} "
          f"net={args.net} channels={args.channels} batch={args.batch_size}\n")
    print("| depth | build s | first step s (trace, compile, update) | later step s | parameters | peak memory MiB |")
    print("|---|---|---|---|---|---|")
    for depth in args.depths:
        build, first, later, parameters, peak = measure_in_fresh_process(depth, args.channels, args.batch_size,
                                                                         args.net)
        print(f"| {depth:,} | {build:.1f} | {first:.1f} | {later:.2f} | {parameters:,} | {peak:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
