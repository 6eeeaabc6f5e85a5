"""Reproduce Glorot & Bengio 2010 (deep MLPs: standard vs normalized initialization).

    python -m reproductions.glorot2010                       # quick profile (default)
    python -m reproductions.glorot2010 --profile full        # width 1000, 3 datasets, for a GPU
    python -m reproductions.glorot2010 --plot-only           # redraw from the logs only

Writes into the workdir: `init/` (diagnostics at initialization: tanh, full width,
standard vs normalized, one JSON per seed), `runs/*/` (one folder per run, with
`activations.jsonl`: per-layer statistics of activations, back-propagated and
weight gradients on 300 fixed test examples at step 0 and at every evaluation),
the figures `fig2_sigmoid_activations.png`,
`fig3_saturation.png`, `fig4_final_histograms.png`, `fig6_activations_at_init.png`,
`fig7_backprop_gradients_at_init.png`, `fig8_weight_gradients_at_init.png`,
`fig11_test_error.png` (and `fig12_test_error_<dataset>.png` for MNIST and
CIFAR-10 with the full profile), `table1.md`, `report.json` and `report.md`. The
`lr_search` profile writes `lr_search.md` instead. Settings, profiles and
runtimes: `reproductions/configs/glorot2010.py`.
"""

import json
import pathlib
import sys

import numpy as np

import models
from initializers import diagnostics, initialize_weights
from initializers.diagnostics_plots import plot_layer_histograms, plot_training_statistics
from reproductions import cli, data, harness, plots
from reproductions.configs import glorot2010 as glorot_config
from reproductions.runio import read_json, write_json_atomic

# Figs. 6-8 and the Jacobian numbers: tanh at initialization, standard vs normalized.
INIT_SETTINGS = (("standard", "standard_uniform"), ("normalized", "glorot_uniform"))
INIT_ACTIVATION = "tanh"
JACOBIAN_EXAMPLES = 16  # examples averaged per layer (each a width x width eigenproblem)
HISTOGRAM_BINS = 50
# Histogram ranges of the recorded activations (the activation's image).
ACTIVATION_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "softsign": (-1.0, 1.0)}

# Claim criteria, fixed before the quick runs (report.md says what each measures).
JACOBIAN_EXPECTED = {"standard": 0.5, "normalized": 0.8}
JACOBIAN_TOLERANCE = 0.1         # |mean singular value - expected| <= 0.1, every seed
FLAT_RATIO = 1.5                 # normalized: max/min backprop-gradient std over hidden layers
SATURATED_MEAN = 0.1             # sigmoid top hidden layer: mean activation <= 0.1 at some record
PAPER_TABLE1 = {  # test error %, 5 hidden layers (Glorot & Bengio 2010, Table 1)
    ("softsign", "standard"): {"shapeset3x2": 16.27, "mnist": 1.64, "cifar10": 55.78},
    ("softsign", "normalized"): {"shapeset3x2": 16.06, "mnist": 1.72, "cifar10": 53.8},
    ("tanh", "standard"): {"shapeset3x2": 27.15, "mnist": 1.76, "cifar10": 55.9},
    ("tanh", "normalized"): {"shapeset3x2": 15.60, "mnist": 1.64, "cifar10": 52.92},
    ("sigmoid", "standard"): {"shapeset3x2": 82.61, "mnist": 2.21, "cifar10": 57.28},
}
PAPER_ROW_NAMES = {("softsign", "standard"): "Softsign", ("softsign", "normalized"): "Softsign N",
                   ("tanh", "standard"): "Tanh", ("tanh", "normalized"): "Tanh N",
                   ("sigmoid", "standard"): "Sigmoid"}


# ----------------------------------------------------------------------------- measurements


def _diagnostics_batch(dataset, data_dir=None):
    """The fixed 300 test examples (flattened) and labels the paper's statistics use."""
    return data.as_numpy(data.load(dataset, "test", glorot_config.DIAGNOSTICS_EXAMPLES,
                                   num_examples=glorot_config.DIAGNOSTICS_EXAMPLES, flatten=True,
                                   data_dir=data_dir))


def init_setting(profile, dataset, init, seed):
    """What one at-initialization measurement is (its JSON's `config`)."""
    return {"dataset": dataset, "activation": INIT_ACTIVATION, "init": init,
            "initializer": dict(INIT_SETTINGS)[init], "depth": glorot_config.DEPTH,
            "width": glorot_config.PROFILES[profile]["init_width"], "seed": seed,
            "examples": glorot_config.DIAGNOSTICS_EXAMPLES, "bins": HISTOGRAM_BINS,
            "jacobian_examples": JACOBIAN_EXAMPLES}


def measure_at_init(setting, batch):
    """Activation, back-propagated and weight-gradient statistics and Jacobian singular
    values of a freshly initialized `DeepMLP` (no training)."""
    inputs, labels = batch
    model = models.DeepMLP(inputs.shape[1], data.num_classes(setting["dataset"]), depth=setting["depth"],
                           width=setting["width"], activation=setting["activation"])
    initialize_weights(model, setting["initializer"], seed=setting["seed"])
    backprop, weights = diagnostics.gradient_statistics(model, inputs, labels, bins=setting["bins"])
    return {
        "config": setting,
        "activations": diagnostics.activation_statistics(
            model, inputs, bins=setting["bins"], value_range=ACTIVATION_RANGES[setting["activation"]]),
        "backprop": backprop,
        "weights": weights,
        "jacobian": diagnostics.jacobian_singular_values(model, inputs,
                                                         max_examples=setting["jacobian_examples"]),
    }


def prepare(workdir, profile, configs, seeds):
    """Figs. 6-8 measurements at initialization, one JSON per (init, seed) in `init/`;
    a file already holding the same setting is kept (resume)."""
    if profile == "lr_search":
        return
    dataset, data_dir = configs[0].dataset, configs[0].data_dir
    folder = pathlib.Path(workdir) / "init"
    folder.mkdir(parents=True, exist_ok=True)
    batch = None
    for seed in seeds:
        for init, _ in INIT_SETTINGS:
            setting = init_setting(profile, dataset, init, seed)
            path = folder / f"{INIT_ACTIVATION}_{init}-seed{seed}.json"
            if path.exists() and read_json(path)["config"] == setting:
                continue
            batch = batch or _diagnostics_batch(dataset, data_dir)
            print(f"at initialization: {INIT_ACTIVATION}, {init}, width {setting['width']}, seed {seed}",
                  file=sys.stderr, flush=True)
            write_json_atomic(path, measure_at_init(setting, batch))


def load_init_measurements(workdir, profile, dataset, seeds=None):
    """{init: [measurement per seed, by seed]} from `init/`: those of `dataset` at the
    profile's width (and of `seeds`, if given)."""
    found = {}
    width = glorot_config.PROFILES[profile]["init_width"]
    for path in sorted((pathlib.Path(workdir) / "init").glob("*.json")):
        measurement = read_json(path)
        setting = measurement["config"]
        if (setting["dataset"], setting["width"]) != (dataset, width) or (
                seeds is not None and setting["seed"] not in seeds):
            continue
        found.setdefault(setting["init"], []).append(measurement)
    return {init: sorted(items, key=lambda m: m["config"]["seed"]) for init, items in found.items()}


def recorder_callbacks(workdir, tensorboard=False):
    """`config -> [ActivationStatsRecorder]`: statistics of activations and gradients on
    the 300 fixed test examples at step 0 and at every evaluation (`activations.jsonl`);
    with `tensorboard`, also as histograms in `<run>/tensorboard/diagnostics`."""
    batches = {}

    def callbacks_for(config):
        key = (config.dataset, config.data_dir)
        if key not in batches:
            batches[key] = _diagnostics_batch(*key)
        inputs, labels = batches[key]
        run_dir = harness.run_dir_of(config, workdir)
        activation = config.model_kwargs["activation"]
        return [diagnostics.ActivationStatsRecorder(
            inputs, run_dir / "activations.jsonl", every=config.eval_every, bins=HISTOGRAM_BINS,
            value_range=ACTIVATION_RANGES.get(activation), labels=labels,
            tensorboard_dir=run_dir / "tensorboard" / "diagnostics" if tensorboard else None)]

    return callbacks_for


def _percent(value):
    return "-" if value is None else f"{100 * value:.2f}"


def _combination(config):
    """(dataset, activation, init key) of a run config."""
    name = config["name"].split("_", 1)[1] if config["name"].startswith("lr") else config["name"]
    dataset = config["dataset"]
    activation, init = name[len(dataset) + 1:].split("_", 1)
    return dataset, activation, init


def lr_search_markdown(runs):
    """Final validation error per combination and learning rate; the pick per combination."""
    table, losses = {}, {}
    for run in runs:
        config = run["config"]
        completed = run["final"]["status"] == "completed"
        key = _combination(config)
        error = run["final"]["final"]["test_error"] if completed else None
        table.setdefault(key, {})[config["learning_rate"]] = error
        losses.setdefault(key, {})[config["learning_rate"]] = (
            run["final"]["final"].get("test_loss") if completed else None)
    rates = sorted({rate for by_rate in table.values() for rate in by_rate})
    first = runs[0]["config"]
    lines = ["# Learning-rate search (validation set)", "",
             f"{first['steps']} updates of batch {first['batch_size']}, plain SGD, width "
             f"{first['model_kwargs']['width']}, {first['model_kwargs']['depth']} hidden layers, seed "
             f"{first['seed']}, final error on {first['eval_examples']} validation examples (%).", "",
             "Rule: per combination, the rate with the lowest final validation error (diverged = 100%, "
             "shown as `div`); ties broken by the lower final validation loss, then by the smaller rate.", "",
             "| dataset | activation | init | " + " | ".join(f"lr {r:g}" for r in rates) + " | pick |",
             "|---" * (len(rates) + 4) + "|"]
    picks = {}
    for key, by_rate in sorted(table.items()):
        dataset, activation, init = key

        def score(rate):
            error, loss = by_rate[rate], losses[key][rate]
            return (1.0 if error is None else error, float("inf") if loss is None else loss, rate)

        best = min(by_rate, key=score)
        picks[activation, init] = best
        cells = [("div" if by_rate[r] is None else _percent(by_rate[r])) if r in by_rate else "" for r in rates]
        lines.append(f"| {dataset} | {activation} | {init} | " + " | ".join(cells) + f" | {best:g} |")
    lines += ["", "As `QUICK_LEARNING_RATES` in `reproductions/configs/glorot2010.py`:", "", "```python",
              "{" + ", ".join(f"({a!r}, {i!r}): {r:g}" for (a, i), r in sorted(picks.items())) + "}",
              "```", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- claims


def _strictly_increasing(values):
    return bool(np.all(np.diff(values) > 0))


def _peak_density(row):
    counts = np.asarray(row["histogram"]["counts"], dtype=np.float64)
    edges = np.asarray(row["histogram"]["edges"], dtype=np.float64)
    return float((counts / counts.sum() / np.diff(edges)).max())


def _hidden(rows):
    """The hidden layers' rows (the output layer is not part of the paper's figures)."""
    return [row for row in rows if row["layer"] != "logits"]


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
    seeds = [m["config"]["seed"] for m in standard]
    width = standard[0]["config"]["width"]
    return [
        {"id": "jacobian_singular_values",
         "criterion": f"tanh, width {width}, at init: mean singular value of the hidden-to-hidden "
                      f"Jacobians (averaged over layers and {standard[0]['config']['jacobian_examples']} "
                      f"examples) within {JACOBIAN_TOLERANCE:g} of {JACOBIAN_EXPECTED['standard']:g} "
                      f"(standard) and of {JACOBIAN_EXPECTED['normalized']:g} (normalized), every seed",
         "measured": {"seeds": seeds,
                      **{init: plots.seed_summary([round(v, 4) for v in values])
                         for init, values in jacobian.items()},
                      "per_layer_seed0": {init: [round(r["mean_singular_value"], 4)
                                                 for r in _hidden(items[0]["jacobian"])]
                                          for init, items in by_init.items()}},
         "holds": all(abs(v - JACOBIAN_EXPECTED[init]) <= JACOBIAN_TOLERANCE
                      for init, values in jacobian.items() for v in values)},
        {"id": "fig6_activation_peak_grows_with_depth_standard",
         "criterion": f"tanh, standard init: the peak density of the activation histogram "
                      f"({HISTOGRAM_BINS} bins on [-1, 1]) strictly increases from hidden layer 1 to 5, "
                      "every seed",
         "measured": {"peak_density_per_layer": [[round(p, 3) for p in seed] for seed in peaks],
                      "activation_std_per_layer": [[round(v, 4) for v in seed] for seed in activation_std]},
         "holds": all(_strictly_increasing(seed) for seed in peaks)},
        {"id": "fig7_gradient_peak_shrinks_with_depth_standard",
         "criterion": "tanh, standard init: the std of the back-propagated gradients d loss / d h "
                      "strictly increases from hidden layer 1 to 5 (the 0-peak shrinks for higher "
                      "layers; gradients vanish towards the input), every seed",
         "measured": {"backprop_std_per_layer": [[float(f"{v:.4g}") for v in seed]
                                                 for seed in backprop_std["standard"]],
                      "max_over_min": plots.seed_summary(standard_ratio)},
         "holds": all(_strictly_increasing(seed) for seed in backprop_std["standard"])},
        {"id": "fig7_flat_normalized",
         "criterion": f"tanh, normalized init: max / min over hidden layers of the back-propagated "
                      f"gradients' std <= {FLAT_RATIO:g}, every seed (standard init for comparison)",
         "measured": {"normalized_max_over_min": plots.seed_summary(flat_ratio),
                      "standard_max_over_min": plots.seed_summary(standard_ratio),
                      "backprop_std_per_layer": [[float(f"{v:.4g}") for v in seed]
                                                 for seed in backprop_std["normalized"]]},
         "holds": all(ratio <= FLAT_RATIO for ratio in flat_ratio)},
    ]


def _records(run):
    path = run["dir"] / "activations.jsonl"
    return diagnostics.read_records(path) if path.exists() else []


def training_claims(groups, dataset):
    """Claims about training (Fig. 2, Table 1) on `dataset`."""
    claims = []
    sigmoid = groups.get(glorot_config.run_name(dataset, "sigmoid", "standard"), [])
    if sigmoid:
        lowest, first_step, lower_means = [], [], []
        for run in sigmoid:
            records = _records(run)
            top = [r["layers"][glorot_config.DEPTH - 1]["mean"] for r in records]
            lowest.append(min(top) if top else None)
            saturated = [r for r in records if r["layers"][glorot_config.DEPTH - 1]["mean"] <= SATURATED_MEAN]
            first_step.append(saturated[0]["step"] if saturated else None)
            lower_means.append([round(row["mean"], 3) for row in saturated[0]["layers"][:glorot_config.DEPTH - 1]]
                               if saturated else None)
        claims.append({
            "id": "fig2_sigmoid_top_layer_saturates",
            "criterion": f"sigmoid, standard init, {dataset}: the top hidden layer's mean activation "
                         f"(300 test examples) falls to <= {SATURATED_MEAN:g} at some record within the "
                         "budget, every seed",
            "measured": {"lowest_top_layer_mean": lowest, "first_step_saturated": first_step,
                         "lower_layers_mean_then": lower_means},
            "holds": all(v is not None and v <= SATURATED_MEAN for v in lowest)})
    errors = {key: plots.final_test_errors(groups.get(glorot_config.run_name(dataset, *key), []))
              for key in PAPER_TABLE1}
    tanh, tanh_n = errors["tanh", "standard"], errors["tanh", "normalized"]
    if tanh and tanh_n:
        complete = None not in tanh and None not in tanh_n
        claims.append({
            "id": "table1_tanh_n_beats_tanh",
            "criterion": f"{dataset}: Tanh N's final test error is lower than Tanh's in the mean, and "
                         "every seed of Tanh N is below every seed of Tanh (no overlap)",
            "measured": {"tanh_n": plots.seed_summary(tanh_n), "tanh": plots.seed_summary(tanh)},
            "holds": complete and np.mean(tanh_n) < np.mean(tanh) and max(tanh_n) < min(tanh)})
    if all(errors.values()):
        means = {PAPER_ROW_NAMES[key]: float(np.mean([1.0 if e is None else e for e in values]))
                 for key, values in errors.items()}
        claims.append({
            "id": "table1_sigmoid_worst",
            "criterion": f"{dataset}: Sigmoid has the highest mean final test error of the five "
                         "Table 1 rows (strictly; a diverged run counts as 100%)",
            "measured": {"mean_final_test_error": means},
            "holds": all(means["Sigmoid"] > m for name, m in means.items() if name != "Sigmoid")})
    return claims


def build_report(workdir, profile, runs, names):
    groups = plots.group_runs(runs)
    # In the configs' order (Shapeset-3x2 first), keeping the datasets that have runs.
    with_runs = {names[run["config"]["name"]][0] for run in runs}
    datasets = [d for d in dict.fromkeys(d for d, _, _ in names.values()) if d in with_runs]
    first = next(run["config"] for run in runs if run["config"]["dataset"] == datasets[0])
    seeds = sorted({run["config"]["seed"] for run in runs})
    claims = init_claims(load_init_measurements(workdir, profile, datasets[0], seeds))
    claims += training_claims(groups, datasets[0])
    for claim in claims:
        claim["holds"] = bool(claim["holds"])  # numpy bools are not JSON
    rates = {f"{a}_{i}": run["config"]["learning_rate"] for name, (d, a, i) in names.items()
             for run in groups.get(name, [])[:1] if d == datasets[0]}
    return {
        "paper": "glorot2010",
        "profile": profile,
        "seeds": seeds,
        "dataset": datasets[0],
        "datasets": datasets,
        "budget": {"steps": first["steps"], "paper_steps": 5_000_000, "batch_size": first["batch_size"],
                   "optimizer": "sgd", "learning_rate": rates, "depth": first["model_kwargs"]["depth"],
                   "width": first["model_kwargs"]["width"], "paper_width": 1000},
        "claims": claims,
        "table1": table1_rows(groups, names, datasets),
    }


# ----------------------------------------------------------------------------- table 1


def table1_rows(groups, names, datasets):
    """Per (activation, init): final test error over seeds per dataset, with the paper's."""
    combos = list(dict.fromkeys((a, i) for _, a, i in names.values()))
    ordered = [k for k in PAPER_TABLE1 if k in combos] + [k for k in combos if k not in PAPER_TABLE1]
    rows = []
    for activation, init in ordered:
        row = {"activation": activation, "init": init,
               "paper_name": PAPER_ROW_NAMES.get((activation, init)), "datasets": {}}
        for dataset in datasets:
            group = groups.get(glorot_config.run_name(dataset, activation, init), [])
            row["datasets"][dataset] = {
                "final_test_error": plots.seed_summary(plots.final_test_errors(group)),
                "diverged": sum(r["final"]["status"] == "diverged" for r in group),
                "paper_percent": PAPER_TABLE1.get((activation, init), {}).get(dataset)}
        rows.append(row)
    return rows


def _mean_std(summary):
    if summary["mean"] is None:
        return "-"
    std = f" +- {100 * summary['std']:.2f}" if summary["std"] is not None else ""
    return f"{100 * summary['mean']:.2f}{std}"


def table1_markdown(report):
    budget = report["budget"]
    datasets = report["datasets"]
    lines = ["# Table 1: test error (%), 5 hidden layers", "",
             f"Ours: mean +- std over seeds {report['seeds']} after {budget['steps']:,} updates of batch "
             f"{budget['batch_size']} (the paper: {budget['paper_steps']:,}, "
             f"{budget['paper_steps'] / budget['steps']:.0f}x more), width {budget['width']} (the paper: "
             f"{budget['paper_width']}), plain SGD, one learning rate per combination (`report.json`, "
             "budget.learning_rate). The paper's numbers need millions of updates: compare the "
             "ordering and the gaps, "
             "not the values.", "",
             "| row | activation | init | " + " | ".join(f"ours {d} | paper {d}" for d in datasets) + " |",
             "|---|---|---|" + "---|---|" * len(datasets)]
    for row in report["table1"]:
        cells = []
        for dataset in datasets:
            cell = row["datasets"][dataset]
            diverged = f" ({cell['diverged']} diverged)" if cell["diverged"] else ""
            paper = cell["paper_percent"]
            cells += [_mean_std(cell["final_test_error"]) + diverged, "-" if paper is None else f"{paper:g}"]
        lines.append(f"| {row['paper_name'] or '(extra)'} | {row['activation']} | {row['init']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report_markdown(report):
    budget = report["budget"]
    lines = [f"# Glorot & Bengio 2010: claims ({report['profile']} profile)", "",
             f"Dataset {report['dataset']}, seeds {report['seeds']}, {budget['steps']:,} updates of batch "
             f"{budget['batch_size']} (paper: {budget['paper_steps']:,}), plain SGD, width {budget['width']} x "
             f"{budget['depth']} hidden layers; learning rates {budget['learning_rate']}. At-initialization "
             "claims use width 1000 unless the profile says otherwise (see the criterion).",
             "", "| claim | criterion | measured | holds |", "|---|---|---|---|"]
    for claim in report["claims"]:
        measured = json.dumps(claim["measured"], default=str).replace("|", "/")
        lines.append(f"| `{claim['id']}` | {claim['criterion']} | {measured} | "
                     f"{'yes' if claim['holds'] else '**no**'} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- figures


def _first_seed(group):
    return min(group, key=lambda run: run["config"]["seed"]) if group else None


def draw_training_figures(workdir, groups, dataset):
    """Figs. 2-4 from the first seed's `activations.jsonl` of the relevant runs."""
    workdir = pathlib.Path(workdir)
    hidden = [f"hidden{i + 1}" for i in range(glorot_config.DEPTH)]
    sigmoid = _first_seed(groups.get(glorot_config.run_name(dataset, "sigmoid", "standard")))
    if sigmoid and _records(sigmoid):
        config = sigmoid["config"]
        plot_training_statistics(
            {f"sigmoid, standard init, seed {config['seed']}": _records(sigmoid)}, ("mean", "std"),
            errorbar=True, path=workdir / "fig2_sigmoid_activations.png", layers=hidden,
            title=f"Glorot & Bengio Fig. 2: sigmoid activations, mean +- std over 300 test examples\n"
                  f"{dataset}, width {config['model_kwargs']['width']}, lr {config['learning_rate']:g}")
    saturating = {}
    for activation in ("tanh", "softsign"):
        run = _first_seed(groups.get(glorot_config.run_name(dataset, activation, "standard")))
        if run and _records(run):
            saturating[f"{activation}, standard init, seed {run['config']['seed']}"] = _records(run)
    if saturating:
        plot_training_statistics(
            saturating, ("p98", "std"), errorbar=False, path=workdir / "fig3_saturation.png", layers=hidden,
            title="Glorot & Bengio Fig. 3: 98th percentile (solid, dots) and std (dashed) of each "
                  f"layer's activations over training; {dataset}")
        final = {f"{title}, after {records[-1]['step']:,} updates": records[-1]["layers"]
                 for title, records in saturating.items()}
        plot_layer_histograms(final, path=workdir / "fig4_final_histograms.png",
                              xlabel="activation value", layers=hidden,
                              title="Glorot & Bengio Fig. 4: activation histograms at the end of "
                                    f"training; {dataset}")


def draw_init_figures(workdir, measurements):
    """Figs. 6-8 from `init/`, first seed."""
    workdir = pathlib.Path(workdir)
    if not measurements.get("standard") or not measurements.get("normalized"):
        return
    pairs = {init: measurements[init][0] for init in ("standard", "normalized")}
    config = pairs["standard"]["config"]
    where = (f"tanh, width {config['width']}, {config['examples']} test examples ({config['dataset']}), "
             f"seed {config['seed']}")
    hidden = [f"hidden{i + 1}" for i in range(config["depth"])]
    labels = {"standard": "standard init U(+-1/sqrt(n))", "normalized": "normalized init (Glorot)"}
    for key, filename, xlabel, title in (
            ("activations", "fig6_activations_at_init.png", "activation value",
             "Fig. 6: activation histograms at initialization"),
            ("backprop", "fig7_backprop_gradients_at_init.png", "d loss / d h (back-propagated gradient)",
             "Fig. 7: back-propagated gradient histograms at initialization"),
            ("weights", "fig8_weight_gradients_at_init.png", "d loss / d W (weight gradient)",
             "Fig. 8: weight-gradient histograms at initialization")):
        panels = {}
        for init, measurement in pairs.items():
            stds = ", ".join(f"{r['std']:.2g}" for r in _hidden(measurement[key]))
            panels[f"{labels[init]}\nstd per layer: {stds}"] = measurement[key]
        plot_layer_histograms(panels, path=workdir / filename, xlabel=xlabel, layers=hidden,
                              log_y=key != "activations", title=f"Glorot & Bengio {title}; {where}")


def redraw(workdir, profile, configs, runs):
    """Figures, table1.md, report.json and report.md from the logs."""
    workdir = pathlib.Path(workdir)
    names = {config.name: _combination(config.to_dict()) for config in configs}
    groups = plots.group_runs(runs)
    datasets = [d for d in dict.fromkeys(d for d, _, _ in names.values())
                if any(run["config"]["dataset"] == d for run in runs)]
    for index, dataset in enumerate(datasets):
        selected = [name for name, (d, _, _) in names.items() if d == dataset]
        first = next(run["config"] for run in runs if run["config"]["dataset"] == dataset)
        filename = "fig11_test_error.png" if index == 0 else f"fig12_test_error_{dataset}.png"
        plots.plot_error_curves(
            [run for run in runs if run["config"]["name"] in selected], workdir / filename,
            f"Glorot & Bengio Fig. {11 if index == 0 else 12}: {dataset}, {glorot_config.DEPTH} hidden layers "
            f"of {first['model_kwargs']['width']}, SGD batch {first['batch_size']}", selected)
    draw_training_figures(workdir, groups, datasets[0])
    seeds = sorted({run["config"]["seed"] for run in runs})
    draw_init_figures(workdir, load_init_measurements(workdir, profile, datasets[0], seeds))
    report = build_report(workdir, profile, runs, names)
    write_json_atomic(workdir / "report.json", report)
    (workdir / "table1.md").write_text(table1_markdown(report))
    text = report_markdown(report)
    (workdir / "report.md").write_text(text)
    return table1_markdown(report) + "\n" + text


def main(argv=None):
    cli.run_driver(argv, __doc__, glorot_config, "workdirs/glorot2010", redraw,
                   callbacks_for=recorder_callbacks, prepare=prepare, search_report=lr_search_markdown)


if __name__ == "__main__":
    main()
