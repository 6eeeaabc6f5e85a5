"""Glorot & Bengio 2010 reproduction: smoke profile end to end, report schema, claim logic."""

import json

import numpy as np
import pytest
from report_schema import check_report_schema

from reproductions import glorot2010
from reproductions.configs import glorot2010 as glorot_config
from reproductions.glorot2010.claims import init_claims, init_evidence, training_claims, training_evidence
from reproductions.glorot2010.lr_search import lr_search_markdown

CLAIM_IDS = {"jacobian_singular_values", "fig6_activation_peak_grows_with_depth_standard",
             "fig7_gradient_peak_shrinks_with_depth_standard", "fig7_flat_normalized",
             "fig2_sigmoid_top_layer_saturates", "table1_tanh_n_beats_tanh", "table1_sigmoid_worst"}
FIGURES = ("fig2_sigmoid_activations.png", "fig3_saturation.png", "fig4_final_histograms.png",
           "fig6_activations_at_init.png", "fig7_backprop_gradients_at_init.png",
           "fig8_weight_gradients_at_init.png", "fig11_test_error.png")


def _check_schema(report):
    check_report_schema(report, "glorot2010", CLAIM_IDS)


def test_smoke_profile_end_to_end(tmp_path):
    workdir = tmp_path / "glorot"
    glorot2010.main(["--profile", "smoke", "--workdir", str(workdir), "--quiet", "--tensorboard"])
    for name in FIGURES + ("table1.md", "report.md"):
        assert (workdir / name).stat().st_size > 0, name
    report = json.loads((workdir / "report.json").read_text())
    _check_schema(report)
    assert report["profile"] == "smoke" and report["seeds"] == [0]
    combinations = glorot_config.PROFILES["smoke"]["combinations"]
    assert len(list((workdir / "runs").iterdir())) == len(combinations)
    assert [row["paper_name"] for row in report["table1"][:5]] == [
        "Softsign", "Softsign N", "Tanh", "Tanh N", "Sigmoid"]
    assert "| Tanh N | tanh | normalized |" in (workdir / "table1.md").read_text()

    # The recorder logged activations and gradients at step 0 and at every evaluation.
    records = [json.loads(line) for line in
               (workdir / "runs" / "shapeset3x2_tanh_normalized-seed0" / "activations.jsonl").open()]
    config = glorot_config.PROFILES["smoke"]
    assert [r["step"] for r in records] == list(range(0, config["steps"] + 1, config["eval_every"]))
    assert [row["layer"] for row in records[0]["layers"]] == [f"hidden{i}" for i in range(1, 6)] + ["logits"]
    assert {"backprop", "weights"} <= set(records[0])
    board = workdir / "runs" / "shapeset3x2_tanh_normalized-seed0" / "tensorboard"
    assert list((board / "diagnostics").glob("events.out.tfevents.*"))  # histograms
    assert list((board / "train").glob("events.out.tfevents.*"))  # Keras's scalars
    # At-initialization measurements: one per init and seed, at the profile's init width.
    init = json.loads((workdir / "init" / "tanh_standard-seed0.json").read_text())
    assert init["config"]["width"] == config["init_width"] and len(init["jacobian"]) == 5

    # Redraw from logs only; a second run reuses every finished run and measurement.
    (workdir / "report.json").unlink()
    stamp = (workdir / "init" / "tanh_standard-seed0.json").stat().st_mtime_ns
    glorot2010.main(["--profile", "smoke", "--workdir", str(workdir), "--quiet"])
    assert (workdir / "init" / "tanh_standard-seed0.json").stat().st_mtime_ns == stamp
    _check_schema(json.loads((workdir / "report.json").read_text()))


def test_profiles_build_their_configs():
    configs, seeds = glorot_config.get_experiment("lr_search")
    assert seeds == [100] and len(configs) == len(glorot_config.LR_GRID) * 7
    assert {c.eval_split for c in configs} == {"validation"}
    assert all(c.optimizer == "sgd" and c.batch_size == 10 for c in configs)
    full, _ = glorot_config.get_experiment("full")
    assert {c.dataset for c in full} == {"shapeset3x2", "mnist", "cifar10"} and len(full) == 27
    assert {c.model_kwargs["width"] for c in full} == {1000}
    mnist = [c for c in full if c.dataset == "mnist"][0]
    assert mnist.model_kwargs["input_dim"] == 784 and mnist.flatten
    names = {c.name for c in full}
    assert len(names) == len(full)  # one run name per (dataset, activation, init)


def _fake_run(tmp_path, dataset, activation, init, seed, final_error, top_means=(0.5,)):
    name = glorot_config.run_name(dataset, activation, init)
    run_dir = tmp_path / f"{name}-seed{seed}"
    run_dir.mkdir()
    layers = lambda top: [{"layer": f"hidden{i}", "mean": 0.5} for i in range(1, 5)] + [
        {"layer": "hidden5", "mean": top}, {"layer": "logits", "mean": 0.0}]
    with open(run_dir / "activations.jsonl", "w") as handle:
        for step, top in enumerate(top_means):
            handle.write(json.dumps({"step": 100 * step, "layers": layers(top)}) + "\n")
    return {
        "dir": run_dir,
        "config": {"name": name, "seed": seed, "dataset": dataset,
                   "tags": {"activation": activation, "init": init}},
        "final": {"status": "completed" if final_error is not None else "diverged",
                  "final": {"test_error": final_error}},
    }


def _training_claims(tmp_path, errors, sigmoid_top=(0.5, 0.05, 0.3)):
    runs = []
    for (activation, init), per_seed in errors.items():
        for seed, error in enumerate(per_seed):
            top = sigmoid_top if activation == "sigmoid" else (0.5,)
            runs.append(_fake_run(tmp_path, "shapeset3x2", activation, init, seed, error, top))
    claims = training_claims(training_evidence(runs, "shapeset3x2"))
    return {c["id"]: c for c in claims}


PAPER_LIKE = {("softsign", "standard"): (0.30, 0.32), ("softsign", "normalized"): (0.29, 0.31),
              ("tanh", "standard"): (0.50, 0.55), ("tanh", "normalized"): (0.28, 0.30),
              ("sigmoid", "standard"): (0.88, 0.88)}


def test_training_claims_hold_on_paper_like_results(tmp_path):
    claims = _training_claims(tmp_path, PAPER_LIKE)
    assert all(claims[i]["holds"] for i in ("fig2_sigmoid_top_layer_saturates",
                                            "table1_tanh_n_beats_tanh", "table1_sigmoid_worst"))
    assert claims["fig2_sigmoid_top_layer_saturates"]["measured"]["first_step_saturated"] == [100, 100]


def test_training_claims_fail_when_they_should(tmp_path):
    overlapping = {**PAPER_LIKE, ("tanh", "normalized"): (0.29, 0.52)}  # mean lower, seeds overlap
    claims = _training_claims(tmp_path, overlapping, sigmoid_top=(0.5, 0.2))
    assert not claims["table1_tanh_n_beats_tanh"]["holds"]
    assert not claims["fig2_sigmoid_top_layer_saturates"]["holds"]
    (tmp_path / "b").mkdir()
    diverged = {**PAPER_LIKE, ("tanh", "standard"): (None, 0.8)}  # diverged = 100%: mean 0.9
    claims = _training_claims(tmp_path / "b", diverged)
    assert not claims["table1_sigmoid_worst"]["holds"]
    assert not claims["table1_tanh_n_beats_tanh"]["holds"]  # incomplete: not claimed


def _measurement(init, seed, activation_std, backprop_std, jacobian):
    def rows(stds):
        out = []
        for i, std in enumerate(stds, start=1):
            values = np.random.default_rng(i).normal(0, std, 5000).clip(-1, 1)
            counts, edges = np.histogram(values, bins=50, range=(-1, 1))
            out.append({"layer": f"hidden{i}", "std": std,
                        "histogram": {"counts": counts.tolist(), "edges": edges.tolist()}})
        return out + [{"layer": "logits", "std": 1.0, "histogram": {"counts": [1], "edges": [0, 1]}}]

    return {"config": {"init": init, "seed": seed, "width": 1000, "jacobian_examples": 16},
            "activations": rows(activation_std), "backprop": rows(backprop_std),
            "jacobian": [{"layer": f"hidden{i}", "mean_singular_value": jacobian} for i in range(2, 6)]
                        + [{"layer": "logits", "mean_singular_value": 3.0}]}


def test_init_claims():
    standard = _measurement("standard", 0, [0.3, 0.17, 0.1, 0.056, 0.032], [1, 2, 4, 8, 16], 0.48)
    normalized = _measurement("normalized", 0, [0.45, 0.38, 0.34, 0.3, 0.27], [3, 3.3, 3.6, 3.9, 4.2], 0.76)
    claims = {c["id"]: c for c in init_claims(init_evidence({"standard": [standard], "normalized": [normalized]}))}
    assert all(c["holds"] for c in claims.values()), claims
    assert claims["fig7_flat_normalized"]["measured"]["normalized_max_over_min"]["mean"] == pytest.approx(1.4)
    steep = _measurement("normalized", 0, [0.45] * 5, [1, 1.2, 1.4, 1.6, 1.8], 0.95)
    claims = {c["id"]: c for c in init_claims(init_evidence({"standard": [standard], "normalized": [steep]}))}
    assert not claims["fig7_flat_normalized"]["holds"] and not claims["jacobian_singular_values"]["holds"]
    flat_standard = _measurement("standard", 0, [0.3] * 5, [2, 1, 4, 8, 16], 0.48)
    claims = {c["id"]: c for c in init_claims(init_evidence({"standard": [flat_standard], "normalized": [normalized]}))}
    assert not claims["fig6_activation_peak_grows_with_depth_standard"]["holds"]
    assert not claims["fig7_gradient_peak_shrinks_with_depth_standard"]["holds"]


def test_lr_search_pick_per_combination(tmp_path):
    runs = []
    for rate, errors in ((0.01, (0.80, 0.88)), (0.1, (0.70, None))):
        folder = tmp_path / str(rate)
        folder.mkdir()
        for (activation, init), error in zip((("tanh", "standard"), ("sigmoid", "standard")), errors):
            run = _fake_run(folder, "shapeset3x2", activation, init, 100, error)
            run["config"].update(learning_rate=rate, steps=30,
                                 batch_size=10, eval_examples=100, model_kwargs={"width": 8, "depth": 5})
            runs.append(run)
    text = lr_search_markdown(runs)
    assert "| shapeset3x2 | tanh | standard | 80.00 | 70.00 | 0.1 |" in text
    assert "| shapeset3x2 | sigmoid | standard | 88.00 | div | 0.01 |" in text
    assert "('tanh', 'standard'): 0.1" in text


def test_lr_search_breaks_ties_by_validation_loss(tmp_path):
    runs = []
    for rate, loss in ((0.003, 2.20), (0.01, 2.19), (0.03, 2.21)):
        folder = tmp_path / str(rate)
        folder.mkdir()
        run = _fake_run(folder, "shapeset3x2", "sigmoid", "standard", 100, 0.881)  # all at chance
        run["final"]["final"]["test_loss"] = loss
        run["config"].update(learning_rate=rate, steps=30,
                             batch_size=10, eval_examples=100, model_kwargs={"width": 8, "depth": 5})
        runs.append(run)
    assert "| shapeset3x2 | sigmoid | standard | 88.10 | 88.10 | 88.10 | 0.01 |" in (
        lr_search_markdown(runs))


def test_tfds_dataset_through_the_driver_with_mock_data(tmp_path):
    """The full profile's MNIST/CIFAR-10 path (TFDS) end to end, on mock data, smoke-sized."""
    import tensorflow_datasets as tfds

    workdir = tmp_path / "mnist"
    with tfds.testing.mock_data(num_examples=320):
        # --jobs 1: mock_data patches TFDS in this process only, not in worker processes.
        glorot2010.main(["--profile", "smoke", "--dataset", "mnist", "--workdir", str(workdir), "--quiet",
                         "--jobs", "1"])
    report = json.loads((workdir / "report.json").read_text())
    _check_schema(report)
    assert report["dataset"] == "mnist" and report["datasets"] == ["mnist"]
    tanh = next(row for row in report["table1"] if row["paper_name"] == "Tanh N")
    assert tanh["datasets"]["mnist"]["paper_percent"] == 1.64
    assert "| Tanh N | tanh | normalized |" in (workdir / "table1.md").read_text()
    init = json.loads((workdir / "init" / "tanh_normalized-seed0.json").read_text())
    assert init["config"]["dataset"] == "mnist"
    config = json.loads((workdir / "runs" / "mnist_tanh_normalized-seed0" / "config.json").read_text())
    assert config["model_kwargs"]["input_dim"] == 784 and config["model_kwargs"]["num_classes"] == 10
