"""Zhang et al. 2019 (Fixup) driver: the profiles' grids, claim logic on constructed tables,
and the smoke profile end to end with resume and --plot-only (on offline Shapeset, so that the
test command works on any machine)."""

import json

import pytest
from report_schema import check_report_schema

from models.residual_cnn import blocks_for, weight_layers_of
from reproductions import zhang2019
from reproductions.configs import zhang2019 as config
from reproductions.zhang2019 import claims

CLAIM_IDS = {"fixup_trains_deepest_net", "skipinit_trains_deepest_net", "rezero_trains_deepest_net",
             "plain_inits_fail_deepest_net", "fixup_no_worse_than_batchnorm", "he_stream_explodes_at_init",
             "fixup_stream_bounded_at_init"}
ROWS = [key for key, _ in config.ROWS]


def test_quick_profile_grid():
    configs, seeds = config.get_experiment("quick")
    assert seeds == [0, 1, 2] and len({c.name for c in configs}) == len(configs) == 21
    assert configs[0].tags["depth"] == 1000  # the slowest runs are scheduled first
    for config_ in configs:
        kwargs = config_.model_kwargs
        assert weight_layers_of(kwargs["blocks"], kwargs["downsampling"]) == config_.tags["depth"]
        assert config_.learning_rate == 3e-3 and not config_.jit_compile and config_.dataset == "fashion_mnist"
    by_row = {c.tags["row"]: c for c in configs if c.tags["depth"] == 1000}
    assert set(by_row) == set(ROWS) and by_row["fixup"].initializer == "fixup"
    assert by_row["batchnorm"].model_kwargs["normalization"] == "batch"
    assert by_row["rezero"].model_kwargs["multiplier_initial"] == 0.0
    assert by_row["skipinit"].model_kwargs["multiplier_initial"] == pytest.approx(498 ** -0.5)
    assert by_row["keras_glorot_uniform"].initializer == "keras.GlorotUniform"
    full, _ = config.get_experiment("full")
    assert max(c.tags["depth"] for c in full) == 10000 and blocks_for(10000) == 4998
    with pytest.raises(ValueError, match="2 x blocks"):
        blocks_for(11)
    with pytest.raises(ValueError, match="valid: he, batchnorm"):
        config.row_settings("lsuv", 3)


def _table(errors_by_row, depth=1000):
    return {key: {"label": key, "depths": {str(depth): {"final_test_error": {"per_seed": errors}, "diverged": 0}}}
            for key, errors in errors_by_row.items()}


def test_depth_claims_hold_and_fail_on_constructed_tables():
    good = _table({"he": [None, None, None], "keras_he_normal": [None, None, None],
                   "keras_glorot_uniform": [0.9, 0.88, None], "batchnorm": [0.89, 0.9, 0.7],
                   "fixup": [0.3, 0.35, 0.4], "skipinit": [0.3, 0.3, 0.3], "rezero": [0.3, 0.3, 0.3]})
    held = {c["id"]: c for c in claims.depth_claims(good, chance=0.9)}
    assert all(c["holds"] for c in held.values())
    assert held["fixup_trains_deepest_net"]["margin"]["margin"] == pytest.approx(0.6 - 0.4)
    assert held["plain_inits_fail_deepest_net"]["margin"]["margin"] == pytest.approx(0.88 - 0.8)  # Glorot decides
    assert held["fixup_no_worse_than_batchnorm"]["margin"]["margin"] == pytest.approx(0.83 - 0.35)  # BatchNorm - Fixup
    bad = _table({"he": [0.3, None, None], "keras_he_normal": [None], "keras_glorot_uniform": [None],
                  "batchnorm": [0.2, 0.2, 0.2], "fixup": [0.3, None, 0.4], "skipinit": [0.3, 0.3, 0.61],
                  "rezero": [0.3, 0.3, 0.3]})
    held = {c["id"]: c["holds"] for c in claims.depth_claims(bad, chance=0.9)}
    assert held == {"fixup_trains_deepest_net": False, "skipinit_trains_deepest_net": False,
                    "rezero_trains_deepest_net": True, "plain_inits_fail_deepest_net": False,
                    "fixup_no_worse_than_batchnorm": False}


def test_signal_claims_count_overflow_as_infinite():
    def signal(he, fixup):
        records = [{"row": row, "depth": depth, "draw": 0, "stack_gain": value}
                   for row, values in (("he", he), ("fixup", fixup)) for depth, value in zip((10, 100, 1000), values)]
        return {"settings": {"depths": [10, 100, 1000]}, "records": records}

    held = {c["id"]: c["holds"] for c in claims.signal_claims(signal((3.0, 1e5, None), (1.0, 1.0, 1.0)))}
    assert held == {"he_stream_explodes_at_init": True, "fixup_stream_bounded_at_init": True}
    held = {c["id"]: c["holds"] for c in claims.signal_claims(signal((3.0, 50.0, 40.0), (1.0, 2.5, 1.0)))}
    assert held == {"he_stream_explodes_at_init": False, "fixup_stream_bounded_at_init": False}
    assert claims.signal_claims(None) == []


def test_smoke_profile_end_to_end_resume_and_plot_only(tmp_path):
    workdir = tmp_path / "fixup"
    offline = ["--profile", "smoke", "--dataset", "shapeset3x2", "--workdir", str(workdir), "--quiet"]
    zhang2019.main([*offline, "--jobs", "1"])
    for name in ("depth_accuracy.png", "signal_at_init.png", "report.md", "signal.json"):
        assert (workdir / name).stat().st_size > 0, name
    report = json.loads((workdir / "report.json").read_text())
    check_report_schema(report, "zhang2019", CLAIM_IDS)
    assert report["dataset"] == "shapeset3x2" and report["signal"]["settings"]["dataset"] == "shapeset3x2"
    assert set(report["depths"]) == set(ROWS) and set(report["depths"]["fixup"]["depths"]) == {"6"}
    init = json.loads((workdir / "runs" / "fixup_d6-seed0" / "init.json").read_text())
    assert any("Fixup: 0, the last layer" in record["rule"] for record in init)
    finished = {path.parent.name: path.stat().st_mtime_ns for path in (workdir / "runs").glob("*/final.json")}
    zhang2019.main([*offline, "--jobs", "1"])  # resumed: nothing is retrained
    assert {path.parent.name: path.stat().st_mtime_ns for path in (workdir / "runs").glob("*/final.json")} == finished
    assert len(finished) == 7
    (workdir / "report.json").unlink()
    zhang2019.main([*offline, "--plot-only"])
    check_report_schema(json.loads((workdir / "report.json").read_text()), "zhang2019", CLAIM_IDS)


def test_accelerator_check_projects_the_full_profile():
    from benchmarks import accelerator_check

    probed = {name: (runs, net, relative) for name, runs, net, relative in accelerator_check._full_profiles()}
    runs, net, relative = probed["zhang2019"]
    assert net.tags == {"row": "batchnorm", "depth": 1000}
    assert len(runs) == 3 * len(config.get_experiment("full")[0])
    assert relative(max(runs, key=lambda run: run.tags["depth"])) == 10.0
