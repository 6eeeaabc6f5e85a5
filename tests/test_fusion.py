"""Fused sweeps: runs that share a net train as one program (`harness.run_group`) and give
the results they give alone, for every driver family; groups are planned, resumed and
split as the sweep's rules say."""

import json
import math
import os
import pathlib
import subprocess
import sys
import time

import pytest

from reproductions import harness, run_folder, sweeps
from reproductions.configs import (blog_case1, doctor_panel, glorot2010, he2015, learned_init, trainability,
                                   xiao2018, yang2022, zhang2019)
from reproductions.glorot2010.measure import recorder_callbacks
from reproductions.he2015.measure import gradient_callbacks
from reproductions.run_config import RunConfig, RunOptions

TINY = dict(model="simple_mlp", model_kwargs=dict(input_dim=1024, hidden_dim=8, output_dim=9),
            initializer="he_normal", flatten=True, batch_size=8, steps=12, eval_every=4,
            eval_examples=32, learning_rate=0.01)

# Each driver family's smoke profile, and the callbacks its driver gives every run.
FAMILIES = {
    "he2015": (he2015, gradient_callbacks),
    "glorot2010": (glorot2010, recorder_callbacks),
    "trainability": (trainability, None),
    "xiao2018": (xiao2018, None),
    "yang2022": (yang2022, None),
    "zhang2019": (zhang2019, None),
    "learned_init": (learned_init, None),
    "doctor_panel": (doctor_panel, None),
    "blog_case1": (blog_case1, None),
}
# What may differ between a run alone and the same run in a group: timings, and how many
# runs shared them. Every other number must agree within this tolerance: the members'
# computations are the same ops on the same values, but a compiled program of several nets
# may order a floating-point sum differently (on this CPU they came out bit-identical).
TIMING_KEYS = {"time", "seconds", "wall_time_s", "train_steps_per_s", "group_size", "duration_s"}
RELATIVE_TOLERANCE, ABSOLUTE_TOLERANCE = 1e-4, 1e-6


def _assert_close(alone, fused, where):
    if isinstance(alone, dict):
        assert isinstance(fused, dict) and set(alone) - TIMING_KEYS == set(fused) - TIMING_KEYS, where
        for key in set(alone) - TIMING_KEYS:
            _assert_close(alone[key], fused[key], f"{where}.{key}")
    elif isinstance(alone, list):
        assert isinstance(fused, list) and len(alone) == len(fused), where
        for index, (a, b) in enumerate(zip(alone, fused)):
            _assert_close(a, b, f"{where}[{index}]")
    elif isinstance(alone, float) and isinstance(fused, float):
        assert math.isclose(alone, fused, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE), \
            (where, alone, fused)
    else:
        assert alone == fused, (where, alone, fused)


def _run_files(run_dir):
    """Every JSON file of a run folder, parsed ({name: content}; JSON lines as lists)."""
    files = {}
    for path in sorted(pathlib.Path(run_dir).iterdir()):
        if path.suffix == ".json" and path.name != run_folder.ENVIRONMENT_FILE:
            files[path.name] = json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            files[path.name] = [json.loads(line) for line in path.read_text().splitlines()]
    return files


def _first_group(configs, seeds):
    """The profile's first group of at least two runs (at most three), with a second seed
    where the profile has one seed and no two runs of one net."""
    groups = sweeps.fused_groups(sweeps.plan(configs, sorted({*seeds, 0, 1})), group_size=3)
    return next(group for group in groups if len(group) > 1)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_fused_group_gives_the_results_of_its_runs_alone(family, tmp_path):
    config_module, callbacks = FAMILIES[family]
    configs, seeds = config_module.get_experiment("smoke")
    group = _first_group(configs, seeds)
    finals = {}
    for mode in ("alone", "fused"):
        workdir = tmp_path / mode
        options = RunOptions(callbacks_for=callbacks(workdir) if callbacks else None)
        if mode == "alone":
            finals[mode] = {c.run_id: harness.run(c, workdir, options, verbose=0) for c in group}
        else:
            finals[mode] = harness.run_group(group, workdir, options, verbose=0)
    assert {final["group_size"] for final in finals["fused"].values()} == {len(group)}
    for config in group:
        alone = _run_files(tmp_path / "alone/runs" / config.run_id)
        fused = _run_files(tmp_path / "fused/runs" / config.run_id)
        _assert_close(alone, fused, config.run_id)
        _assert_close(finals["alone"][config.run_id], finals["fused"][config.run_id], config.run_id)


def test_a_diverging_member_is_recorded_as_diverged_and_the_others_train_on(tmp_path):
    exploding = RunConfig(name="exploding", **{**TINY, "learning_rate": 1e6})
    healthy = RunConfig(name="healthy", **TINY)
    fused = harness.run_group([exploding, healthy], tmp_path / "fused", verbose=0)
    alone = {c.run_id: harness.run(c, tmp_path / "alone", verbose=0) for c in (exploding, healthy)}
    assert fused["exploding-seed0"]["status"] == alone["exploding-seed0"]["status"] == "diverged"
    assert fused["exploding-seed0"]["diverged_at_step"] == alone["exploding-seed0"]["diverged_at_step"]
    assert fused["healthy-seed0"]["status"] == "completed"
    for run_id in alone:
        _assert_close(_run_files(tmp_path / "alone/runs" / run_id), _run_files(tmp_path / "fused/runs" / run_id),
                      run_id)


def test_groups_hold_runs_that_share_a_net_in_near_equal_parts():
    mlp = [RunConfig(name=f"lr{k}", **{**TINY, "learning_rate": 0.01 * (k + 1)}) for k in range(3)]
    wide = RunConfig(name="wide", **{**TINY, "model_kwargs": {**TINY["model_kwargs"], "hidden_dim": 16}})
    runs = sweeps.plan([*mlp, wide], [0, 1, 2])
    groups = sweeps.fused_groups(runs, group_size=4)
    assert [len(g) for g in groups] == [3, 3, 3, 3]  # 9 runs of one net in 3 groups, and the wide net
    assert {c.name for c in groups[0]} == {"wide"}  # the costliest group first (4x the runs' width^2)
    assert sorted(c.run_id for g in groups for c in g) == sorted(c.run_id for c in runs)
    assert [len(g) for g in sweeps.fused_groups(runs, group_size=1)] == [1] * 12
    # With several workers, two groups per worker at least while a group can be halved;
    # the costliest first.
    assert [len(g) for g in sweeps.fused_groups(runs[:9], group_size=16, jobs=2)] == [3, 2, 2, 2]
    assert len(sweeps.fused_groups(runs[:4], group_size=16, jobs=3)) == 4
    # A group costing more than a worker's share is halved further, and starts first.
    wider = RunConfig(name="wider", **{**TINY, "model_kwargs": {**TINY["model_kwargs"], "hidden_dim": 64}})
    groups = sweeps.fused_groups(sweeps.plan([*mlp, wider], [0, 1, 2]), group_size=16, jobs=2)
    assert [(len(g), g[0].name) for g in groups] == [(1, "wider")] * 3 + [(9, "lr0")]
    assert sweeps.run_cost(wider) == 12 * 8 * 64 ** 2  # steps x batch x width^2 (no depth argument)
    assert [len(g) for g in sweeps.fused_groups(runs[:9], group_size=16)] == [9]  # one process: one group
    with pytest.raises(ValueError, match="group_size"):
        sweeps.fused_groups(runs, group_size=0)
    with pytest.raises(ValueError, match="share every setting"):
        harness.run_group([mlp[0], wide], "unused", verbose=0)


def test_the_sweep_bar_moves_with_the_evaluations_of_the_runs_in_flight(tmp_path):
    from tqdm import tqdm

    first, second = (RunConfig(name=name, **TINY) for name in ("first", "second"))  # 12 steps each
    bar = tqdm(total=3, disable=True)
    progress = sweeps._InFlightProgress(bar, [first, second], tmp_path)  # the sweep begins
    for config, steps in ((first, (0, 4, 8)), (second, (0, 4))):
        folder = run_folder.run_dir_of(config, tmp_path)
        folder.mkdir(parents=True)
        lines = "".join(json.dumps({"step": step}) + "\n" for step in steps)
        (folder / run_folder.METRICS_FILE).write_text(lines + '{"step": 1')  # a half-written line
    assert run_folder.evaluated_fraction(first, tmp_path) == pytest.approx(8 / 12)
    assert run_folder.evaluated_fraction(first, tmp_path, since=time.time() + 60) == 0  # a leftover
    assert run_folder.evaluated_fraction(RunConfig(name="third", **TINY), tmp_path) == 0
    progress.show()
    assert bar.n == pytest.approx(8 / 12 + 4 / 12, abs=0.05)
    progress.ended(first)  # a run that ended counts whole, once
    assert bar.n == pytest.approx(1 + 4 / 12, abs=0.05)
    progress.close()
    assert not progress.thread.is_alive()


def test_an_interrupted_group_resumes_without_retraining_finished_runs(tmp_path):
    configs = [RunConfig(name=name, **TINY) for name in ("first", "second", "third")]
    harness.run(configs[0], tmp_path, verbose=0)  # finished before the group starts
    finished = tmp_path / "runs/first-seed0/final.json"
    stamp = finished.stat().st_mtime_ns

    class _Interrupt(harness.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        harness.run_group(configs, tmp_path, RunOptions(callbacks_for=lambda c: [_Interrupt()]), verbose=0)
    assert finished.stat().st_mtime_ns == stamp  # a finished member is not retrained
    assert not any((tmp_path / "runs" / f"{name}-seed0/final.json").exists() for name in ("second", "third"))
    results = sweeps.sweep(configs, [0], tmp_path, verbose=0)
    assert finished.stat().st_mtime_ns == stamp
    assert {outcome["status"] for outcome in results.values()} == {"completed"}
    assert {outcome["group_size"] for run_id, outcome in results.items() if run_id != "first-seed0"} == {2}
    for name in ("second", "third"):  # started over: one line per evaluation, no leftovers
        lines = (tmp_path / "runs" / f"{name}-seed0/metrics.jsonl").read_text().splitlines()
        assert [json.loads(line)["step"] for line in lines] == [0, 4, 8, 12]


_JAX_GROUP = """
import sys, json, pathlib
sys.modules["tensorflow"] = None  # the PyDataset path, as on a machine without TensorFlow
from reproductions import harness, sweeps
from reproductions.configs import yang2022
configs, seeds = yang2022.get_experiment("smoke")  # SP and μP (per-weight rates) at one width
group = sweeps.fused_groups(sweeps.plan(configs, [0, 1]), group_size=4)[0]
workdir = pathlib.Path(sys.argv[1])
fused = harness.run_group(group, workdir / "fused", verbose=0)
alone = {c.run_id: harness.run(c, workdir / "alone", verbose=0) for c in group}
lines = {mode: {c.run_id: (workdir / mode / "runs" / c.run_id / "metrics.jsonl").read_text() for c in group}
         for mode in ("alone", "fused")}
print(json.dumps({"group": [c.run_id for c in group], "fused": fused, "alone": alone, "lines": lines}))
"""


def test_a_fused_group_under_jax_gives_the_results_of_its_runs_alone(tmp_path):
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", _JAX_GROUP, str(tmp_path)], cwd=root, capture_output=True,
                            text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(root), "KERAS_BACKEND": "jax"})
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(outcome["group"]) == 4 and len({run_id.split("-seed")[1] for run_id in outcome["group"]}) == 1
    for run_id in outcome["group"]:
        _assert_close(outcome["alone"][run_id], outcome["fused"][run_id], run_id)
        alone, fused = ([json.loads(line) for line in outcome["lines"][mode][run_id].splitlines()]
                        for mode in ("alone", "fused"))
        _assert_close(alone, fused, run_id)
