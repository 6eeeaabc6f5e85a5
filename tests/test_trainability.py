"""Trainability maps: smoke profile end to end, claim logic on constructed runs, LR search."""

import json

import pytest
from report_schema import check_report_schema

from reproductions import trainability
from reproductions.configs import trainability as config
from reproductions.trainability import claims
from reproductions.trainability.lr_search import lr_search_markdown

CLAIM_IDS = {"he_trains_deeper_than_xavier", "lsuv_trains_as_deep_as_he", "xavier_stall_depth",
             "trainable_depth_tracks_xi_c", "critical_init_trains_deepest"}


def test_smoke_profile_end_to_end(tmp_path):
    workdir = tmp_path / "maps"
    trainability.main(["--profile", "smoke", "--workdir", str(workdir), "--quiet", "--jobs", "1"])
    for name in ("map1_test_error.png", "map1_leave_chance.png", "map2_accuracy.png", "report.md"):
        assert (workdir / name).stat().st_size > 0, name
    report = json.loads((workdir / "report.json").read_text())
    check_report_schema(report, "trainability", CLAIM_IDS)
    assert set(report["map1"]) == {key for key, _, _ in config.MAP1_INITIALIZERS}
    assert len(report["map2"]["cells"]) == 6 and report["map2"]["critical_sigma_w2"] == pytest.approx(1.76, abs=0.01)
    lsuv_init = json.loads((workdir / "runs" / "map1_d7_lsuv-seed0" / "init.json").read_text())
    assert len(lsuv_init) == 7 and all("variance" in record for record in lsuv_init)
    map2_config = json.loads((workdir / "runs" / "map2_sw1.76_d4-seed0" / "config.json").read_text())
    assert map2_config["tags"] == {"map": "tanh", "depth": 4, "sigma_w2": 1.76, "sigma_b2": 0.05}
    # Map 1's fidelity gauge: depth 8 against the stored paper-size net, depth 7 has no reference.
    ratios = {(row["depth"], row["init"]): row["forward_ratio"] for row in report["fidelity"]["rows"]}
    assert set(ratios) == {(7, "he"), (7, "xavier"), (8, "he"), (8, "xavier")}
    assert ratios[7, "he"] is None and ratios[8, "he"] > 0
    assert "no paper-size reference at depth 7" in (workdir / "report.md").read_text()
    # Redraw from the logs only (fidelity.json is read, not measured again).
    (workdir / "report.json").unlink()
    trainability.main(["--profile", "smoke", "--workdir", str(workdir), "--plot-only", "--quiet"])
    check_report_schema(json.loads((workdir / "report.json").read_text()), "trainability", CLAIM_IDS)


def _run(tmp_path, tags, seed, test_errors, num_classes=9, steps=300, learning_rate=0.001):
    name = "_".join(f"{k}{v}" for k, v in tags.items())
    run_dir = tmp_path / f"{name}-seed{seed}-lr{learning_rate:g}"
    run_dir.mkdir()
    return {"dir": run_dir,
            "config": {"name": name, "seed": seed, "steps": steps, "dataset": "toy", "tags": tags,
                       "learning_rate": learning_rate, "model_kwargs": {"num_classes": num_classes, "width": 8}},
            "metrics": [{"step": 100 * i, "test_error": e} for i, e in enumerate(test_errors)],
            "final": {"status": "completed" if test_errors[-1] is not None else "diverged",
                      "final": {"test_error": test_errors[-1]}}}


LEARNS, STALLS = [0.89, 0.5, 0.2], [0.89, 0.89, 0.89]


def _map1(tmp_path, trainable_depth):
    """He trains up to 30, Xavier up to `trainable_depth['xavier']`, LSUV as given."""
    runs = []
    for init, deepest in trainable_depth.items():
        for depth in (8, 14, 22, 30):
            for seed in (0, 1, 2):
                runs.append(_run(tmp_path, {"map": "relu", "depth": depth, "init": init}, seed,
                                 LEARNS if depth <= deepest else STALLS))
    return runs


def _map2(tmp_path, rule):
    runs = []
    for sigma_w2 in (1.0, 1.76, 4.0):
        for depth in (10, 50, 100):
            for seed in (0, 1, 2):
                runs.append(_run(tmp_path, {"map": "tanh", "depth": depth, "sigma_w2": sigma_w2,
                                            "sigma_b2": 0.05}, seed,
                                 LEARNS if rule(sigma_w2, depth) else STALLS))
    return runs


def _claims(runs):
    report = claims.build_report(runs, "test")
    check_report_schema(report, "trainability", CLAIM_IDS)
    return {c["id"]: c for c in report["claims"]}


def test_claims_hold_on_the_expected_pattern(tmp_path):
    from initializers.diagnostics import mean_field

    six_xi = lambda s, d: d < 6 * mean_field.correlation_depth("tanh", s, 0.05)
    runs = _map1(tmp_path, {"he": 30, "xavier": 8, "lsuv": 30}) + _map2(tmp_path, six_xi)
    found = _claims(runs)
    assert all(c["holds"] for c in found.values()), found
    assert found["xavier_stall_depth"]["measured"]["xavier_stall_depth"] == 14
    assert found["trainable_depth_tracks_xi_c"]["measured"]["agreement_at_6_xi_c"] == 1.0


def test_claims_fail_when_the_pattern_is_absent(tmp_path):
    everywhere = lambda s, d: s == 4.0 or d == 10  # the chaotic end trains deepest: against theory
    runs = _map1(tmp_path, {"he": 8, "xavier": 30, "lsuv": 0}) + _map2(tmp_path, everywhere)
    found = _claims(runs)
    assert not any(found[i]["holds"] for i in ("he_trains_deeper_than_xavier", "lsuv_trains_as_deep_as_he",
                                              "xavier_stall_depth", "critical_init_trains_deepest"))
    assert found["trainable_depth_tracks_xi_c"]["measured"]["agreement_at_6_xi_c"] < 0.75


def test_lr_search_picks_per_depth_and_for_map2(tmp_path):
    runs = []
    for rate, he_error in ((0.001, 0.3), (0.003, 0.2)):
        for init in ("he", "xavier"):
            runs.append(_run(tmp_path, {"map": "relu", "depth": 22, "init": init}, 100,
                             [0.89, he_error if init == "he" else 0.89], learning_rate=rate))
        runs.append(_run(tmp_path, {"map": "tanh", "depth": 10, "sigma_w2": 1.76, "sigma_b2": 0.05}, 100,
                         [0.89, 0.1 if rate == 0.001 else None], learning_rate=rate))
    text = lr_search_markdown(runs)
    assert "{'map1': {22: 0.003}, 'map2': 0.001}" in text
