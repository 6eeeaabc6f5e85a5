"""Glorot & Bengio 2010: the claims, their criteria (fixed before the quick runs) and the
report (`report.json` / `report.md`)."""

import numpy as np

from reproductions import report as reporting
from reproductions.configs import glorot2010 as glorot_config
from reproductions.glorot2010.measure import HISTOGRAM_BINS, load_init_measurements, records
from reproductions.glorot2010.table1 import PAPER_ROW_NAMES, PAPER_TABLE1, table1_rows
from reproductions.runs import final_test_errors, seed_summary, select

# Claim criteria, fixed before the quick runs (report.md says what each measures).
JACOBIAN_EXPECTED = {"standard": 0.5, "normalized": 0.8}
JACOBIAN_TOLERANCE = 0.1         # |mean singular value - expected| <= 0.1, every seed
FLAT_RATIO = 1.5                 # normalized: max/min backprop-gradient std over hidden layers
SATURATED_MEAN = 0.1             # sigmoid top hidden layer: mean activation <= 0.1 at some record
PAPER_STEPS, PAPER_WIDTH = 5_000_000, 1000  # the paper's budget (Sec. 2.3) and layer width


def _strictly_increasing(values):
    return bool(np.all(np.diff(values) > 0))


def _peak_density(row):
    counts = np.asarray(row["histogram"]["counts"], dtype=np.float64)
    edges = np.asarray(row["histogram"]["edges"], dtype=np.float64)
    return float((counts / counts.sum() / np.diff(edges)).max())


def _hidden(rows):
    """The hidden layers' rows (the output layer is not part of the paper's figures)."""
    return [row for row in rows if row["layer"] != "logits"]


def _significant(values, digits=4):
    return [[float(f"{v:.{digits}g}") for v in seed] for seed in values]


def init_claims(measurements):
    """Claims about the network at initialization (Figs. 6-7, Sec. 4.2.2)."""
    standard, normalized = measurements.get("standard", []), measurements.get("normalized", [])
    if not standard or not normalized:
        return []
    by_init = {"standard": standard, "normalized": normalized}
    jacobian = {init: [float(np.mean([r["mean_singular_value"] for r in _hidden(m["jacobian"])]))
                       for m in items] for init, items in by_init.items()}
    peaks = [[_peak_density(r) for r in _hidden(m["activations"])] for m in standard]
    activation_std = [[r["std"] for r in _hidden(m["activations"])] for m in standard]
    backprop_std = {init: [[r["std"] for r in _hidden(m["backprop"])] for m in items]
                    for init, items in by_init.items()}
    flat_ratio = [max(stds) / min(stds) for stds in backprop_std["normalized"]]
    standard_ratio = [max(stds) / min(stds) for stds in backprop_std["standard"]]
    config = standard[0]["config"]
    return [
        reporting.claim(
            "jacobian_singular_values",
            f"tanh, width {config['width']}, at init: mean singular value of the hidden-to-hidden "
            f"Jacobians (averaged over layers and {config['jacobian_examples']} "
            f"examples) within {JACOBIAN_TOLERANCE:g} of {JACOBIAN_EXPECTED['standard']:g} "
            f"(standard) and of {JACOBIAN_EXPECTED['normalized']:g} (normalized), every seed",
            {"seeds": [m["config"]["seed"] for m in standard],
             **{init: seed_summary([round(v, 4) for v in values]) for init, values in jacobian.items()},
             "per_layer_seed0": {init: [round(r["mean_singular_value"], 4) for r in _hidden(items[0]["jacobian"])]
                                 for init, items in by_init.items()}},
            all(abs(v - JACOBIAN_EXPECTED[init]) <= JACOBIAN_TOLERANCE
                for init, values in jacobian.items() for v in values)),
        reporting.claim(
            "fig6_activation_peak_grows_with_depth_standard",
            f"tanh, standard init: the peak density of the activation histogram "
            f"({HISTOGRAM_BINS} bins on [-1, 1]) strictly increases from hidden layer 1 to 5, every seed",
            {"peak_density_per_layer": [[round(p, 3) for p in seed] for seed in peaks],
             "activation_std_per_layer": [[round(v, 4) for v in seed] for seed in activation_std]},
            all(_strictly_increasing(seed) for seed in peaks)),
        reporting.claim(
            "fig7_gradient_peak_shrinks_with_depth_standard",
            "tanh, standard init: the std of the back-propagated gradients d loss / d h "
            "strictly increases from hidden layer 1 to 5 (the 0-peak shrinks for higher "
            "layers; gradients vanish towards the input), every seed",
            {"backprop_std_per_layer": _significant(backprop_std["standard"]),
             "max_over_min": seed_summary(standard_ratio)},
            all(_strictly_increasing(seed) for seed in backprop_std["standard"])),
        reporting.claim(
            "fig7_flat_normalized",
            f"tanh, normalized init: max / min over hidden layers of the back-propagated "
            f"gradients' std <= {FLAT_RATIO:g}, every seed (standard init for comparison)",
            {"normalized_max_over_min": seed_summary(flat_ratio),
             "standard_max_over_min": seed_summary(standard_ratio),
             "backprop_std_per_layer": _significant(backprop_std["normalized"])},
            all(ratio <= FLAT_RATIO for ratio in flat_ratio)),
    ]


def training_claims(runs, dataset):
    """Claims about training (Fig. 2, Table 1) on `dataset`."""
    claims = []
    top = glorot_config.DEPTH - 1  # index of the top hidden layer in a record
    sigmoid = select(runs, dataset=dataset, activation="sigmoid", init="standard")
    if sigmoid:
        lowest, first_step, lower_means = [], [], []
        for run in sigmoid:
            run_records = records(run)
            top_means = [r["layers"][top]["mean"] for r in run_records]
            lowest.append(min(top_means) if top_means else None)
            saturated = [r for r in run_records if r["layers"][top]["mean"] <= SATURATED_MEAN]
            first_step.append(saturated[0]["step"] if saturated else None)
            lower_means.append([round(row["mean"], 3) for row in saturated[0]["layers"][:top]]
                               if saturated else None)
        claims.append(reporting.claim(
            "fig2_sigmoid_top_layer_saturates",
            f"sigmoid, standard init, {dataset}: the top hidden layer's mean activation "
            f"(300 test examples) falls to <= {SATURATED_MEAN:g} at some record within the budget, "
            "every seed",
            {"lowest_top_layer_mean": lowest, "first_step_saturated": first_step,
             "lower_layers_mean_then": lower_means},
            all(v is not None and v <= SATURATED_MEAN for v in lowest)))
    errors = {key: final_test_errors(select(runs, dataset=dataset, activation=key[0], init=key[1]))
              for key in PAPER_TABLE1}
    tanh, tanh_n = errors["tanh", "standard"], errors["tanh", "normalized"]
    if tanh and tanh_n:
        complete = None not in tanh and None not in tanh_n
        claims.append(reporting.claim(
            "table1_tanh_n_beats_tanh",
            f"{dataset}: Tanh N's final test error is lower than Tanh's in the mean, and "
            "every seed of Tanh N is below every seed of Tanh (no overlap)",
            {"tanh_n": seed_summary(tanh_n), "tanh": seed_summary(tanh)},
            complete and np.mean(tanh_n) < np.mean(tanh) and max(tanh_n) < min(tanh)))
    if all(errors.values()):
        means = {PAPER_ROW_NAMES[key]: float(np.mean([1.0 if e is None else e for e in values]))
                 for key, values in errors.items()}
        claims.append(reporting.claim(
            "table1_sigmoid_worst",
            f"{dataset}: Sigmoid has the highest mean final test error of the five "
            "Table 1 rows (strictly; a diverged run counts as 100%)",
            {"mean_final_test_error": means},
            all(means["Sigmoid"] > m for name, m in means.items() if name != "Sigmoid")))
    return claims


def build_report(workdir, profile, configs, runs):
    """report.json's content: the claims (on the first dataset) and Table 1."""
    # In the configs' order (Shapeset-3x2 first), keeping the datasets that have runs.
    with_runs = {run["config"]["dataset"] for run in runs}
    datasets = [d for d in dict.fromkeys(c.dataset for c in configs) if d in with_runs]
    first = next(run["config"] for run in runs if run["config"]["dataset"] == datasets[0])
    seeds = sorted({run["config"]["seed"] for run in runs})
    claims = init_claims(load_init_measurements(workdir, profile, datasets[0], seeds))
    claims += training_claims(runs, datasets[0])
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
