"""The doctor's calibration panel: the smoke profile end to end (verdicts, the recommended
runs they add, report, figure, resume), and the claims on constructed runs and verdicts."""

import json

import pytest
from report_schema import check_report_schema

from reproductions import doctor_panel
from reproductions.configs import doctor_panel as config
from reproductions.doctor_panel import claims
from reproductions.doctor_panel.verdicts import with_recommended_runs

CLAIM_IDS = set(claims.CLAIM_IDS)


def test_smoke_profile_end_to_end(tmp_path, capsys):
    workdir = tmp_path / "panel"
    doctor_panel.main(["--profile", "smoke", "--workdir", str(workdir), "--jobs", "1"])
    # Xavier's 1/n in 30 ReLU layers is warned and gets He; He's own net is left as it is.
    xavier = json.loads((workdir / "verdicts" / "xavier_mlp30-seed0.json").read_text())
    he = json.loads((workdir / "verdicts" / "he_mlp30-seed0.json").read_text())
    assert {"vanishing_signal", "vanishing_gradient"} <= set(xavier["warnings"]) and xavier["recommended"] == "he"
    assert he["warnings"] == [] and he["recommended"] == "current" and he["comparison"] is None
    assert xavier["optimizer"] == {"name": "momentum", "learning_rate": 1e-3}  # the first updates were taken
    assert "Findings" in (workdir / "verdicts" / "xavier_mlp30-seed0.md").read_text()
    recommended = json.loads((workdir / "runs" / "xavier_mlp30_rec_he-seed0" / "config.json").read_text())
    assert recommended["initializer"] == "he" and recommended["tags"]["arm"] == "recommended"
    assert not (workdir / "runs" / "he_mlp30_rec_current-seed0").exists()
    assert "2 more runs" not in capsys.readouterr().err  # one seed: one recommended run
    report = json.loads((workdir / "report.json").read_text())
    check_report_schema(report, "doctor_panel", CLAIM_IDS)
    assert report["confusion"]["warned_trains"] == [] and "xavier_mlp30" in report["confusion"]["warned_trains_badly"]
    assert (workdir / "panel.png").stat().st_size > 0
    # Redraw from the logs only: the recommended runs are found again from the verdicts.
    (workdir / "report.json").unlink()
    doctor_panel.main(["--profile", "smoke", "--workdir", str(workdir), "--plot-only", "--quiet"])
    again = json.loads((workdir / "report.json").read_text())
    assert again["panel"]["xavier_mlp30"]["doctors_choice"]["method"] == "he"


def test_the_panel_takes_no_dataset_and_expands_nothing_before_verdicts(tmp_path):
    with pytest.raises(ValueError, match="Received: dataset='mnist'"):
        config.get_experiment("quick", "mnist")
    configs, seeds = config.get_experiment("quick")
    assert {c.tags["expected"] for c in configs} == {"good", "bad"} and seeds == [0, 1, 2]
    assert with_recommended_runs(tmp_path, configs, seeds) == configs


def _run(key, arm, seed, error, method="current"):
    expected = config.PANEL[key][0]
    return {"config": {"name": key, "seed": seed, "steps": 300, "dataset": "shapeset_location",
                       "tags": {"entry": key, "expected": expected, "arm": arm, "method": method}},
            "final": {"status": "completed" if error is not None else "diverged", "final": {"test_error": error}}}


def _verdict(key, seed, warnings, recommended=None):
    return {"entry": key, "seed": seed, "expected": config.PANEL[key][0], "family": "plain", "examined_on": "",
            "warnings": warnings, "notes": [], "recommended": recommended if seed == 0 else None,
            "comparison": {"current": warnings, "he": []} if warnings and seed == 0 else None}


@pytest.mark.parametrize("recommended_errors, holds", [((0.3, 0.32, 0.28), True), ((None, None, 0.95), False)])
def test_claims_on_constructed_panels(recommended_errors, holds):
    runs = [_run("he_mlp30", "current", s, 0.3) for s in range(3)]
    runs += [_run("xavier_mlp30", "current", s, 0.88) for s in range(3)]
    runs += [_run("xavier_mlp30", "recommended", s, e, "he") for s, e in enumerate(recommended_errors)]
    runs += [_run("sigmoid_mlp10", "current", s, 0.5) for s in range(3)]  # warned, yet trains: a false alarm
    verdicts = {"he_mlp30": [_verdict("he_mlp30", s, []) for s in range(3)],
                "xavier_mlp30": [_verdict("xavier_mlp30", s, ["vanishing_signal"], "he") for s in range(3)],
                "sigmoid_mlp10": [_verdict("sigmoid_mlp10", s, ["vanishing_gradient"] if s else []) for s in range(3)]}
    report = claims.build_report(runs, verdicts, "quick", [0, 1, 2])
    verdict = {c["id"]: c["holds"] for c in report["claims"]}
    assert verdict["known_good_not_warned"]
    assert not verdict["known_bad_warned"]  # sigmoid_mlp10 quiet on seed 0
    assert not verdict["warnings_match_training"]
    assert report["confusion"]["warned_trains"] == ["sigmoid_mlp10"]
    assert verdict["recommendation_never_worse"] is holds  # a diverged seed counts as error 1.0
    assert "sigmoid_mlp10" in claims.report_markdown(report)
