"""Wall time of a driver's sweep in one process vs in worker processes (--jobs), same run.

Run: python -m benchmarks.sweep_speed [--profile smoke] [--seeds 0] [--jobs 2]

Runs `python -m reproductions.he2015 --profile PROFILE --seeds ...` into fresh workdirs,
once with --jobs 1 and once with --jobs N, one after the other, and prints both wall
times and their ratio. The smoke profile shows the fixed cost of starting workers;
the quick profile (with --seeds 0: 12 of its 36 runs) the steady state.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--seeds", nargs="+", default=["0"])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--driver", default="he2015")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    times = {}
    for jobs in (1, args.jobs):
        with tempfile.TemporaryDirectory() as workdir:
            command = [sys.executable, "-m", f"reproductions.{args.driver}", "--profile", args.profile,
                       "--seeds", *args.seeds, "--jobs", str(jobs), "--workdir", workdir, "--quiet"]
            start = time.perf_counter()
            subprocess.run(command, cwd=root, check=True, capture_output=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            times[jobs] = time.perf_counter() - start
    print(f"cpus={os.cpu_count()} driver={args.driver} profile={args.profile} seeds={' '.join(args.seeds)}\n")
    print("| sweep | wall time (s) | vs --jobs 1 |")
    print("|---|---|---|")
    for jobs, seconds in times.items():
        print(f"| --jobs {jobs} | {seconds:.0f} | {times[1] / seconds:.2f}x |")


if __name__ == "__main__":
    main()
