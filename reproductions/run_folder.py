"""The run folder: one run's files, how they are written and read back, and when a run
counts as finished. The one home of the format (no Keras here: sweeps, tools and tests
read run folders without starting a backend).

A run folder `<workdir>/runs/<run_id>/` holds
* `config.json`: the `RunConfig`, exactly as run;
* `env.json`: python/keras/tensorflow versions, backend, devices, git commit;
* `init.json`: what `initialize_weights` (or `lsuv`) did to each kernel (and, for a
  learned init, what `gradinit` / `metainit` did to each weight after the draw);
* `learned_init.json` (GradInit / MetaInit runs only): the learned factors, the
  objective per iteration, the settings and the seconds it took;
* `mup.json` (μP runs only): each weight's μP role, width multipliers and
  learning-rate factor (`initializers.mup`);
* `metrics.jsonl`: one line per evaluation: step, train_loss, train_error (means
  over the steps since the last evaluation; at step 0 measured on training
  batches before any update), test_loss, test_error, time (s since the run
  started);
* `final.json`: written last, `status` "completed" or "diverged", final metrics;
* `failed.json`, instead of `final.json`, for a run the sweep gave up on (its worker
  died twice, or a write failed): the reason, the exit signal, the worker log's tail;
* whatever a driver's callbacks add (e.g. the He 2015 driver's `gradients.jsonl`).

Rules: a run whose `final.json` exists is finished and never redone, and it is reused
only for exactly the config that made it (`RunFolderConflictError` otherwise); a
folder without one (a killed or failed run) is cleared and run again, so an
interrupted sweep resumes where it stopped and a rerun retries exactly the failed
runs. A finished run whose `final.json` or `config.json` cannot be parsed (a full
disk, an interrupted copy) is reported in one line naming the file, and its folder is
moved aside (`<run_id>.damaged-<time>`, never deleted), so the run is redone. JSON
files are written atomically (`initializers.jsonio`).
"""

import dataclasses
import json
import os
import pathlib
import shutil
import sys
import time

from initializers.jsonio import DamagedFileError, append_jsonl, read_json, read_jsonl, write_json_atomic
from reproductions.run_config import RunConfig

CONFIG_FILE = "config.json"
ENVIRONMENT_FILE = "env.json"
INIT_FILE = "init.json"
MUP_FILE = "mup.json"  # runs under μP only
LEARNED_INIT_FILE = "learned_init.json"  # runs with GradInit or MetaInit only
METRICS_FILE = "metrics.jsonl"
FINAL_FILE = "final.json"
FAILED_FILE = "failed.json"


class RunFolderConflictError(ValueError):
    """A run folder holds a finished run of a different config."""


class WorkdirNotWritableError(OSError):
    """The experiment folder cannot be written (read-only, full disk, not a folder)."""


def runs_dir(workdir):
    """The folder holding every run folder of an experiment."""
    return pathlib.Path(workdir) / "runs"


def run_dir_of(config, workdir):
    return runs_dir(workdir) / config.run_id


def finished_final(config, workdir):
    """The `final.json` content of the run if it is finished, else None; raises if its
    folder holds another config.

    A finished run is only reused for exactly the config that made it, so a workdir
    shared by two profiles (same run ids, other settings) cannot mix their results.
    A run whose `final.json` or `config.json` cannot be parsed is not finished: its
    folder is moved aside (`set_aside`), with one line on stderr naming the file.
    """
    run_dir = run_dir_of(config, workdir)
    if not (run_dir / FINAL_FILE).exists():
        return None
    try:
        stored = read_json(run_dir / CONFIG_FILE)
        final = read_json(run_dir / FINAL_FILE)
    except DamagedFileError as error:
        moved = set_aside(run_dir)
        print(f"warning: {error.path} cannot be parsed (damaged or cut short); the run is redone, "
              f"its old folder kept as {moved}", file=sys.stderr)
        return None
    current = json.loads(json.dumps(config.to_dict()))
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
    return final


def is_finished(config, workdir):
    """Whether the run is finished (`finished_final`)."""
    return finished_final(config, workdir) is not None


def set_aside(run_dir):
    """Renames a damaged run folder to `<run_id>.damaged-<time>` (never deleted); returns
    the new path. Folders so named are not run folders of any config."""
    run_dir = pathlib.Path(run_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = run_dir.with_name(f"{run_dir.name}.damaged-{stamp}")
    for index in range(1, 1000):  # two damaged folders of one run within a second
        if not target.exists():
            break
        target = run_dir.with_name(f"{run_dir.name}.damaged-{stamp}-{index}")
    run_dir.rename(target)
    return target


def check_writable(workdir):
    """Creates `<workdir>/runs` and writes, syncs and removes a probe file there, before a
    sweep starts (and in the drivers before their `prepare` step, which writes too): a
    workdir that cannot be written (read-only, full disk, a path through a file) stops
    with one line, before any run."""
    probe = runs_dir(workdir) / f".write-probe-{os.getpid()}"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        with open(probe, "w") as handle:
            handle.write("probe\n" * 512)  # a few KB: a full disk fails here, not mid-run
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as error:
        try:  # a probe cut short by a full disk is not left behind
            probe.unlink()
        except OSError:
            pass
        raise WorkdirNotWritableError(f"cannot write to the workdir {workdir} ({error.strerror or error}); "
                                      "use another --workdir, or free or unlock this one") from None


def failure(reason, **details):
    """The record of a run the sweep gave up on: `{"status": "failed", "reason", ...}`."""
    return {"status": "failed", "reason": reason, **details}


def failure_of_error(error):
    """The failure record of an error a run raised, when it is that run's failure alone (a
    write that failed: a full disk, a folder that went away), else None: the sweep stops
    on it (a different config in the run's folder, a missing dataset, a bug)."""
    if isinstance(error, OSError):
        return failure(f"I/O error: {error}", error=type(error).__name__)
    return None


def record_failure(config, workdir, record):
    """Writes `failed.json` (a `failure` record: the reason, and where known the exit
    signals and the worker log's tail) into the run's folder, as far as the disk allows:
    a run fails exactly when writing may not work. The run stays unfinished."""
    try:
        write_json_atomic(run_dir_of(config, workdir) / FAILED_FILE, record)
    except OSError:
        pass


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


def write_learned_init(run_dir, summary):
    """`learned_init.json`: a GradInit or MetaInit run's settings, learned factors and
    objective per iteration (`initializers.learned.LearnedInitRecords.summary()`)."""
    write_json_atomic(pathlib.Path(run_dir) / LEARNED_INIT_FILE, summary)


def write_mup_rules(run_dir, rules, kind):
    """`mup.json`: μP's rule for every weight (`initializers.mup.WidthRule`) and the
    learning-rate factor it gets from the run's optimizer (`kind`: "sgd" or "adam")."""
    write_json_atomic(pathlib.Path(run_dir) / MUP_FILE,
                      [{**dataclasses.asdict(rule), "lr_multiplier": rule.lr_multiplier(kind)} for rule in rules])


def append_metrics(run_dir, record):
    """Appends one evaluation's line to `metrics.jsonl`."""
    append_jsonl(pathlib.Path(run_dir) / METRICS_FILE, record)


def evaluated_fraction(config, workdir, since=0.0):
    """The fraction of `config`'s updates its run folder's `metrics.jsonl` has reached (the
    step of its last complete line over `config.steps`): how far a run in flight is,
    wherever it trains. 0 when the file is missing, older than `since` (a time.time():
    an interrupted run's leftover, cleared when the run starts again) or has no line yet."""
    path = run_dir_of(config, workdir) / METRICS_FILE
    try:
        status = path.stat()
        if status.st_mtime < since:
            return 0.0
        with open(path, "rb") as handle:  # only the tail: a long run's file has many lines
            handle.seek(max(0, status.st_size - 4096))
            lines = handle.read().splitlines()
    except OSError:
        return 0.0
    for line in reversed(lines):  # the last line may be half written
        try:
            step = json.loads(line)["step"]
        except (ValueError, KeyError, TypeError):
            continue
        return min(1.0, max(0.0, step / config.steps)) if config.steps else 0.0
    return 0.0


def write_final(run_dir, final):
    """`final.json`, the last file of a run: from now on the run is finished."""
    write_json_atomic(pathlib.Path(run_dir) / FINAL_FILE, final)


def format_metric(value):
    """A loss or error of a run's files in progress lines: 4 decimals, "n/a" for none (a
    diverged run)."""
    return "n/a" if value is None else f"{value:.4f}"


def summary_line(config, outcome):
    """One line on a run that ended, from its `final.json` content (or its failure record)."""
    if outcome["status"] == "failed":
        return f"{config.run_id}: failed ({outcome['reason']})"
    return (f"{config.run_id}: {outcome['status']} after {outcome['steps_done']} steps, "
            f"test_error {format_metric(outcome['final']['test_error'])}, {outcome['wall_time_s']:.0f}s")


def finished_run_dirs(workdir):
    """The folders of every finished run in `workdir`, in name order (folders set aside as
    damaged are not run folders)."""
    return [run_dir for run_dir in sorted(runs_dir(workdir).glob("*"))
            if (run_dir / FINAL_FILE).exists() and ".damaged-" not in run_dir.name]


def read_config(run_dir):
    return read_json(pathlib.Path(run_dir) / CONFIG_FILE)


def read_run(run_dir, config=None):
    """A finished run as `{"dir", "config", "metrics", "final"}` (`config`: the stored
    config dict, if the caller has read it already)."""
    run_dir = pathlib.Path(run_dir)
    return {"dir": run_dir, "config": config if config is not None else read_config(run_dir),
            "metrics": read_jsonl(run_dir / METRICS_FILE), "final": read_json(run_dir / FINAL_FILE)}
