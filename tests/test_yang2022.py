"""μP learning-rate transfer driver: smoke profile end to end, claim logic on constructed
runs, and the doctor's --coord-check."""

import json

import pytest
from report_schema import check_report_schema

from initializers.doctor import cli
from reproductions import yang2022
from reproductions.configs import yang2022 as config
from reproductions.yang2022 import claims

CLAIM_IDS = {"adam_mup_best_lr_stable", "adam_sp_best_lr_shifts", "adam_mup_wider_is_better",
             "mup_coord_check_flat", "sp_coord_check_grows", "transformer_mup_coord_check_flat",
             "transformer_sp_coord_check_grows"}


def test_smoke_profile_end_to_end(tmp_path):
    workdir = tmp_path / "mup"
    yang2022.main(["--profile", "smoke", "--workdir", str(workdir), "--quiet", "--jobs", "1"])
    for name in ("lr_transfer_adam.png", "coord_check.png", "report.md", "coord_check.json",
                 "coord_check_transformer.json", "coord_check_transformer.png"):
        assert (workdir / name).stat().st_size > 0, name
    report = json.loads((workdir / "report.json").read_text())
    check_report_schema(report, "yang2022", CLAIM_IDS)
    assert set(report["sweeps"]) == {"adam"} and set(report["sweeps"]["adam"]["loss"]["mup"]) == {"16", "32"}
    assert report["budget"]["base_width"] == 16 and report["coord_check"]["settings"]["optimizer"] == "adam"
    layers = report["coord_check_transformer"]["growth"]["mup"]
    assert "block0_attention/query" in layers and "head" in layers  # every leaf by its path
    run = workdir / "runs" / "adam_mup_w32_lr2^-7-seed0"
    rules = {rule["path"]: rule for rule in json.loads((run / "mup.json").read_text())}
    assert rules["hidden2/kernel"]["role"] == "hidden" and rules["logits/kernel"]["lr_multiplier"] == 0.5
    assert json.loads((run / "config.json").read_text())["parametrization"]["readout"] == "zero"
    assert not (workdir / "runs" / "adam_sp_w32_lr2^-7-seed0" / "mup.json").exists()
    # Redraw from the logs only; the coordinate check is read, not measured again.
    measured = (workdir / "coord_check.json").stat().st_mtime_ns
    (workdir / "report.json").unlink()
    yang2022.main(["--profile", "smoke", "--workdir", str(workdir), "--plot-only", "--quiet"])
    check_report_schema(json.loads((workdir / "report.json").read_text()), "yang2022", CLAIM_IDS)
    yang2022.main(["--profile", "smoke", "--workdir", str(workdir), "--quiet", "--jobs", "1"])  # resumes: nothing redone
    assert (workdir / "coord_check.json").stat().st_mtime_ns == measured


def _run(parametrization, width, log2_lr, seed, loss):
    return {"config": {"name": f"{parametrization}_w{width}_lr2^{log2_lr}", "seed": seed,
                       "tags": {"parametrization": parametrization, "width": width, "log2_lr": log2_lr}},
            "final": {"status": "completed" if loss is not None else "diverged", "final": {"train_loss": loss}}}


def _sweep(best_by_width, diverge_above=None):
    """Runs whose loss is lowest at `best_by_width[key][width]`, 2 seeds; wider nets lower."""
    runs = []
    for key, best in best_by_width.items():
        for index, (width, rate) in enumerate(best.items()):
            for log2_lr in range(-8, -3):
                for seed in (0, 1):
                    diverged = diverge_above is not None and log2_lr > diverge_above and width > 64
                    loss = None if diverged else 1.0 - 0.1 * index + 0.1 * abs(log2_lr - rate) + 0.001 * seed
                    runs.append(_run(key, width, log2_lr, seed, loss))
    return runs


def test_claims_on_constructed_sweeps():
    runs = _sweep({"sp": {64: -5, 128: -6, 256: -7}, "mup": {64: -6, 128: -6, 256: -5}})
    table = claims.loss_table(runs)
    best = claims.best_log2_rates(table)
    assert best == {"sp": {"64": -5, "128": -6, "256": -7}, "mup": {"64": -6, "128": -6, "256": -5}}
    results = {c["id"]: c for c in claims.transfer_claims(table, best)}
    stable, shifts = results["sgd_mup_best_lr_stable"], results["sgd_sp_best_lr_shifts"]
    assert stable["holds"] and stable["measured"]["shift_in_grid_steps"] == 1
    assert shifts["holds"] and shifts["measured"]["shift_in_grid_steps"] == 2
    # At the base's best rate (-6) the width-256 net is 0.1 worse for its rate offset, as much better for its width.
    assert results["sgd_mup_wider_is_better"]["holds"]
    # A rate at which a seed diverged is never a width's best; an SP that does not move fails its claim.
    runs = _sweep({"sp": {64: -5, 128: -5}, "mup": {64: -4, 128: -4}}, diverge_above=-5)
    table = claims.loss_table(runs)
    best = claims.best_log2_rates(table)
    assert best["mup"] == {"64": -4, "128": -5} and table["mup"]["128"]["-4"]["diverged"] == 2
    results = {c["id"]: c for c in claims.transfer_claims(table, best, "adam")}
    assert not results["adam_sp_best_lr_shifts"]["holds"]
    assert not results["adam_mup_wider_is_better"]["holds"]  # width 128 diverged at the base's best rate


def test_coordinate_claims_without_measurement_do_not_hold():
    assert [c["holds"] for c in claims.coord_claims(None)] == [False, False]
    assert [c["id"] for c in claims.coord_claims(None, "transformer_")] == [
        "transformer_mup_coord_check_flat", "transformer_sp_coord_check_grows"]


def test_config_names_every_setting():
    configs, seeds = config.get_experiment("quick")
    assert len(configs) == 2 * 5 * 9 and seeds == [0, 1, 2] and {c.optimizer for c in configs} == {"adam"}
    sgd, _ = config.get_experiment("quick_sgd")  # the names the SGD sweep's run folders have
    assert {c.optimizer for c in sgd} == {"momentum"} and "sp_w64_lr2^-7" in {c.name for c in sgd}
    full, _ = config.get_experiment("full")
    assert len({c.name for c in full}) == len(full) == 2 * 2 * 8 * 11
    mup_run = next(c for c in configs if c.tags["parametrization"] == "mup")
    assert mup_run.parametrization["base_model_kwargs"]["width"] == config.BASE_WIDTH
    assert mup_run.parametrization["delta_model_kwargs"]["width"] == 2 * config.BASE_WIDTH


def test_doctor_coord_check_command(tmp_path, capsys):
    kwargs = json.dumps({"input_dim": 12, "num_classes": 3, "depth": 2, "activation": "relu"})
    code = cli.main(["models:DeepMLP", "--kwargs", kwargs, "--coord-check", "width", "--widths", "8", "32",
                     "--coord-steps", "1", "--out", str(tmp_path), "--quiet"])
    assert code in (0, 1)
    saved = json.loads((tmp_path / "coord_check.json").read_text())
    assert saved["widths"] == [8, 32] and {r["parametrization"] for r in saved["records"]} == {"mup", "sp"}
    assert (tmp_path / "coord_check.png").stat().st_size > 0
    assert cli.main(["models:DeepMLP", "--kwargs", kwargs, "--coord-check", "width", "--widths", "8",
                     "--out", str(tmp_path), "--quiet"]) == 2
    assert "two or more positive --widths" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [{"name": "ntk"}, {"name": "mup"}])
def test_run_config_rejects_unknown_parametrizations(bad):
    configs, _ = config.get_experiment("smoke")
    with pytest.raises(ValueError, match="`parametrization` must be None or a dict"):
        configs[0].replace(parametrization=bad)
