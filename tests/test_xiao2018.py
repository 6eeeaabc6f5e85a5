"""Xiao et al. 2018 driver: the profiles' grids, the spectra, claim logic on constructed
runs, and the smoke profile end to end (on offline Shapeset, so that the test command
works on any machine; the profiles' own Fashion-MNIST from Debian's dataset-fashion-mnist,
which .ci/run installs, is read in tests/test_data.py)."""

import json

import numpy as np
import pytest
from report_schema import check_report_schema

from initializers.diagnostics import mean_field
from reproductions import xiao2018
from reproductions.configs import xiao2018 as config
from reproductions.xiao2018 import claims, spectra

CLAIM_IDS = {"delta_orthogonal_trains_deepest_net", "gaussian_trains_slower", "he_and_glorot_do_not_train",
             "trainable_depth_tracks_xi_c", "critical_init_trains_deepest", "gaussian_spectrum_wider",
             "orthogonal_spread_bounded", "gaussian_spectrum_wider_robust"}


def test_quick_profile_grid():
    configs, seeds = config.get_experiment("quick")
    assert seeds == [0, 1, 2] and len({c.name for c in configs}) == len(configs) == 30
    deepest = [c for c in configs if c.model_kwargs["depth"] == 1000]
    assert {c.tags["init"] for c in deepest} == {key for key, _ in config.INITIALIZERS}
    assert configs[0].model_kwargs["depth"] == 1000  # the slowest runs are scheduled first
    on_map = {(c.tags["sigma_w2"], c.model_kwargs["depth"]) for c in configs if c.tags["map"]}
    assert on_map == {(s, d) for s in (0.5, 0.8, 1.05, 1.76, 4.0) for d in (10, 30, 100, 300)}
    shared = [c for c in configs if c.tags["map"] and c.tags["curve"]]
    assert {c.model_kwargs["depth"] for c in shared} == {10, 100}  # one run serves both
    for c in configs:
        assert c.initializer is None and not c.jit_compile and c.dataset == "fashion_mnist"
        kernel, bias = c.model_kwargs["kernel_initializer"], c.model_kwargs["bias_initializer"]
        if c.tags["init"] == "delta_orthogonal":
            assert kernel["config"]["gain"] == pytest.approx(c.tags["sigma_w2"] ** 0.5)
            assert bias["config"]["stddev"] == pytest.approx(config.SIGMA_B2 ** 0.5)
        if c.tags["init"].startswith("keras_"):
            assert bias == 0.0
    # The critical point is Xiao et al.'s: chi_1 = 1 there.
    assert mean_field.critical_sigma_w2("tanh", config.SIGMA_B2) == pytest.approx(config.SIGMA_W2, rel=1e-4)
    full, _ = config.get_experiment("full")
    assert max(c.model_kwargs["depth"] for c in full) == 10000
    assert {c.tags["init"] for c in full if c.model_kwargs["depth"] == 1250} == {k for k, _ in config.INITIALIZERS}
    with pytest.raises(ValueError, match="valid: delta_orthogonal"):
        config.initializers_of("he")


def test_spectra_measured_once_and_orthogonal_narrower(tmp_path):
    spectra.measure_spectra(tmp_path, "smoke", log=lambda _: None)
    measured = spectra.read_spectra(tmp_path)
    assert measured["settings"]["input_variance"] == pytest.approx(
        mean_field.q_star("tanh", config.SIGMA_W2, config.SIGMA_B2))
    settings = measured["settings"]
    assert len(measured["records"]) == 2 * settings["draws"] * len(settings["depths"])
    table = spectra.spread_table(measured)
    for depth in map(str, settings["depths"]):
        assert table["delta_orthogonal"][depth]["mean"] < 0.5 < table["gaussian"][depth]["mean"]
    stamp = (tmp_path / spectra.SPECTRA_FILE).stat().st_mtime_ns
    spectra.measure_spectra(tmp_path, "smoke", log=lambda _: None)  # same settings: kept
    assert (tmp_path / spectra.SPECTRA_FILE).stat().st_mtime_ns == stamp
    assert spectra.spread(np.ones(5)) == 0.0


def _run(init, depth, seed, errors, sigma_w2=config.SIGMA_W2, curve=True, on_map=False):
    """A constructed run: test error `errors[i]` at steps 0, 50, 100, ...; None: diverged."""
    diverged = errors[-1] is None
    metrics = [{"step": 50 * i, "test_error": e} for i, e in enumerate(errors) if e is not None]
    return {"config": {"name": f"{init}_d{depth}_sw{sigma_w2}", "seed": seed, "model_kwargs": {"num_classes": 10},
                       "tags": {"init": init, "depth": depth, "sigma_w2": sigma_w2, "curve": curve, "map": on_map}},
            "metrics": metrics,
            "final": {"status": "diverged" if diverged else "completed",
                      "final": {"test_error": None if diverged else errors[-1]}}}


def _deepest(delta=0.4, gaussian=0.85, he=0.9, glorot=0.9):
    return [_run(init, 1000, seed, [0.9, error])
            for seed in (0, 1, 2)
            for init, error in (("delta_orthogonal", delta), ("gaussian", gaussian),
                                ("keras_he_normal", he), ("keras_glorot_uniform", glorot))]


def test_depth_claims_hold_and_fail_on_constructed_runs():
    held = {c["id"]: c["holds"] for c in claims.depth_claims(claims.depth_table(_deepest()), 0.9)}
    assert held == {"delta_orthogonal_trains_deepest_net": True, "gaussian_trains_slower": True,
                    "he_and_glorot_do_not_train": True}
    held = {c["id"]: c["holds"] for c in claims.depth_claims(
        claims.depth_table(_deepest(delta=0.65, gaussian=0.7, glorot=0.5)), 0.9)}
    assert held == {"delta_orthogonal_trains_deepest_net": False, "gaussian_trains_slower": False,
                    "he_and_glorot_do_not_train": False}
    runs = _deepest()
    runs[1] = _run("gaussian", 1000, 0, [0.9, None])  # a diverged Gaussian seed counts as chance
    table = claims.depth_table(runs)
    assert table["gaussian"]["depths"]["1000"]["final_test_error"]["per_seed"][0] is None
    assert {c["id"]: c["holds"] for c in claims.depth_claims(table, 0.9)}["gaussian_trains_slower"]
    assert table["delta_orthogonal"]["depths"]["1000"]["updates_to_leave_chance"] == [50, 50, 50]


def test_spectra_claims_on_constructed_spreads():
    def measured(delta, gaussian):
        records = [{"init": key, "draw": 0, "depth": depth, "spread": value}
                   for key, values in (("delta_orthogonal", delta), ("gaussian", gaussian))
                   for depth, value in zip((10, 100), values)]
        return {"settings": {"depths": [10, 100]}, "records": records}

    held = {c["id"]: c["holds"] for c in claims.spectra_claims(measured((0.1, 0.15), (2.0, 7.0)))}
    assert held == {"gaussian_spectrum_wider": True, "gaussian_spectrum_wider_robust": True,
                    "orthogonal_spread_bounded": True}
    held = {c["id"]: c["holds"] for c in claims.spectra_claims(measured((0.1, 0.5), (2.0, 3.0)))}  # ratio 6 at 100
    assert held == {"gaussian_spectrum_wider": False, "gaussian_spectrum_wider_robust": True,
                    "orthogonal_spread_bounded": False}
    held = {c["id"]: c["holds"] for c in claims.spectra_claims(measured((0.1, 0.5), (2.0, 2.0)))}  # ratio 4
    assert held["gaussian_spectrum_wider_robust"] is False
    assert claims.spectra_claims(None) == []


def test_smoke_profile_end_to_end_and_plot_only(tmp_path):
    workdir = tmp_path / "xiao"
    offline = ["--profile", "smoke", "--dataset", "shapeset3x2", "--workdir", str(workdir), "--quiet"]
    xiao2018.main([*offline, "--jobs", "1"])
    for name in ("depth_curves.png", "trainability_map.png", "jacobian_spectra.png", "report.md", "spectra.json"):
        assert (workdir / name).stat().st_size > 0, name
    report = json.loads((workdir / "report.json").read_text())
    check_report_schema(report, "xiao2018", CLAIM_IDS)
    assert report["dataset"] == "shapeset3x2" and report["budget"]["readout"] == "flatten"
    assert report["budget"]["chance_error"] == pytest.approx(8 / 9)
    assert {(c["sigma_w2"], c["depth"]) for c in report["map"]["cells"]} == {
        (s, d) for s in (0.5, 1.05, 4.0) for d in (2, 4)}  # map depths only, not the curves'
    assert set(report["depths"]["delta_orthogonal"]["depths"]) == {"4"}  # (1.05, 2) is on the map only
    assert len(list((workdir / "runs").iterdir())) == 9  # 4 curves + 6 map cells, one shared
    run = workdir / "runs" / "delta_orthogonal_d4-seed0"
    assert json.loads((run / "init.json").read_text()) == []  # the builder's initializers
    measured = (workdir / "spectra.json").stat().st_mtime_ns
    (workdir / "report.json").unlink()
    xiao2018.main([*offline, "--plot-only"])
    check_report_schema(json.loads((workdir / "report.json").read_text()), "xiao2018", CLAIM_IDS)
    assert (workdir / "spectra.json").stat().st_mtime_ns == measured


def test_accelerator_check_projects_the_full_profile():
    from benchmarks import accelerator_check

    probed = {name: (runs, net, relative) for name, runs, net, relative in accelerator_check._full_profiles()}
    runs, net, relative = probed["xiao2018"]
    assert net.model_kwargs["depth"] == 1250 and len(runs) == 3 * len(config.get_experiment("full")[0])
    deepest = max(runs, key=lambda run: run.model_kwargs["depth"])
    assert relative(deepest) == 8.0 and relative(net) == 1.0  # 10,000 layers: 8x the probed update
    assert probed["he2015"][2](probed["he2015"][0][0]) == 1.0
