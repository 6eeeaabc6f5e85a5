"""The run folder: one run's files, how they are written and read back, and when a run
counts as finished. The one home of the format (no Keras here: sweeps, tools and tests
read run folders without starting a backend).

A run folder `<workdir>/runs/<run_id>/` holds
* `config.json`: the `RunConfig`, exactly as run;
* `env.json`: python/keras/tensorflow versions, backend, devices, git commit;
* `init.json`: what `initialize_weights` (or `lsuv`) did to each kernel;
* `metrics.jsonl`: one line per evaluation: step, train_loss, train_error (means
  over the steps since the last evaluation; at step 0 measured on training
  batches before any update), test_loss, test_error, time (s since the run
  started);
* `final.json`: written last, `status` "completed" or "diverged", final metrics;
* whatever a driver's callbacks add (e.g. the He 2015 driver's `gradients.jsonl`).

Rules: a run whose `final.json` exists is finished and never redone, and it is reused
only for exactly the config that made it (`RunFolderConflictError` otherwise); a
folder without one (a killed run) is cleared and run again, so an interrupted sweep
resumes where it stopped. JSON files are written atomically (`initializers.jsonio`).
"""

import json
import pathlib
import shutil

from initializers.jsonio import append_jsonl, read_json, read_jsonl, write_json_atomic
from reproductions.run_config import RunConfig

CONFIG_FILE = "config.json"
ENVIRONMENT_FILE = "env.json"
INIT_FILE = "init.json"
METRICS_FILE = "metrics.jsonl"
FINAL_FILE = "final.json"


class RunFolderConflictError(ValueError):
    """A run folder holds a finished run of a different config."""


def runs_dir(workdir):
    """The folder holding every run folder of an experiment."""
    return pathlib.Path(workdir) / "runs"


def run_dir_of(config, workdir):
    return runs_dir(workdir) / config.run_id


def is_finished(config, workdir):
    """Whether the run has a `final.json`; raises if its folder holds another config.

    A finished run is only reused for exactly the config that made it, so a workdir
    shared by two profiles (same run ids, other settings) cannot mix their results.
    """
    run_dir = run_dir_of(config, workdir)
    if not (run_dir / FINAL_FILE).exists():
        return False
    stored, current = read_json(run_dir / CONFIG_FILE), json.loads(json.dumps(config.to_dict()))
    # A run folder written before a field existed matches a config that leaves the field
    # at its default (e.g. `tags` in the drivers' configs: the profile's tags are filled in
    # when the folder is read back).
    defaults = json.loads(json.dumps(RunConfig.defaults()))
    for field in set(current) - set(stored):
        if field == "tags" or current[field] == defaults.get(field):
            current.pop(field)
    if stored != current:
        raise RunFolderConflictError(
            f"{run_dir} holds a finished run of a different config (another profile or "
            "changed settings). Use another --workdir, or delete that folder to rerun it. "
            f"Received: run_id={config.run_id}"
        )
    return True


def read_final(config, workdir):
    """The `final.json` content of a finished run."""
    return read_json(run_dir_of(config, workdir) / FINAL_FILE)


def start(config, workdir, environment):
    """Creates the run's folder for a fresh start (clearing what a killed run left) with
    its `config.json` and `env.json`; returns the folder."""
    run_dir = run_dir_of(config, workdir)
    if run_dir.exists():  # killed before finishing: start it over
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    write_json_atomic(run_dir / CONFIG_FILE, config.to_dict())
    write_json_atomic(run_dir / ENVIRONMENT_FILE, environment)
    return run_dir


def write_init(run_dir, records):
    """`init.json`: one dict per initialized kernel (`initialize_weights` or `lsuv` records)."""
    write_json_atomic(pathlib.Path(run_dir) / INIT_FILE, [record.as_dict() for record in records])


def append_metrics(run_dir, record):
    """Appends one evaluation's line to `metrics.jsonl`."""
    append_jsonl(pathlib.Path(run_dir) / METRICS_FILE, record)


def write_final(run_dir, final):
    """`final.json`, the last file of a run: from now on the run is finished."""
    write_json_atomic(pathlib.Path(run_dir) / FINAL_FILE, final)


def format_metric(value):
    """A loss or error of a run's files in progress lines: 4 decimals, "n/a" for none (a
    diverged run)."""
    return "n/a" if value is None else f"{value:.4f}"


def summary_line(config, final):
    """One line on a finished run, from its `final.json` content."""
    return (f"{config.run_id}: {final['status']} after {final['steps_done']} steps, "
            f"test_error {format_metric(final['final']['test_error'])}, {final['wall_time_s']:.0f}s")


def finished_run_dirs(workdir):
    """The folders of every finished run in `workdir`, in name order."""
    return [run_dir for run_dir in sorted(runs_dir(workdir).glob("*"))
            if (run_dir / FINAL_FILE).exists()]


def read_config(run_dir):
    return read_json(pathlib.Path(run_dir) / CONFIG_FILE)


def read_run(run_dir, config=None):
    """A finished run as `{"dir", "config", "metrics", "final"}` (`config`: the stored
    config dict, if the caller has read it already)."""
    run_dir = pathlib.Path(run_dir)
    return {"dir": run_dir, "config": config if config is not None else read_config(run_dir),
            "metrics": read_jsonl(run_dir / METRICS_FILE), "final": read_json(run_dir / FINAL_FILE)}
