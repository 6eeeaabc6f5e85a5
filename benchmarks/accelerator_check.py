"""What this machine's device does for the full profiles: devices, steps/s, projected wall time.

Run: python -m benchmarks.accelerator_check [--steps 200] [--profiles zhang2019 ...]
     (or scripts/check_accelerator.sh)

For each driver's `full` profile it builds that profile's largest net (the one whose
step is the most expensive), trains it `--steps` steps on synthetic data of the
profile's input shape (after a short warm-up, so compilation is not timed), and
projects the profile's training time as (sum of every run's updates) / steps/s / GPUs
(one run per GPU; on a CPU-only machine, one process): an upper bound in that every run
is charged the largest net's step, a lower one in that evaluation is left out. Then the
same with fused groups (`reproductions.sweeps.fused_groups`): it trains as many copies of
the probed net as the sweep would put in its group, as one program the way the harness
does (one input per stream: here one, as the members of one seed share it), and charges
each run the group's step divided by its runs. Works
on a CPU-only machine too, and says so. Xiao et al. 2018's profile (10 to 10,000
layers of one net) probes the 1,250-layer net instead and charges each run in
proportion to its depth; Zhang et al. 2019's (10 to 10,000 layers of a residual net) its
1,000-layer BatchNorm net, likewise.
"""

import argparse
import math
import os
import time
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import models  # noqa: E402
from reproductions import data, harness, sweeps  # noqa: E402
from reproductions.configs import glorot2010, he2015, trainability, xiao2018, zhang2019  # noqa: E402

# Fewer probe steps where one step is long (the 1,250-layer CNN: ~30 s on a 2-core CPU).
MAX_PROBE_STEPS = {"xiao2018": 5, "zhang2019": 5}
# Xiao et al. 2018's full profile spans 10 to 10,000 layers of one net, whose update cost
# grows linearly with depth (benchmarks/README.md#very-deep-vanilla-cnns): it probes the
# 1,250-layer net and charges each run depth / 1,250 of that net's update.
XIAO_PROBED_DEPTH = 1250
# Zhang et al. 2019 (Fixup) likewise: 10 to 10,000 layers of one residual net; it probes the
# 1,000-layer net (BatchNorm, the costliest row) and charges each run depth / 1,000.
ZHANG_PROBED_DEPTH = 1000


def _largest(configs, cost):
    return max(configs, key=cost)


def _full_profiles():
    """(name, runs, probed config, update cost of a run relative to the probed net's) of
    each driver's full profile."""
    profiles = []
    for name, module, cost in (
            ("he2015", he2015, lambda c: c.model_kwargs["depth"]),
            ("glorot2010", glorot2010, lambda c: c.model_kwargs["input_dim"] * c.model_kwargs["width"]),
            ("trainability map 1", trainability,
             lambda c: c.model_kwargs["depth"] if c.tags.get("map") == "relu" else -1),
            ("trainability map 2", trainability,
             lambda c: c.model_kwargs["depth"] if c.tags.get("map") == "tanh" else -1),
            ("xiao2018", xiao2018, lambda c: -abs(c.model_kwargs["depth"] - XIAO_PROBED_DEPTH)),
            ("zhang2019", zhang2019,
             lambda c: -abs(c.tags["depth"] - ZHANG_PROBED_DEPTH) + (c.tags["row"] == "batchnorm"))):
        configs, seeds = module.get_experiment("full")
        if name.startswith("trainability"):
            kind = "relu" if name.endswith("1") else "tanh"
            configs = [c for c in configs if c.tags["map"] == kind]
        runs = [c.replace(seed=s) for c in configs for s in seeds]
        probed = _largest(configs, cost)
        relative = ((lambda run, depth=probed.model_kwargs["depth"]: run.model_kwargs["depth"] / depth)
                    if name == "xiao2018" else
                    (lambda run, depth=probed.tags["depth"]: run.tags["depth"] / depth) if name == "zhang2019"
                    else (lambda run: 1.0))
        profiles.append((name, runs, probed, relative))
    return profiles


def _group_size(runs, probed, workers):
    """How many runs the sweep trains in the probed net's group (`sweeps.fused_groups`)."""
    key = probed.fusion_key()
    return max(len(group) for group in sweeps.fused_groups(runs, jobs=workers) if group[0].fusion_key() == key)


def _steps_per_second(config, steps, warmup, members=1):
    """Steps/s of `members` copies of the config's net trained as one program (the
    harness's `_Ensemble`, every copy on the same batch, as runs of one seed share it)."""
    nets = [models.build(config.model, **config.model_kwargs) for _ in range(members)]
    model = harness._Ensemble(nets, [0] * members)
    shape = data.input_shape(config.dataset)
    size = config.batch_size * (steps + warmup)
    rng = np.random.default_rng(0)
    example_shape = (math.prod(shape),) if config.flatten else shape
    images = rng.uniform(-1, 1, (size, *example_shape)).astype("float32")
    labels = rng.integers(0, data.num_classes(config.dataset), size)
    model.compile(harness.optimizer_of(config),
                  {key: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for key in model.member_keys},
                  # as the harness compiles, 10 steps per call (the configs' own need not divide the probe)
                  **harness.compile_options(types.SimpleNamespace(jit_compile=config.jit_compile,
                                                                  steps_per_execution=10)))

    def fit(part):
        model.fit((images[part],), {key: labels[part] for key in model.member_keys},
                  batch_size=config.batch_size, verbose=0)

    fit(slice(0, config.batch_size * warmup))
    start = time.perf_counter()
    fit(slice(config.batch_size * warmup, None))
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profiles", nargs="+", default=None, metavar="NAME",
                        help="probe only these full profiles (default: all), e.g. zhang2019")
    args = parser.parse_args()
    devices = keras.distribution.list_devices()
    accelerators = [d for d in devices if not d.lower().startswith("cpu")]
    workers = sweeps.visible_gpus() or 1  # one run per GPU; on a CPU, the one probed process
    print(f"backend={keras.backend.backend()} devices={devices}")
    print("accelerators: " + (", ".join(accelerators) if accelerators else
                              "none: CPU only (the projections are for this CPU, one process)"))
    print(f"default sweep workers: {sweeps.default_jobs()}\n")
    print("| full profile | runs | updates in all | probed net | steps/s | projected wall time | "
          "fused group | group steps/s | projected, fused |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, runs, probed, relative in _full_profiles():
        if args.profiles and name not in args.profiles:
            continue
        steps = min(args.steps, MAX_PROBE_STEPS.get(name, args.steps))
        rate = _steps_per_second(probed, steps, min(args.warmup, steps))
        members = _group_size(runs, probed, workers)
        group_rate = _steps_per_second(probed, steps, min(args.warmup, steps), members)
        updates = sum(run.steps for run in runs)
        charged = sum(run.steps * relative(run) for run in runs) / min(workers, len(runs)) / 3600
        net = f"{probed.model} {json_kwargs(probed.model_kwargs)} batch {probed.batch_size}"
        print(f"| {name} | {len(runs)} | {updates:,} | {net} | {rate:.3g} | {charged / rate:.1f} h "
              f"({min(workers, len(runs))} at a time) | {members} runs | {group_rate:.3g} | "
              f"{charged / (group_rate * members):.1f} h |")


def json_kwargs(kwargs):
    keep = {k: v for k, v in kwargs.items()
            if k in ("depth", "blocks", "width", "width_multiplier", "input_dim", "normalization")}
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in keep.items())


if __name__ == "__main__":
    main()
