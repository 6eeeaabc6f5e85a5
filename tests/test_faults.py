"""Sweeps that survive faults, injected for real: SIGKILLed workers, runs that kill their
worker every time, cut-short run files, a workdir that cannot be written, a write that
fails mid-run. Every run ends completed or failed with its reason; no finished run is
redone; no result is lost."""

import json
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys
import time
import warnings

import keras
import pytest

from initializers.jsonio import DamagedFileWarning
from reproductions import blog_cases, run_folder, runs, sweeps
from reproductions.run_config import RunConfig, RunOptions

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = dict(model="simple_mlp", model_kwargs=dict(input_dim=1024, hidden_dim=8, output_dim=9),
            initializer="he_normal", flatten=True, batch_size=8, steps=12, eval_every=4,
            eval_examples=32, learning_rate=0.01)
CONFIGS = [RunConfig(name="he", **TINY), RunConfig(name="glorot", **{**TINY, "initializer": "glorot_uniform"})]


class _KillWorker(keras.callbacks.Callback):
    """SIGKILLs the process it trains in (what the kernel's OOM killer does)."""

    def on_train_begin(self, logs=None):
        os.kill(os.getpid(), signal.SIGKILL)


class _RemoveRunFolder(keras.callbacks.Callback):
    """Removes its run's folder after the first evaluation: the next write fails."""

    def __init__(self, run_dir):
        super().__init__()
        self.run_dir = run_dir

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            shutil.rmtree(self.run_dir)


class Faults:
    """A picklable `callbacks_for`: the runs in `always` kill their worker every time, those
    in `once` the first time only (a marker file in `marks` remembers)."""

    def __init__(self, marks, always=(), once=(), remove_folder=(), workdir=None):
        self.marks, self.always, self.once = str(marks), set(always), set(once)
        self.remove_folder, self.workdir = set(remove_folder), workdir

    def __call__(self, config):
        mark = pathlib.Path(self.marks) / config.run_id
        if config.run_id in self.always or (config.run_id in self.once and not mark.exists()):
            mark.touch()
            return [_KillWorker()]
        if config.run_id in self.remove_folder:
            return [_RemoveRunFolder(run_folder.run_dir_of(config, self.workdir))]
        return []


def _finals(workdir):
    return {path.parent.name: json.loads(path.read_text())
            for path in pathlib.Path(workdir).glob("runs/*/final.json")}


def test_a_dead_worker_costs_one_retry_and_a_run_that_always_kills_its_worker_fails(tmp_path):
    workdir, marks = tmp_path / "w", tmp_path / "marks"
    marks.mkdir()
    faults = Faults(marks, always={"glorot-seed1"}, once={"he-seed1"})
    results = sweeps.sweep(CONFIGS, [0, 1], workdir, jobs=2, verbose=0, options=RunOptions(callbacks_for=faults))
    statuses = {run_id: outcome["status"] for run_id, outcome in results.items()}
    assert statuses == {"he-seed0": "completed", "he-seed1": "completed", "glorot-seed0": "completed",
                        "glorot-seed1": "failed"}
    failure = json.loads((workdir / "runs/glorot-seed1/failed.json").read_text())
    assert failure["exit_signals"] == ["SIGKILL", "SIGKILL"] and failure["attempts"] == 2
    assert "died 2 times (SIGKILL, SIGKILL)" in failure["reason"] and isinstance(failure["worker_log_tail"], str)
    assert sweeps.failed_runs(results) == ["glorot-seed1"]
    assert "glorot-seed1: its worker died 2 times" in sweeps.failure_summary(results)
    # A rerun retries exactly the failed run; the finished ones are not redone.
    stamps = {run_id: (workdir / "runs" / run_id / "final.json").stat().st_mtime_ns for run_id in _finals(workdir)}
    again = sweeps.sweep(CONFIGS, [0, 1], workdir, jobs=2, verbose=0)
    assert {outcome["status"] for outcome in again.values()} == {"completed"}
    assert {run_id: (workdir / "runs" / run_id / "final.json").stat().st_mtime_ns for run_id in stamps} == stamps
    assert not (workdir / "runs/glorot-seed1/failed.json").exists()


def _workers(parent):
    """The sweep's worker processes among `parent`'s children (not multiprocessing's
    resource tracker)."""
    children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
    found = []
    for pid in map(int, children):
        try:
            command = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"spawn_main" in command and b"resource_tracker" not in command:
            found.append(pid)
    return found


def test_sigkill_of_a_worker_mid_sweep_through_the_driver(tmp_path):
    workdir = tmp_path / "w"
    command = [sys.executable, "-m", "reproductions.blog_cases", "--profile", "smoke", "--jobs", "2",
               "--seeds", "0", "1", "--workdir", str(workdir), "--quiet"]
    child = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not list(workdir.glob("runs/*/config.json")):
        time.sleep(0.1)
    workers = _workers(child.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)  # mid-sweep, as the OOM killer would
    _, stderr = child.communicate(timeout=300)
    assert child.returncode == 0, stderr.decode()[-2000:]
    finals = _finals(workdir)
    assert len(finals) == 6 and {final["status"] for final in finals.values()} == {"completed"}
    assert not list(workdir.glob("runs/*/failed.json"))
    assert (workdir / "summary.md").exists()


@pytest.mark.parametrize("damaged", ["final.json", "config.json"])
def test_a_cut_short_run_file_is_named_set_aside_and_redone(tmp_path, capsys, damaged):
    sweeps.sweep(CONFIGS, [0], tmp_path, verbose=0)
    path = tmp_path / "runs/he-seed0" / damaged
    cut = path.read_text()[: len(path.read_text()) // 2]
    path.write_text(cut)  # a copy interrupted half-way
    kept = (tmp_path / "runs/glorot-seed0/final.json").stat().st_mtime_ns
    results = sweeps.sweep(CONFIGS, [0], tmp_path, verbose=0)
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and str(path) in error[0] and "redone" in error[0]
    assert results["he-seed0"]["status"] == "completed"
    json.loads((tmp_path / "runs/he-seed0" / damaged).read_text())  # whole again
    (aside,) = (tmp_path / "runs").glob("he-seed0.damaged-*")
    assert (aside / damaged).read_text() == cut  # moved aside, never deleted
    assert (tmp_path / "runs/glorot-seed0/final.json").stat().st_mtime_ns == kept  # not redone
    assert [run["config"]["name"] for run in runs.load_runs(tmp_path, CONFIGS)] == ["glorot", "he"]


def test_a_torn_last_metrics_line_is_left_out_of_the_plots_with_a_warning(tmp_path):
    workdir = tmp_path / "w"
    blog_cases.main(["--profile", "smoke", "--workdir", str(workdir), "--quiet", "--seeds", "0", "--jobs", "1"])
    metrics = workdir / "runs/he-seed0/metrics.jsonl"
    lines = metrics.read_text().splitlines(keepends=True)
    metrics.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    (workdir / "summary.md").unlink()
    with pytest.warns(DamagedFileWarning, match=f"{metrics}: line {len(lines)} is not JSON"):
        loaded = runs.load_runs(workdir)
    assert [len(run["metrics"]) for run in loaded if run["config"]["name"] == "he"] == [len(lines) - 1]
    with warnings.catch_warnings(record=True):
        blog_cases.main(["--profile", "smoke", "--workdir", str(workdir), "--quiet", "--plot-only"])
    assert (workdir / "summary.md").exists() and (workdir / "case1_curves.png").exists()


def test_a_workdir_that_cannot_be_written_stops_before_any_run(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as exit_info:
        blog_cases.main(["--profile", "smoke", "--workdir", str(blocker / "w"), "--quiet"])
    error = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "\n" not in error and error.startswith("error: cannot write to the workdir")


def test_a_full_disk_stops_the_driver_before_any_run(tmp_path):
    # RLIMIT_FSIZE = 1 KB: every write that would grow a file beyond 1 KB fails with EFBIG,
    # as on a nearly full disk (and as root too, unlike a read-only permission bit); the
    # probe writes a few KB.
    workdir = tmp_path / "w"
    child = subprocess.run(
        [sys.executable, "-m", "reproductions.blog_cases", "--profile", "smoke", "--workdir", str(workdir)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True, text=True, timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024)))
    error = child.stderr.strip().splitlines()[-1]
    assert child.returncode == 2 and error.startswith("error: cannot write to the workdir"), child.stderr[-2000:]
    assert not list(workdir.glob("runs/*"))


def test_a_write_that_fails_mid_run_fails_that_run_only(tmp_path):
    faults = Faults(tmp_path, remove_folder={"he-seed0"}, workdir=tmp_path / "w")
    results = sweeps.sweep(CONFIGS, [0, 1], tmp_path / "w", verbose=0, options=RunOptions(callbacks_for=faults))
    assert results["he-seed0"]["status"] == "failed" and "I/O error" in results["he-seed0"]["reason"]
    assert json.loads((tmp_path / "w/runs/he-seed0/failed.json").read_text())["error"] == "FileNotFoundError"
    others = {run_id: final for run_id, final in _finals(tmp_path / "w").items()}
    assert sorted(others) == ["glorot-seed0", "glorot-seed1", "he-seed1"]
    assert {final["status"] for final in others.values()} == {"completed"}
    for run_id in others:  # every other run's files whole
        lines = (tmp_path / "w/runs" / run_id / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(line)["step"] for line in lines] == [0, 4, 8, 12]


def test_the_driver_exits_1_and_names_the_runs_that_failed(tmp_path, capsys):
    workdir = tmp_path / "w"
    (workdir / "runs").mkdir(parents=True)
    (workdir / "runs/he-seed0").write_text("a file where the run's folder goes")  # every write there fails
    with pytest.raises(SystemExit) as exit_info:
        blog_cases.main(["--profile", "smoke", "--workdir", str(workdir), "--quiet", "--jobs", "1"])
    error = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert "1 of 6 runs failed" in error and "he-seed0: I/O error" in error and "Rerun the same command" in error
    assert len(_finals(workdir)) == 5 and not (workdir / "summary.md").exists()


def test_dask_a_run_that_always_kills_its_worker_fails_and_the_rest_complete(tmp_path):
    faults = Faults(tmp_path, always={"glorot-seed0"})
    client = sweeps.dask_executor(workers=2)
    try:
        results = sweeps.sweep(CONFIGS, [0], tmp_path / "w", executor=client, verbose=0,
                               options=RunOptions(callbacks_for=faults))
    finally:
        client.close()
    assert results["he-seed0"]["status"] == "completed"
    assert results["glorot-seed0"]["status"] == "failed" and "KilledWorker" in results["glorot-seed0"]["reason"]
    assert (tmp_path / "w/runs/glorot-seed0/failed.json").exists()
