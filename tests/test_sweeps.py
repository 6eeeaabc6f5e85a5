"""Sweeps that scale: worker processes, shards, the Dask engine, Ctrl-C; same results."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from reproductions import blog_cases, sweeps
from reproductions.run_config import RunConfig, RunOptions

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = dict(model="simple_mlp", model_kwargs=dict(input_dim=1024, hidden_dim=8, output_dim=9),
            initializer="he_normal", flatten=True, batch_size=8, steps=12, eval_every=4,
            eval_examples=32, learning_rate=0.01)
CONFIGS = [RunConfig(name="he", **TINY), RunConfig(name="glorot", **{**TINY, "initializer": "glorot_uniform"})]


def _finals(workdir):
    return {path.parent.name: json.loads(path.read_text())["final"]
            for path in pathlib.Path(workdir).glob("runs/*/final.json")}


def test_worker_processes_give_the_results_of_one_process(tmp_path):
    sequential = sweeps.sweep(CONFIGS, [0, 1], tmp_path / "one", jobs=1, verbose=0)
    parallel = sweeps.sweep(CONFIGS, [0, 1], tmp_path / "two", jobs=2, verbose=0)
    assert sorted(sequential) == sorted(parallel) == ["glorot-seed0", "glorot-seed1", "he-seed0", "he-seed1"]
    for run_id, final in sequential.items():
        for metric, value in final["final"].items():
            assert abs(value - parallel[run_id]["final"][metric]) <= 1e-3, (run_id, metric)
    # A second sweep finds every run finished and starts no worker.
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "two").glob("runs/*/final.json")}
    sweeps.sweep(CONFIGS, [0, 1], tmp_path / "two", jobs=2, verbose=0)
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "two").glob("runs/*/final.json")}


def test_shards_are_disjoint_and_cover_the_sweep():
    runs = sweeps.plan(CONFIGS, [0, 1, 2])
    shards = [sweeps.plan(CONFIGS, [0, 1, 2], sweeps.Shard.parse(f"{k}/4")) for k in range(4)]
    ids = [config.run_id for shard in shards for config in shard]
    assert sorted(ids) == sorted(c.run_id for c in runs) and len(ids) == len(set(ids))
    for bad in ("4/4", "1/0", "a/b", "-1/2"):
        with pytest.raises(ValueError, match="K/N"):
            sweeps.Shard.parse(bad)


def test_driver_shards_then_redraw(tmp_path, capsys):
    workdir = tmp_path / "sharded"
    for shard in ("0/2", "1/2"):
        blog_cases.main(["--profile", "smoke", "--workdir", str(workdir), "--shard", shard,
                         "--jobs", "1", "--quiet"])
        if shard == "0/2":
            assert "once every shard is, redraw with --plot-only" in capsys.readouterr().out
            assert not (workdir / "summary.md").exists()
    assert len(list((workdir / "runs").glob("*/final.json"))) == 6
    assert (workdir / "summary.md").exists()  # the last shard completes the sweep and redraws


def test_dask_engine_on_a_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    client = sweeps.dask_executor(workers=2)
    try:
        results = sweeps.sweep(CONFIGS, [0], tmp_path, executor=client, verbose=0)
    finally:
        client.close()
    reference = sweeps.sweep(CONFIGS, [0], tmp_path / "reference", jobs=1, verbose=0)
    assert sorted(results) == sorted(reference)
    for run_id, final in reference.items():
        assert results[run_id]["final"] == pytest.approx(final["final"], abs=1e-3)


def test_unpicklable_callbacks_are_refused_before_any_worker_starts(tmp_path):
    with pytest.raises(ValueError, match="picklable"):
        sweeps.sweep(CONFIGS, [0, 1], tmp_path, jobs=2, verbose=0,
                     options=RunOptions(callbacks_for=lambda config: []))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = pathlib.Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def test_ctrl_c_stops_the_workers_and_the_sweep_resumes(tmp_path):
    # A longer sweep in a child process; Ctrl-C (SIGINT) once the first runs are under way.
    workdir = tmp_path / "interrupted"
    command = [sys.executable, "-m", "reproductions.blog_cases", "--profile", "smoke", "--jobs", "2",
               "--seeds", "0", "1", "--workdir", str(workdir), "--quiet"]
    # A shell that starts a job in the background (`cmd &`) makes it ignore SIGINT, and
    # that is inherited: give the child the default disposition, as a terminal would.
    child = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not list(workdir.glob("runs/*/config.json")):
        time.sleep(0.2)
    workers = [int(pid) for pid in subprocess.run(["pgrep", "-P", str(child.pid)], capture_output=True,
                                                  text=True).stdout.split()]
    assert len(workers) >= 2  # the two workers (and multiprocessing's resource tracker)
    os.killpg(child.pid, signal.SIGINT)  # the whole process group, as a terminal's Ctrl-C
    child.wait(timeout=60)
    assert child.returncode != 0
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not [pid for pid in workers if _alive(pid)], "workers outlived the interrupted sweep"
    finished_before = set(_finals(workdir))
    subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
                   capture_output=True, timeout=300)
    assert len(_finals(workdir)) == 6 and finished_before <= set(_finals(workdir))


@pytest.mark.parametrize("visible, ids", [("2,3", ["2", "3"]), ("GPU-ab12,GPU-cd34", ["GPU-ab12", "GPU-cd34"]),
                                          ("1,-1,0", ["1"]), ("", []), ("-1", [])])
def test_workers_get_the_gpus_cuda_visible_devices_names_one_each(monkeypatch, visible, ids):
    from reproductions import local_pool, worker

    monkeypatch.setattr(os, "environ", dict(os.environ))  # `configure` also sets thread variables
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert sweeps.visible_gpu_ids() == ids and sweeps.visible_gpus() == len(ids)
    if not ids:
        assert local_pool.gpu_of_slot(0, ids) is None
        return
    handed = []
    for slot in range(len(ids) + 1):  # one worker more than GPUs: the first GPU again
        worker.configure(1, local_pool.gpu_of_slot(slot, ids))
        handed.append(os.environ["CUDA_VISIBLE_DEVICES"])
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert handed == ids + ids[:1]
