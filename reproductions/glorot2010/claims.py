"""Glorot & Bengio 2010: the claims, their criteria (fixed before the quick runs) and the
report (`report.json` / `report.md`)."""

import math
import pathlib
import re

import numpy as np

from reproductions import margins
from reproductions import report as reporting
from reproductions.configs import glorot2010 as glorot_config
from reproductions.glorot2010.measure import HISTOGRAM_BINS, init_seeds, load_init_measurements, records
from reproductions.glorot2010.table1 import PAPER_ROW_NAMES, PAPER_TABLE1, table1_rows
from reproductions.runs import final_test_errors, seed_summary, select

# Claim criteria, fixed before the quick runs (report.md says what each measures).
JACOBIAN_EXPECTED = {"standard": 0.5, "normalized": 0.8}
JACOBIAN_TOLERANCE = 0.1         # |mean singular value - expected| <= 0.1, every seed
FLAT_RATIO = 1.5                 # normalized: max/min backprop-gradient std over hidden layers
SATURATED_MEAN = 0.1             # sigmoid top hidden layer: mean activation <= 0.1 at some record
PAPER_STEPS, PAPER_WIDTH = 5_000_000, 1000  # the paper's budget (Sec. 2.3) and layer width


def _peak_density(row):
    counts = np.asarray(row["histogram"]["counts"], dtype=np.float64)
    edges = np.asarray(row["histogram"]["edges"], dtype=np.float64)
    return float((counts / counts.sum() / np.diff(edges)).max())


def _hidden(rows):
    """The hidden layers' rows (the output layer is not part of the paper's figures)."""
    return [row for row in rows if row["layer"] != "logits"]


def _significant(values, digits=4):
    return [[float(f"{v:.{digits}g}") for v in seed] for seed in values]


def _rising_steps(values):
    """The smallest step up between consecutive layers (> 0: strictly increasing)."""
    return float(np.min(np.diff(values)))


def _rising_factor(values):
    """The smallest factor between consecutive layers (> 1: strictly increasing)."""
    return float(np.min(np.asarray(values[1:]) / np.asarray(values[:-1])))


def init_evidence(measurements):
    """The at-initialization values the claims are decided on, per seed (None: not measured)."""
    standard, normalized = measurements.get("standard", []), measurements.get("normalized", [])
    if not standard or not normalized:
        return None
    by_init = {"standard": standard, "normalized": normalized}
    config = standard[0]["config"]
    return {
        "width": config["width"], "jacobian_examples": config["jacobian_examples"],
        "seeds": [m["config"]["seed"] for m in standard],
        "jacobian": {init: [float(np.mean([r["mean_singular_value"] for r in _hidden(m["jacobian"])]))
                            for m in items] for init, items in by_init.items()},
        "jacobian_per_layer_seed0": {init: [r["mean_singular_value"] for r in _hidden(items[0]["jacobian"])]
                                     for init, items in by_init.items()},
        "peaks": [[_peak_density(r) for r in _hidden(m["activations"])] for m in standard],
        "activation_std": [[r["std"] for r in _hidden(m["activations"])] for m in standard],
        "backprop_std": {init: [[r["std"] for r in _hidden(m["backprop"])] for m in items]
                         for init, items in by_init.items()},
    }


def _max_over_min(found, init):
    """Per seed: max / min over hidden layers of the gradient std (the report's unrounded
    values where the evidence comes from a report)."""
    return found.get("max_over_min", {}).get(init) or [max(stds) / min(stds) for stds in found["backprop_std"][init]]


def init_claims(found):
    """Claims about the network at initialization (Figs. 6-7, Sec. 4.2.2)."""
    if found is None:
        return []
    jacobian, peaks, backprop_std = found["jacobian"], found["peaks"], found["backprop_std"]
    flat_ratio, standard_ratio = _max_over_min(found, "normalized"), _max_over_min(found, "standard")
    deviation = [max(abs(jacobian[init][seed] - JACOBIAN_EXPECTED[init]) for init in jacobian)
                 for seed in range(len(jacobian["standard"]))]
    return [
        reporting.claim(
            "jacobian_singular_values",
            f"tanh, width {found['width']}, at init: mean singular value of the hidden-to-hidden "
            f"Jacobians (averaged over layers and {found['jacobian_examples']} "
            f"examples) within {JACOBIAN_TOLERANCE:g} of {JACOBIAN_EXPECTED['standard']:g} "
            f"(standard) and of {JACOBIAN_EXPECTED['normalized']:g} (normalized), every seed",
            {"seeds": found["seeds"],
             **{init: seed_summary([round(v, 4) for v in values]) for init, values in jacobian.items()},
             "per_layer_seed0": {init: [round(v, 4) for v in values]
                                 for init, values in found["jacobian_per_layer_seed0"].items()}},
            margins.every_seed(deviation, JACOBIAN_TOLERANCE, "<=",
                               "largest |mean singular value - expected| of a seed (either init)")),
        reporting.claim(
            "fig6_activation_peak_grows_with_depth_standard",
            f"tanh, standard init: the peak density of the activation histogram "
            f"({HISTOGRAM_BINS} bins on [-1, 1]) strictly increases from hidden layer 1 to 5, every seed",
            {"peak_density_per_layer": [[round(p, 3) for p in seed] for seed in peaks],
             "activation_std_per_layer": [[round(v, 4) for v in seed] for seed in found["activation_std"]]},
            margins.every_seed([_rising_steps(seed) for seed in peaks], 0.0, ">",
                               "smallest rise of the peak density between consecutive layers")),
        reporting.claim(
            "fig7_gradient_peak_shrinks_with_depth_standard",
            "tanh, standard init: the std of the back-propagated gradients d loss / d h "
            "strictly increases from hidden layer 1 to 5 (the 0-peak shrinks for higher "
            "layers; gradients vanish towards the input), every seed",
            {"backprop_std_per_layer": _significant(backprop_std["standard"]),
             "max_over_min": seed_summary(standard_ratio)},
            margins.every_seed([_rising_factor(seed) for seed in backprop_std["standard"]], 1.0, ">",
                               "smallest factor of the gradient std between consecutive layers")),
        reporting.claim(
            "fig7_flat_normalized",
            f"tanh, normalized init: max / min over hidden layers of the back-propagated "
            f"gradients' std <= {FLAT_RATIO:g}, every seed (standard init for comparison)",
            {"normalized_max_over_min": seed_summary(flat_ratio),
             "standard_max_over_min": seed_summary(standard_ratio),
             "backprop_std_per_layer": _significant(backprop_std["normalized"])},
            margins.every_seed(flat_ratio, FLAT_RATIO, "<=", "highest seed's max / min gradient std")),
    ]


def training_evidence(runs, dataset):
    """The training values the claims are decided on, per seed: the sigmoid net's top
    hidden layer (lowest mean activation, when it first saturated, the lower layers then)
    and the final test errors of Table 1's rows."""
    top = glorot_config.DEPTH - 1  # index of the top hidden layer in a record
    sigmoid = {"lowest": [], "first_step": [], "lower_means": []}
    for run in select(runs, dataset=dataset, activation="sigmoid", init="standard"):
        run_records = records(run)
        top_means = [r["layers"][top]["mean"] for r in run_records]
        sigmoid["lowest"].append(min(top_means) if top_means else None)
        saturated = [r for r in run_records if r["layers"][top]["mean"] <= SATURATED_MEAN]
        sigmoid["first_step"].append(saturated[0]["step"] if saturated else None)
        sigmoid["lower_means"].append([round(row["mean"], 3) for row in saturated[0]["layers"][:top]]
                                      if saturated else None)
    errors = {PAPER_ROW_NAMES[key]: final_test_errors(select(runs, dataset=dataset, activation=key[0], init=key[1]))
              for key in PAPER_TABLE1}
    return {"dataset": dataset, "sigmoid": sigmoid, "errors": errors}


def _mean_gap(samples):
    """Tanh's mean final test error minus Tanh N's (NaN with a diverged seed)."""
    return margins.mean_of(samples["Tanh"]) - margins.mean_of(samples["Tanh N"])


def _no_overlap_gap(samples):
    """Tanh's best seed minus Tanh N's worst (> 0: no overlap)."""
    if any(v is None for seeds in samples.values() for v in seeds) or not samples["Tanh"]:
        return math.nan
    return min(samples["Tanh"]) - max(samples["Tanh N"])


def _sigmoid_above_others(samples):
    """Sigmoid's mean final test error minus the highest other row's (diverged = 100%)."""
    means = {name: margins.mean_of(seeds, diverged=1.0) for name, seeds in samples.items()}
    return means["Sigmoid"] - max(m for name, m in means.items() if name != "Sigmoid")


def training_claims(found):
    """Claims about training (Fig. 2, Table 1) on the evidence's dataset."""
    claims = []
    dataset, sigmoid, errors = found["dataset"], found["sigmoid"], found["errors"]
    if sigmoid["lowest"]:
        claims.append(reporting.claim(
            "fig2_sigmoid_top_layer_saturates",
            f"sigmoid, standard init, {dataset}: the top hidden layer's mean activation "
            f"(300 test examples) falls to <= {SATURATED_MEAN:g} at some record within the budget, "
            "every seed",
            {"lowest_top_layer_mean": sigmoid["lowest"], "first_step_saturated": sigmoid["first_step"],
             "lower_layers_mean_then": sigmoid["lower_means"]},
            margins.every_seed(sigmoid["lowest"], SATURATED_MEAN, "<=",
                               "highest seed's lowest top-layer mean activation")))
    tanh, tanh_n = errors.get("Tanh"), errors.get("Tanh N")
    if tanh and tanh_n:
        pair = {"Tanh": tanh, "Tanh N": tanh_n}
        claims.append(reporting.claim(
            "table1_tanh_n_beats_tanh",
            f"{dataset}: Tanh N's final test error is lower than Tanh's in the mean, and "
            "every seed of Tanh N is below every seed of Tanh (no overlap)",
            {"tanh_n": seed_summary(tanh_n), "tanh": seed_summary(tanh)},
            margins.combine([
                margins.margin(_mean_gap, pair, 0.0, ">", "Tanh's minus Tanh N's mean final test error"),
                margins.margin(_no_overlap_gap, pair, 0.0, ">", "Tanh's best seed minus Tanh N's worst")])))
    if len(errors) == len(PAPER_TABLE1) and all(errors.values()):
        means = {name: margins.mean_of(values, diverged=1.0) for name, values in errors.items()}
        claims.append(reporting.claim(
            "table1_sigmoid_worst",
            f"{dataset}: Sigmoid has the highest mean final test error of the five "
            "Table 1 rows (strictly; a diverged run counts as 100%)",
            {"mean_final_test_error": means},
            margins.margin(_sigmoid_above_others, errors, 0.0, ">",
                           "Sigmoid's minus the highest other row's mean final test error")))
    return claims


def redraw_report(report, workdir=None):
    """The report with its claims redrawn without the run folders (not committed): the
    at-initialization claims from the workdir's `init/` measurements where it has them,
    else from the report's own values (the per-layer values rounded as the report holds
    them, the max / min ratios unrounded); the training claims from the report's values."""
    measured = {item["id"]: item["measured"] for item in report["claims"]}
    found = None
    if workdir is not None and (pathlib.Path(workdir) / "init").is_dir():  # the measurements themselves
        found = init_evidence(load_init_measurements(workdir, report["profile"], report["dataset"],
                                                     init_seeds(report["profile"], report["seeds"])))
    elif "jacobian_singular_values" in measured:
        jacobian = measured["jacobian_singular_values"]
        criterion = next(item["criterion"] for item in report["claims"] if item["id"] == "jacobian_singular_values")
        found = {
            "width": int(re.search(r"width (\d+)", criterion).group(1)),
            "jacobian_examples": int(re.search(r"and (\d+) examples", criterion).group(1)),
            "seeds": jacobian["seeds"],
            "jacobian": {init: jacobian[init]["per_seed"] for init in JACOBIAN_EXPECTED},
            "jacobian_per_layer_seed0": jacobian["per_layer_seed0"],
            "peaks": measured["fig6_activation_peak_grows_with_depth_standard"]["peak_density_per_layer"],
            "activation_std": measured["fig6_activation_peak_grows_with_depth_standard"]["activation_std_per_layer"],
            "backprop_std": {
                "standard": measured["fig7_gradient_peak_shrinks_with_depth_standard"]["backprop_std_per_layer"],
                "normalized": measured["fig7_flat_normalized"]["backprop_std_per_layer"]},
            "max_over_min": {"normalized": measured["fig7_flat_normalized"]["normalized_max_over_min"]["per_seed"],
                             "standard": measured["fig7_flat_normalized"]["standard_max_over_min"]["per_seed"]}}
    saturation = measured.get("fig2_sigmoid_top_layer_saturates") or {}
    training = {
        "dataset": report["dataset"],
        "sigmoid": {"lowest": saturation.get("lowest_top_layer_mean", []),
                    "first_step": saturation.get("first_step_saturated", []),
                    "lower_means": saturation.get("lower_layers_mean_then", [])},
        "errors": {row["paper_name"]: row["datasets"][report["dataset"]]["final_test_error"]["per_seed"]
                   for row in report["table1"] if row["paper_name"] and report["dataset"] in row["datasets"]}}
    combinations = glorot_config.PROFILES[report["profile"]].get("combinations", ())
    budget = {**report["budget"], "learning_rate": reporting.in_order(report["budget"]["learning_rate"],
                                                                      [f"{a}_{i}" for a, i in combinations])}
    return {**report, "budget": budget, "claims": init_claims(found) + training_claims(training)}


def build_report(workdir, profile, configs, runs):
    """report.json's content: the claims (on the first dataset) and Table 1."""
    # In the configs' order (Shapeset-3x2 first), keeping the datasets that have runs.
    with_runs = {run["config"]["dataset"] for run in runs}
    datasets = [d for d in dict.fromkeys(c.dataset for c in configs) if d in with_runs]
    first = next(run["config"] for run in runs if run["config"]["dataset"] == datasets[0])
    seeds = sorted({run["config"]["seed"] for run in runs})
    claims = init_claims(init_evidence(load_init_measurements(workdir, profile, datasets[0],
                                                              init_seeds(profile, seeds))))
    claims += training_claims(training_evidence(runs, datasets[0]))
    combinations = list(dict.fromkeys((c.tags["activation"], c.tags["init"]) for c in configs))
    rates = {f"{a}_{i}": group[0]["config"]["learning_rate"] for a, i in combinations
             if (group := select(runs, dataset=datasets[0], activation=a, init=i))}
    return {
        "paper": "glorot2010",
        "profile": profile,
        "seeds": seeds,
        "dataset": datasets[0],
        "datasets": datasets,
        "budget": {"steps": first["steps"], "paper_steps": PAPER_STEPS, "batch_size": first["batch_size"],
                   "optimizer": "sgd", "learning_rate": rates, "depth": first["model_kwargs"]["depth"],
                   "width": first["model_kwargs"]["width"], "paper_width": PAPER_WIDTH},
        "claims": claims,
        "table1": table1_rows(runs, combinations, datasets),
    }


def report_markdown(report):
    budget = report["budget"]
    setting = (f"Dataset {report['dataset']}, seeds {report['seeds']}, {budget['steps']:,} updates of batch "
               f"{budget['batch_size']} (paper: {budget['paper_steps']:,}), plain SGD, width {budget['width']} x "
               f"{budget['depth']} hidden layers; learning rates {budget['learning_rate']}. At-initialization "
               "claims use width 1000 unless the profile says otherwise (see the criterion).")
    return reporting.report_markdown(
        f"Glorot & Bengio 2010: claims ({report['profile']} profile)", setting, report["claims"])
