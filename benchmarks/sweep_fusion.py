"""Wall time of a driver's sweep with fused groups vs each run alone (--no-fuse), same run.

Run: python -m benchmarks.sweep_fusion [--driver yang2022] [--profile quick] [--stride 1] [--jobs 2]

Trains the sweep of a driver's profile (its configs x seeds, the driver's own callbacks;
not its other measurements: coordinate checks, spectra, figures) into fresh workdirs,
once with `--no-fuse` (group size 1) and once fused (`sweeps.DEFAULT_GROUP_SIZE`), one
after the other on the same machine, and prints one table row each. `--stride K` keeps
every K-th config of the profile (with all its seeds), to measure a profile in less
time. The breakdown comes from the run folders' final.json: "set-up" is a group's wall time outside `fit` (building, initializing and
compiling the nets, the evaluation at step 0, writing the folders), "training" is `fit`
(the updates and the evaluations between them), in worker-seconds per run: a group's
time shared by its runs, summed over the sweep, divided by the runs.
"""

import argparse
import importlib
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from reproductions import sweeps  # noqa: E402
from reproductions.run_config import RunOptions  # noqa: E402

# The drivers whose runs carry callbacks: the driver module's `callbacks_for` factory.
CALLBACKS = {"he2015": ("reproductions.he2015.measure", "gradient_callbacks"),
             "glorot2010": ("reproductions.glorot2010.measure", "recorder_callbacks")}


def timed_sweep(driver, configs, seeds, workdir, jobs, group_size):
    """(wall seconds, set-up and training worker-seconds per run, groups) of one sweep."""
    options = RunOptions()
    if driver in CALLBACKS:
        module, name = CALLBACKS[driver]
        options = RunOptions(callbacks_for=getattr(importlib.import_module(module), name)(workdir))
    start = time.perf_counter()
    results = sweeps.sweep(configs, seeds, workdir, jobs=jobs, verbose=0, options=options, group_size=group_size)
    wall = time.perf_counter() - start
    failed = sweeps.failed_runs(results)
    if failed:
        raise RuntimeError(f"runs failed: {failed}")
    runs = sweeps.plan(configs, seeds)
    setup = training = 0.0
    for final in results.values():
        fit = final["steps_done"] / final["train_steps_per_s"]
        setup += (final["wall_time_s"] - fit) / final["group_size"]
        training += fit / final["group_size"]
    groups = round(sum(1 / final["group_size"] for final in results.values()))  # as trained
    return wall, setup / len(runs), training / len(runs), groups


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", default="yang2022")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    config_module = importlib.import_module(f"reproductions.configs.{args.driver}")
    configs, seeds = config_module.get_experiment(args.profile)
    all_runs = len(sweeps.plan(configs, seeds))
    configs = configs[::args.stride]
    runs = sweeps.plan(configs, seeds)
    rows = {}
    for label, group_size in (("--no-fuse", 1), (f"fused (--group-size {sweeps.DEFAULT_GROUP_SIZE})",
                                                 sweeps.DEFAULT_GROUP_SIZE)):
        with tempfile.TemporaryDirectory() as workdir:
            rows[label] = timed_sweep(args.driver, configs, seeds, workdir, args.jobs, group_size)
    print(f"cpus={os.cpu_count()} driver={args.driver} profile={args.profile} runs={len(runs)} "
          f"(every {args.stride}. config of {all_runs} runs) jobs={args.jobs}\n")
    print("| sweep | groups | wall time (s) | set-up per run (worker-s) | training per run (worker-s) | "
          "vs --no-fuse |")
    print("|---|---|---|---|---|---|")
    baseline = rows["--no-fuse"][0]
    for label, (wall, setup, training, groups) in rows.items():
        print(f"| {label} | {groups} | {wall:.0f} | {setup:.2f} | {training:.2f} | "
              f"{baseline / wall:.2f}x |")


if __name__ == "__main__":
    main()
