"""Xiao et al. 2018: the depth table, the CNN map, the spectra, the claims (criteria in
`reproductions/configs/xiao2018.py`, fixed before the runs) and the report."""

import numpy as np

from initializers.diagnostics import mean_field
from reproductions import margins, mean_field_map
from reproductions import report as reporting
from reproductions.configs import xiao2018 as config
from reproductions.runs import chance_error, fact, final_error, first_step_at_or_below, seed_summary, select
from reproductions.xiao2018.spectra import read_spectra, spread_table, spreads_by_draw


def trained(run):
    """A map cell's run trained: final test error <= chance - TRAINED_BELOW_CHANCE."""
    error = final_error(run)
    return error is not None and error <= chance_error(run) - config.TRAINED_BELOW_CHANCE


def curve_runs(runs):
    """The depth curves' runs: every initializer at its own (critical or Keras) setting."""
    return select(runs, curve=True)


def depth_table(runs):
    """Per initializer (config order), per depth: final test error over seeds and the
    first evaluated update at which the error is <= chance - TRAINED_BELOW_CHANCE."""
    curves = curve_runs(runs)
    table = {}
    for key, label in config.INITIALIZERS:
        group = select(curves, init=key)
        if not group:
            continue
        table[key] = {"label": label, "depths": {
            str(depth): {"final_test_error": seed_summary([final_error(r) for r in cell]),
                         "updates_to_leave_chance": [
                             first_step_at_or_below(r, chance_error(r) - config.TRAINED_BELOW_CHANCE)
                             for r in cell]}
            for depth in sorted({fact(r, "depth") for r in group}) for cell in [select(group, depth=depth)]}}
    return table


def _deepest_errors(table, key, depth):
    return ((table.get(key) or {}).get("depths", {}).get(str(depth)) or {}).get("final_test_error", {})


def depth_claims(table, chance):
    """The three claims on the deepest curve depth (a diverged seed counts as chance)."""
    depths = sorted({int(d) for row in table.values() for d in row["depths"]})
    if not depths:
        return []
    deepest = depths[-1]
    delta, gaussian = _deepest_errors(table, "delta_orthogonal", deepest), _deepest_errors(table, "gaussian", deepest)
    delta_seeds = delta.get("per_seed") or []
    others = {key: (_deepest_errors(table, key, deepest).get("per_seed") or [])
              for key in ("keras_he_normal", "keras_glorot_uniform")}
    well = chance - config.WELL_ABOVE_CHANCE
    pair = {"gaussian": gaussian.get("per_seed") or [], "delta": delta_seeds}

    def slower_by(samples):
        return (margins.mean_of(samples["gaussian"], diverged=chance)
                - margins.mean_of(samples["delta"], diverged=chance))

    return [
        reporting.claim(
            "delta_orthogonal_trains_deepest_net",
            f"{deepest} layers: every seed of delta-orthogonal at the critical point ends with test error "
            f"<= chance - {config.WELL_ABOVE_CHANCE:g} ({well:.2f})",
            {"depth": deepest, "final_test_error": delta, "chance_error": chance},
            margins.every_seed(delta_seeds, well, "<=", "highest seed's final test error", diverged=chance)),
        reporting.claim(
            "gaussian_trains_slower",
            f"{deepest} layers: Gaussian weights at the same critical point end with a mean test error at "
            f"least {config.SLOWER_BY:g} above delta-orthogonal's (a diverged seed counts as chance)",
            {"depth": deepest, "delta_orthogonal": delta, "gaussian": gaussian},
            margins.margin(slower_by, pair, config.SLOWER_BY, ">=",
                           "Gaussian's minus delta-orthogonal's mean final test error")),
        reporting.claim(
            "he_and_glorot_do_not_train",
            f"{deepest} layers: every seed of keras.HeNormal and keras.GlorotUniform ends with test error "
            f"> chance - {config.NOT_TRAINED_WITHIN:g} (diverged counts as not trained)",
            {"depth": deepest, **{key: seeds for key, seeds in others.items()}},
            margins.combine([margins.every_seed(seeds, chance - config.NOT_TRAINED_WITHIN, ">",
                                                f"{key}: lowest seed's final test error (diverged = chance)",
                                                diverged=chance)
                             for key, seeds in others.items()])),
    ]


def spectra_claims(spectra):
    """The dynamical-isometry claims from spectra.json (none when it is missing), their
    margins over draws."""
    if spectra is None:
        return []
    table = spread_table(spectra)
    depths = [str(d) for d in spectra["settings"]["depths"]]
    first, last = depths[0], depths[-1]
    delta = {d: table["delta_orthogonal"][d]["mean"] for d in depths}
    gaussian = {d: table["gaussian"][d]["mean"] for d in depths}
    ratios = {d: gaussian[d] / delta[d] for d in depths}
    samples = spreads_by_draw(spectra)  # resampled by draw
    bound = config.ISOMETRY_GROWTH_BOUND

    def smallest_ratio(samples, average=np.mean):
        return min(float(average(samples["gaussian"][d]) / average(samples["delta_orthogonal"][d])) for d in depths)

    def growth(key):
        return lambda samples: float(np.mean(samples[key][last]) / np.mean(samples[key][first]))

    medians = {d: float(np.median(samples["gaussian"][d]) / np.median(samples["delta_orthogonal"][d]))
               for d in depths}
    per_draw = {d: [g / o for g, o in zip(samples["gaussian"][d], samples["delta_orthogonal"][d])] for d in depths}
    return [
        reporting.claim(
            "gaussian_spectrum_wider",
            f"Jacobian singular values (std / mean, mean over draws): Gaussian's spread is at least "
            f"{config.SPREAD_RATIO:g}x delta-orthogonal's at every measured depth, and grows at least "
            f"{bound:g}x from depth {first} to {last} (ratio criterion set after a hand measurement)",
            {"gaussian_over_orthogonal": ratios, "gaussian_growth": gaussian[last] / gaussian[first]},
            margins.combine([
                margins.margin(smallest_ratio, samples, config.SPREAD_RATIO, ">=",
                               "smallest Gaussian / orthogonal spread ratio over depths (means over draws)",
                               over="draws"),
                margins.margin(growth("gaussian"), samples, bound, ">=",
                               f"Gaussian's spread growth from depth {first} to {last}", over="draws")])),
        reporting.claim(
            "gaussian_spectrum_wider_robust",
            f"Jacobian singular values (std / mean, median over the {len(per_draw[first])} draws): Gaussian's spread "
            f"is at least {config.SPREAD_RATIO_ROBUST:g}x delta-orthogonal's at every measured depth (criterion fixed "
            "before its draws were measured)",
            {"gaussian_over_orthogonal_medians": medians,
             "per_draw_ratio_range": {d: [min(v), max(v)] for d, v in per_draw.items()},
             "draws_at_least_spread_ratio": {d: sum(r >= config.SPREAD_RATIO for r in v) for d, v in per_draw.items()},
             "draws": len(per_draw[first])},
            margins.margin(lambda s: smallest_ratio(s, np.median), samples, config.SPREAD_RATIO_ROBUST, ">=",
                           "smallest Gaussian / orthogonal spread ratio over depths (medians over draws)",
                           over="draws")),
        reporting.claim(
            "orthogonal_spread_bounded",
            f"delta-orthogonal's spread grows less than {bound:g}x from depth {first} to {last} "
            "(dynamical isometry at any depth)",
            {"spread": delta, "growth": delta[last] / delta[first]},
            margins.margin(growth("delta_orthogonal"), samples, bound, "<",
                           f"delta-orthogonal's spread growth from depth {first} to {last}", over="draws")),
    ]


def claims(table, chance, cells, critical, spectra):
    """Every claim, from the depth table, the map's cells and spectra.json."""
    return (depth_claims(table, chance)
            + mean_field_map.map_claims(cells, critical, "CNN map", config.SCHOENHOLZ_MULTIPLIER,
                                        config.AGREEMENT_REQUIRED, config.FIT_MULTIPLIERS)
            + spectra_claims(spectra))


def _spectra_section(spectra):
    return None if spectra is None else {"settings": spectra["settings"], "spread": spread_table(spectra),
                                         "seconds": spectra["seconds"]}


def redraw_report(report, workdir):
    """The report with its claims (and spectra section) redrawn from its own tables and the
    workdir's spectra.json (the run folders are not committed)."""
    spectra = read_spectra(workdir)
    report = reporting.numeric_order(report)
    report["depths"] = reporting.in_order(report["depths"], [key for key, _ in config.INITIALIZERS])
    return {**report, "claims": claims(report["depths"], report["budget"]["chance_error"], report["map"]["cells"],
                                       report["map"]["critical_sigma_w2"], spectra),
            "spectra": _spectra_section(spectra)}


def build_report(runs, profile, spectra):
    """report.json's content: claims, the depth table, the map's cells, the spreads."""
    first = runs[0]["config"]
    table = depth_table(runs)
    cells = mean_field_map.map_cells(select(runs, map=True), config.SIGMA_B2, trained)
    critical = mean_field.critical_sigma_w2("tanh", config.SIGMA_B2)
    chance = chance_error(runs[0])
    kwargs = first["model_kwargs"]
    return {
        "paper": "xiao2018",
        "profile": profile,
        "seeds": sorted({run["config"]["seed"] for run in runs}),
        "dataset": first["dataset"],
        "budget": {"steps": first["steps"], "learning_rate": first["learning_rate"],
                   "batch_size": first["batch_size"], "channels": kwargs["channels"],
                   "downsampling": kwargs["downsampling"], "readout": kwargs["readout"],
                   "sigma_w2": config.SIGMA_W2, "sigma_b2": config.SIGMA_B2, "chance_error": chance},
        "claims": claims(table, chance, cells, critical, spectra),
        "depths": table,
        "map": {"critical_sigma_w2": critical, "cells": cells},
        "spectra": _spectra_section(spectra),
    }


def report_markdown(report):
    budget = report["budget"]
    setting = (f"Dataset {report['dataset']}, seeds {report['seeds']}; vanilla tanh CNN, {budget['channels']} "
               f"channels, {budget['downsampling']} stride-2 convolutions, readout {budget['readout']}; "
               f"{budget['steps']} updates of SGD momentum 0.9 at lr {budget['learning_rate']:g}, batch "
               f"{budget['batch_size']}; critical point sigma_w^2 = {budget['sigma_w2']}, sigma_b^2 = "
               f"{budget['sigma_b2']}; critical sigma_w^2 for this sigma_b^2: "
               f"{report['map']['critical_sigma_w2']:.5f}.")
    depths = sorted({int(d) for row in report["depths"].values() for d in row["depths"]})
    rows = []
    for row in report["depths"].values():
        cells = []
        for depth in depths:
            cell = row["depths"].get(str(depth))
            summary = (cell or {}).get("final_test_error") or {}
            cells.append("-" if cell is None else
                         f"{reporting.percent(summary['mean'])} +- {reporting.percent(summary['std'])}")
        rows.append((row["label"], *cells))
    curves = ["Final test error (%), mean +- std over seeds, by depth:", "",
              *reporting.markdown_table(("initializer", *(f"{d} layers" for d in depths)), rows)]
    sections = [curves, mean_field_map.map_markdown(
        report["map"]["cells"], "CNN map, delta-orthogonal: mean final test accuracy (%) by sigma_w^2 and "
                                "depth (* trained by majority of seeds):")]
    if report["spectra"]:
        spread = report["spectra"]["spread"]
        spectra_depths = list(next(iter(spread.values())))
        draws = report["spectra"]["settings"]["draws"]

        def cell(values):
            return f"{np.mean(values):.3g} ({np.median(values):.3g}; {min(values):.3g}-{max(values):.3g})"

        ratios = [[g / o for g, o in zip(spread["gaussian"][d]["per_seed"], spread["delta_orthogonal"][d]["per_seed"])]
                  for d in spectra_depths]
        sections.append([f"Jacobian spread (std / mean of the singular values) over {draws} draws: mean (median; "
                         "min-max), and the Gaussian / orthogonal ratio of each draw pair:", "",
                         *reporting.markdown_table(
                             ("initializer", *(f"depth {d}" for d in spectra_depths)),
                             [(key, *(cell(spread[key][d]["per_seed"]) for d in spectra_depths)) for key in spread]
                             + [("Gaussian / orthogonal", *(cell(r) for r in ratios))])])
    return reporting.report_markdown(f"Xiao et al. 2018: claims ({report['profile']} profile)", setting,
                                     report["claims"], sections)
