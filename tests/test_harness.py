"""End-to-end: the real `run` and `sweep` on tiny data; resume, divergence, plots, driver."""

import json

import keras
import pytest

from initializers.jsonio import read_jsonl
from reproductions import blog_cases, data, harness, plots, report, run_folder, runs, sweeps
from reproductions.run_config import RunConfig, RunOptions

TINY = dict(model="simple_mlp", model_kwargs=dict(input_dim=1024, hidden_dim=8, output_dim=9),
            initializer="he_normal", flatten=True, batch_size=8, steps=12, eval_every=4,
            eval_examples=32, learning_rate=0.01)


def test_run_writes_complete_run_folder(tmp_path):
    config = RunConfig(name="tiny", **TINY, steps_per_execution=2)
    final = harness.run(config, tmp_path, verbose=0)
    run_dir = tmp_path / "runs" / "tiny-seed0"
    assert {p.name for p in run_dir.iterdir()} == {"config.json", "env.json", "init.json",
                                                  "metrics.jsonl", "final.json"}
    assert json.loads((run_dir / "config.json").read_text()) == config.to_dict()
    env = json.loads((run_dir / "env.json").read_text())
    assert env["backend"] == keras.backend.backend()
    assert {"python", "keras"} <= set(env["versions"]) and env["devices"]
    assert "git_commit" in env
    init = json.loads((run_dir / "init.json").read_text())
    assert [r["method"] for r in init] == ["HeNormal", "HeNormal"]
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [0, 4, 8, 12]
    for record in metrics:
        assert set(record) == {"step", "train_loss", "train_error", "test_loss", "test_error", "time"}
        assert 0 <= record["test_error"] <= 1 and record["train_loss"] > 0
    assert final["status"] == "completed" and final["steps_done"] == 12
    assert final["final"]["test_error"] == metrics[-1]["test_error"]
    assert json.loads((run_dir / "final.json").read_text())["status"] == "completed"


def test_same_seed_same_metrics(tmp_path):
    config = RunConfig(name="tiny", **TINY)
    harness.run(config, tmp_path / "a", verbose=0)
    harness.run(config, tmp_path / "b", verbose=0)
    strip = lambda path: [{k: v for k, v in m.items() if k != "time"} for m in read_jsonl(path)]
    assert strip(tmp_path / "a/runs/tiny-seed0/metrics.jsonl") == \
        strip(tmp_path / "b/runs/tiny-seed0/metrics.jsonl")


def test_initializer_none_keeps_the_builders_own_initializers(tmp_path):
    kwargs = dict(depth=3, channels=4, input_shape=(32, 32, 1), num_classes=9, downsampling=2, readout="flatten",
                  kernel_initializer="delta_orthogonal", bias_initializer=0.5)
    config = RunConfig(name="builder", **{**TINY, "model": "vanilla_cnn", "model_kwargs": kwargs,
                                          "initializer": None, "flatten": False, "steps": 4,
                                          "jit_compile": False})
    harness.run(config, tmp_path / "a", verbose=0)
    harness.run(config, tmp_path / "b", verbose=0)
    assert json.loads((tmp_path / "a/runs/builder-seed0/init.json").read_text()) == []
    strip = lambda path: [{k: v for k, v in m.items() if k != "time"} for m in read_jsonl(path)]
    assert strip(tmp_path / "a/runs/builder-seed0/metrics.jsonl") == \
        strip(tmp_path / "b/runs/builder-seed0/metrics.jsonl")  # the builder's draws follow the run's seed


def test_nan_loss_is_recorded_as_diverged_and_sweep_goes_on(tmp_path):
    exploding = RunConfig(name="exploding", **{**TINY, "learning_rate": 1e6})
    healthy = RunConfig(name="healthy", **TINY)
    results = sweeps.sweep([exploding, healthy], [0], tmp_path, verbose=0)
    assert results["exploding-seed0"]["status"] == "diverged"
    assert results["exploding-seed0"]["diverged_at_step"] < 12
    assert results["exploding-seed0"]["final"]["train_loss"] is None
    assert results["healthy-seed0"]["status"] == "completed"
    metrics = read_jsonl(tmp_path / "runs/exploding-seed0/metrics.jsonl")
    assert metrics[-1]["train_loss"] is None and metrics[-1]["train_error"] is None


class _Interrupt(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        raise KeyboardInterrupt


def test_killed_sweep_resumes_without_redoing_finished_runs(tmp_path):
    configs = [RunConfig(name="first", **TINY), RunConfig(name="second", **TINY)]
    kill_second = lambda config: [_Interrupt()] if config.name == "second" else []
    with pytest.raises(KeyboardInterrupt):  # run by run (fused, both would be cut: test_fusion.py)
        sweeps.sweep(configs, [0], tmp_path, verbose=0, options=RunOptions(callbacks_for=kill_second),
                     group_size=1)
    first_final = tmp_path / "runs/first-seed0/final.json"
    second_dir = tmp_path / "runs/second-seed0"
    assert first_final.exists()
    assert second_dir.exists() and not (second_dir / "final.json").exists()
    finished_at = first_final.stat().st_mtime_ns
    first_metrics = (tmp_path / "runs/first-seed0/metrics.jsonl").read_text()

    results = sweeps.sweep(configs, [0], tmp_path, verbose=0)
    assert first_final.stat().st_mtime_ns == finished_at  # not redone
    assert (tmp_path / "runs/first-seed0/metrics.jsonl").read_text() == first_metrics
    assert results["second-seed0"]["status"] == "completed"
    # The interrupted run started over: one line per evaluation, no leftovers.
    assert [m["step"] for m in read_jsonl(second_dir / "metrics.jsonl")] == [0, 4, 8, 12]


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    from initializers import jsonio

    target = tmp_path / "final.json"
    monkeypatch.setattr(jsonio.json, "dump", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        jsonio.write_json_atomic(target, {"status": "completed"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("change, message", [
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(steps=10, eval_every=4), "divide"),
    (dict(steps_per_execution=3), "divide"),
    (dict(batch_size=0), "batch_size"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(dataset="imagenet"), "valid: shapeset3x2"),
])
def test_bad_run_config_raises(change, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(name="bad", **{**TINY, **change})


def test_plots_and_summary_from_logs_only(tmp_path):
    configs = [RunConfig(name="he", label="He", **TINY),
               RunConfig(name="exploding", **{**TINY, "learning_rate": 1e6})]
    sweeps.sweep(configs, [0, 1], tmp_path, verbose=0)
    loaded = runs.load_runs(tmp_path)
    assert len(loaded) == 4
    steps, mean, low, high, count = runs.seed_statistics(runs.group_runs(loaded)["he"], "test_error")
    assert list(steps) == [0, 4, 8, 12] and list(count) == [2, 2, 2, 2]
    assert all(low <= mean) and all(mean <= high)
    path = plots.plot_error_curves(loaded, tmp_path / "curves.png", "tiny", names=["he", "exploding"])
    assert path.stat().st_size > 10_000
    rows = {r["name"]: r for r in runs.final_summary(loaded)}
    assert rows["he"]["completed"] == 2 and rows["exploding"]["completed"] == 0
    assert "| He | 2 (2) |" in report.summary_markdown(list(rows.values()))


def test_blog_case1_smoke_end_to_end_and_plot_only(tmp_path, capsys):
    workdir = tmp_path / "case1"
    blog_cases.main(["--profile", "smoke", "--workdir", str(workdir), "--quiet"])
    assert len(list((workdir / "runs").iterdir())) == 6  # 3 initializers x 2 seeds
    figure = workdir / "case1_curves.png"
    assert figure.exists() and (workdir / "summary.md").exists()
    figure.unlink()
    blog_cases.main(["--profile", "smoke", "--workdir", str(workdir), "--plot-only"])
    assert figure.exists()
    assert "Keras default" in capsys.readouterr().out


def test_driver_offline_dataset_exits_with_advice(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "_network_reachable", lambda *a, **k: False)
    with pytest.raises(SystemExit) as exit_info:
        blog_cases.main(["--profile", "smoke", "--dataset", "mnist", "--data-dir", str(tmp_path),
                         "--workdir", str(tmp_path / "w"), "--quiet"])
    assert exit_info.value.code == 2
    assert "--dataset shapeset3x2" in capsys.readouterr().err


def test_plot_only_without_runs_explains(tmp_path):
    with pytest.raises(SystemExit, match="no finished runs of this profile"):
        blog_cases.main(["--profile", "smoke", "--workdir", str(tmp_path), "--plot-only"])


def test_finished_run_of_another_config_is_not_reused(tmp_path):
    harness.run(RunConfig(name="tiny", **TINY), tmp_path, verbose=0)
    changed = RunConfig(name="tiny", **{**TINY, "learning_rate": 0.02})  # same run id
    with pytest.raises(run_folder.RunFolderConflictError, match="different config"):
        sweeps.sweep([changed], [0], tmp_path, verbose=0)


def test_driver_refuses_workdir_of_another_profile(tmp_path, capsys):
    blog_cases.main(["--profile", "smoke", "--workdir", str(tmp_path), "--quiet", "--seeds", "0"])
    finished = tmp_path / "runs" / "he-seed0" / "config.json"
    config = json.loads(finished.read_text())
    config["learning_rate"] = 0.5  # as if another profile had written this folder
    finished.write_text(json.dumps(config))
    with pytest.raises(SystemExit) as exit_info:
        blog_cases.main(["--profile", "smoke", "--workdir", str(tmp_path), "--quiet", "--seeds", "0"])
    assert exit_info.value.code == 2
    assert "different config" in capsys.readouterr().err


def test_tensorboard_option_writes_event_files(tmp_path):
    harness.run(RunConfig(name="tiny", **TINY), tmp_path, RunOptions(tensorboard=True), verbose=0)
    events = list((tmp_path / "runs/tiny-seed0/tensorboard").rglob("events.out.tfevents.*"))
    assert events and all(path.stat().st_size > 0 for path in events)


def test_tags_are_data_and_old_run_folders_without_tags_resume_and_redraw(tmp_path):
    config = RunConfig(name="he", tags={"init": "he", "depth": 3}, **TINY)
    sweeps.sweep([config], [0], tmp_path, verbose=0)
    config_path = tmp_path / "runs/he-seed0/config.json"
    stored = json.loads(config_path.read_text())
    assert stored["tags"] == {"init": "he", "depth": 3}
    # A run folder written before configs carried tags (or bias_initializer): resumed (not
    # redone, no conflict) ...
    del stored["tags"], stored["bias_initializer"]
    config_path.write_text(json.dumps(stored))
    finished_at = (tmp_path / "runs/he-seed0/final.json").stat().st_mtime_ns
    sweeps.sweep([config], [0], tmp_path, verbose=0)
    assert (tmp_path / "runs/he-seed0/final.json").stat().st_mtime_ns == finished_at
    # ... and read back with the tags of the profile's config of that name.
    (loaded,) = runs.load_runs(tmp_path, [config])
    assert runs.fact(loaded, "init") == "he" and runs.fact(loaded, "dataset") == "shapeset3x2"
    assert runs.select([loaded], depth=3) == [loaded] and runs.select([loaded], depth=4) == []
    # Another config of the same name (other settings, or a field away from its default)
    # is still refused.
    for changed in (config.replace(learning_rate=0.5), config.replace(bias_initializer=0.1)):
        with pytest.raises(run_folder.RunFolderConflictError):
            run_folder.is_finished(changed, tmp_path)


def test_bad_tags_raise():
    with pytest.raises(ValueError, match="tags"):
        RunConfig(name="bad", tags=["figure"], **TINY)


def test_config_modules_import_no_keras():
    import subprocess
    import sys

    script = ("import sys\n"
              "from reproductions.configs import blog_case1, glorot2010, he2015, xiao2018\n"
              "for module in (blog_case1, glorot2010, he2015, xiao2018):\n"
              "    module.get_experiment(module.DEFAULT_PROFILE)\n"
              "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'jax'))\n"
              "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=__import__("pathlib").Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-2000:]


def test_compile_options_follow_what_each_backend_allows(monkeypatch):
    config = RunConfig(name="c", model="simple_mlp", model_kwargs={}, initializer="he_normal", jit_compile=True,
                       steps_per_execution=10)
    assert harness.compile_options(config) == {"jit_compile": True, "steps_per_execution": 10}
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    assert harness.compile_options(config, distribute=True)["jit_compile"] is False  # MirroredStrategy
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")  # Keras's torch trainer: 1 step per call
    assert harness.compile_options(config) == {"jit_compile": False, "steps_per_execution": 1}
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")  # JAX compiles even where TF would not
    assert harness.compile_options(config.replace(jit_compile=False)) == {"jit_compile": True,
                                                                         "steps_per_execution": 10}
