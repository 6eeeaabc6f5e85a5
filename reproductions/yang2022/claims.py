"""μP learning-rate transfer: the loss table, best rates, the claims (criteria in
`reproductions/configs/yang2022.py`, fixed before the runs) and the report."""

import math

from initializers.diagnostics.coordinates import growth, largest_factor
from reproductions import margins
from reproductions import report as reporting
from reproductions.configs import yang2022 as config
from reproductions.runs import fact, seed_summary, select


def final_train_loss(run):
    """A run's training loss over its last `eval_every` updates; None if it diverged."""
    if run["final"]["status"] != "completed":
        return None
    return run["final"]["final"]["train_loss"]


def sweeps_of(runs):
    """{"sgd" or "adam": that optimizer's runs}, in the order the configs name them."""
    found = {}
    for run in runs:
        found.setdefault(config.OPTIMIZER_NAMES[fact(run, "optimizer")], []).append(run)
    return found


def _loss_cell(losses):
    """A loss-table cell: the seed summary of the final losses, with how many diverged."""
    return {**seed_summary(losses), "diverged": sum(v is None for v in losses)}


def loss_table(runs):
    """{parametrization: {width: {log2_lr: seed summary of the final training loss, with
    "diverged": how many seeds diverged}}} (JSON keys are strings) of one sweep's runs."""
    table = {}
    for key, _ in config.PARAMETRIZATIONS:
        group = select(runs, parametrization=key)
        for width in sorted({fact(r, "width") for r in group}):
            for log2_lr in sorted({fact(r, "log2_lr") for r in select(group, width=width)}):
                cell = select(group, width=width, log2_lr=log2_lr)
                table.setdefault(key, {}).setdefault(str(width), {})[str(log2_lr)] = _loss_cell(
                    [final_train_loss(r) for r in cell])
    return table


def best_log2_rates(table):
    """{parametrization: {width: the log2 rate of the lowest mean loss}}, among the rates
    at which no seed diverged (None: every rate diverged somewhere); a tie goes to the
    smaller rate."""
    best = {}
    for key, widths in table.items():
        for width, cells in widths.items():
            usable = {int(r): c["mean"] for r, c in cells.items() if c["diverged"] == 0 and c["mean"] is not None}
            best.setdefault(key, {})[width] = min(sorted(usable), key=usable.get) if usable else None
    return best


def _shift(best_by_width):
    rates = [r for r in best_by_width.values() if r is not None]
    return max(rates) - min(rates) if len(rates) == len(best_by_width) and rates else None


def _loss_samples(table):
    """{parametrization: {width: {log2_lr: final loss per seed}}} (resampled by seed)."""
    return {key: {width: {rate: list(cell["per_seed"]) for rate, cell in cells.items()}
                  for width, cells in widths.items()} for key, widths in table.items()}


def _table_of(samples):
    """`loss_table` recomputed from (resampled) per-seed losses."""
    return {key: {width: {rate: _loss_cell(losses) for rate, losses in cells.items()}
                  for width, cells in widths.items()} for key, widths in samples.items()}


def _shift_of(samples, key):
    """The best rate's shift across widths (grid steps) of parametrization `key` (NaN: a
    width without a usable rate)."""
    shift = _shift(best_log2_rates(_table_of(samples)).get(key, {}))
    return math.nan if shift is None else float(shift)


def _worst_widening(samples):
    """The largest rise of the mean final loss from one width to the next wider one (nats),
    at μP's base-width best rate (NaN: no usable rate)."""
    table = _table_of(samples)
    mup = best_log2_rates(table).get("mup", {})
    widths = sorted(mup, key=int)
    rate = mup.get(widths[0]) if widths else None
    if rate is None:
        return math.nan
    losses = [table["mup"][w].get(str(rate), {}).get("mean") for w in widths]
    if None in losses:
        return math.nan
    return max((wider - narrower for narrower, wider in zip(losses, losses[1:])), default=-math.inf)


def transfer_claims(table, best, optimizer="sgd"):
    """The three claims of one optimizer's learning-rate sweep (see the config's docstring);
    their ids start with the optimizer's name. Margins: over seeds, the whole table redrawn
    from the resampled seeds' losses."""
    mup, sp = best.get("mup", {}), best.get("sp", {})
    mup_shift, sp_shift = _shift(mup), _shift(sp)
    widths = sorted(int(w) for w in mup)
    base = str(widths[0]) if widths else None
    base_rate = mup.get(base)
    losses = [table["mup"][str(w)].get(str(base_rate), {}).get("mean") for w in widths] if base_rate is not None else []
    tolerance = config.WIDER_IS_BETTER_TOLERANCE
    monotone = bool(losses) and None not in losses and all(
        wider <= narrower + tolerance for narrower, wider in zip(losses, losses[1:]))
    samples = _loss_samples(table)
    return [
        reporting.claim(
            f"{optimizer}_mup_best_lr_stable",
            f"{optimizer}, μP: the log2 learning rate of the lowest mean final training loss moves by at most "
            f"{config.BEST_LR_MAX_SHIFT_MUP} grid step (a factor 2) across the widths",
            {"best_log2_lr_by_width": mup, "shift_in_grid_steps": mup_shift},
            margins.margin(lambda s: _shift_of(s, "mup"), samples, config.BEST_LR_MAX_SHIFT_MUP, "<=",
                           "μP's best-rate shift across widths (grid steps)"),
            mup_shift is not None and mup_shift <= config.BEST_LR_MAX_SHIFT_MUP),
        reporting.claim(
            f"{optimizer}_sp_best_lr_shifts",
            f"{optimizer}, SP: the best log2 learning rate moves by more than {config.BEST_LR_MAX_SHIFT_MUP} grid step "
            "across the widths",
            {"best_log2_lr_by_width": sp, "shift_in_grid_steps": sp_shift},
            margins.margin(lambda s: _shift_of(s, "sp"), samples, config.BEST_LR_MAX_SHIFT_MUP, ">",
                           "SP's best-rate shift across widths (grid steps)"),
            sp_shift is not None and sp_shift > config.BEST_LR_MAX_SHIFT_MUP),
        reporting.claim(
            f"{optimizer}_mup_wider_is_better",
            f"{optimizer}, μP: at the base width's best rate, the mean final training loss does not increase with "
            f"width (each wider net at most {tolerance:g} nats above the next narrower)",
            {"base_width": int(base) if base else None, "log2_lr": base_rate,
             "loss_by_width": dict(zip(map(str, widths), losses))},
            margins.margin(_worst_widening, samples, tolerance, "<=",
                           "largest rise of the mean final loss to the next wider net (nats)"),
            monotone),
    ]


def _by_seed(coord):
    """The coordinate check's records grouped by seed, as resamplable samples."""
    seeds = coord["settings"]["seeds"]
    return {"records": [[r for r in coord["records"] if r["seed"] == seed] for seed in seeds]}


def _coord_statistic(key, extreme):
    """The flat (`largest_factor` of μP) or growth (largest SP ratio) statistic of the
    coordinate check redrawn from the resampled seeds' records."""
    def statistic(samples):
        ratios = [ratio for ratio, _ in growth([r for seed in samples["records"] for r in seed], key).values()]
        value = extreme(ratios)
        return math.nan if value is None else value
    return statistic


def coord_claims(summary, prefix="", what="the MLP", coord=None):
    """The two claims of a coordinate check from its `coord_summary` (None: not measured,
    the claims do not hold); their ids start with `prefix` ("" for the MLP, "transformer_").
    Margins over the check's seeds from its records (`coord`, the coord_check file)."""
    if summary is None:
        measured = {"coord_check": "not measured (no coordinate check file)"}
        missing = margins.single(None, 0.0, ">=", "not measured")
        return [reporting.claim(f"{prefix}mup_coord_check_flat", f"{what}: coordinate check not measured", measured,
                                missing),
                reporting.claim(f"{prefix}sp_coord_check_grows", f"{what}: coordinate check not measured", measured,
                                missing)]
    settings = summary["settings"]
    mup, sp = summary["growth"]["mup"], summary["growth"]["sp"]
    worst = largest_factor(layer["ratio"] for layer in mup.values())
    largest = max((layer["ratio"] for layer in sp.values()), default=None)
    span = (f"widths {settings['widths'][0]} to {settings['widths'][-1]}, steps 0-{settings['steps']}, "
            f"{settings['optimizer']} at lr {settings['learning_rate']:g}")
    return [
        reporting.claim(
            f"{prefix}mup_coord_check_flat",
            f"{what}, μP: for every layer and step ({span}), the mean |x| of the layer output at the widest "
            f"width is within a factor {config.COORD_FLAT_FACTOR:g} of the narrowest's (either way)",
            {"largest_factor": worst, "by_layer": mup},
            margins.margin(_coord_statistic("mup", largest_factor), _by_seed(coord), config.COORD_FLAT_FACTOR, "<=",
                           "largest widest / narrowest factor (either way)"),
            worst is not None and worst <= config.COORD_FLAT_FACTOR),
        reporting.claim(
            f"{prefix}sp_coord_check_grows",
            f"{what}, SP at the same learning rate: some layer's mean |x| at the widest width is at least "
            f"{config.COORD_GROWTH_FACTOR:g} times the narrowest's at some step ({span})",
            {"largest_ratio": largest, "by_layer": sp},
            margins.margin(_coord_statistic("sp", lambda ratios: max(ratios, default=None)), _by_seed(coord),
                           config.COORD_GROWTH_FACTOR, ">=", "largest widest / narrowest ratio"),
            largest is not None and largest >= config.COORD_GROWTH_FACTOR),
    ]


def coord_summary(coord):
    """A coordinate check's settings, seconds and per-layer growth (None: not measured)."""
    if coord is None:
        return None
    return {"settings": coord["settings"], "seconds": coord.get("seconds"),
            "growth": {key: {k: {"ratio": r, "step": s} for k, (r, s) in growth(coord["records"], key).items()}
                       for key, _ in config.PARAMETRIZATIONS}}


def build_report(runs, profile, coord, transformer_coord=None):
    """report.json's content: claims, per optimizer the loss table and best rates, the
    coordinate checks' summaries (the Transformer's where the profile has one)."""
    first = runs[0]["config"]
    mlp_check, transformer_check = coord_summary(coord), coord_summary(transformer_coord)
    sweeps = {}
    claims = []
    for optimizer, group in sweeps_of(runs).items():
        table = loss_table(group)
        best = best_log2_rates(table)
        sweeps[optimizer] = {"loss": table, "best_log2_lr": best}
        claims += transfer_claims(table, best, optimizer)
    return {
        "paper": "yang2022",
        "profile": profile,
        "seeds": sorted({run["config"]["seed"] for run in runs}),
        "dataset": first["dataset"],
        "budget": {"steps": first["steps"], "batch_size": first["batch_size"],
                   "optimizers": {"sgd": "SGD momentum 0.9", "adam": "Adam"},
                   "depth": first["model_kwargs"]["depth"], "activation": first["model_kwargs"]["activation"],
                   "initializer": first["initializer"], "base_width": config.base_width(config.PROFILES[profile]),
                   "readout": config.READOUT, "runs": len(runs),
                   "chance_loss": math.log(first["model_kwargs"]["num_classes"]),
                   "run_seconds_total": sum(r["final"]["wall_time_s"] for r in runs)},
        "claims": claims + coord_claims(mlp_check, coord=coord) + (
            coord_claims(transformer_check, "transformer_", "the Transformer", transformer_coord)
            if config.PROFILES[profile].get("transformer_coord") else []),
        "sweeps": sweeps,
        "coord_check": mlp_check,
        "coord_check_transformer": transformer_check,
    }


def redraw_report(report, workdir):
    """The report with its claims redrawn from its own loss tables and the workdir's
    coordinate checks (the run folders are not committed)."""
    from reproductions.yang2022.coord import TRANSFORMER_COORD_FILE, read_coord_check

    coord, transformer = read_coord_check(workdir), read_coord_check(workdir, TRANSFORMER_COORD_FILE)
    # The summaries again from the checks' files: in the layers' order (report.json sorts keys).
    report = {**reporting.numeric_order(report), "coord_check": coord_summary(coord),
              "coord_check_transformer": coord_summary(transformer)}
    found = []
    for optimizer, sweep in report["sweeps"].items():
        found += transfer_claims(sweep["loss"], sweep["best_log2_lr"], optimizer)
    found += coord_claims(report["coord_check"], coord=coord)
    if any(item["id"].startswith("transformer_") for item in report["claims"]):
        found += coord_claims(report["coord_check_transformer"], "transformer_", "the Transformer", transformer)
    return {**report, "claims": found}


def _loss_rows(optimizer, table, best, key):
    widths = sorted(table.get(key, {}), key=int)
    rates = sorted({int(r) for w in widths for r in table[key][w]})
    rows = []
    for width in widths:
        cells = []
        for rate in rates:
            cell = table[key][width].get(str(rate))
            if cell is None:
                cells.append("-")
            elif cell["diverged"]:
                cells.append(f"diverged {cell['diverged']}/{len(cell['per_seed'])}")
            else:
                mark = "**" if best[key][width] == rate else ""
                spread = "" if cell["std"] is None else f" ± {cell['std']:.3f}"
                cells.append(f"{mark}{cell['mean']:.3f}{mark}{spread}")
        rows.append((width, *cells))
    return [f"{optimizer}, {dict(config.PARAMETRIZATIONS)[key]}: mean ± std final training loss over seeds by "
            "width and log2 learning rate (bold: the width's best):", "",
            *reporting.markdown_table(("width", *(f"2^{r}" for r in rates)), rows)]


def _coord_lines(title, coord):
    if coord is None:
        return [f"{title}: not measured."]
    settings, growth_of = coord["settings"], coord["growth"]
    return [f"{title} ({settings['widths'][0]}-{settings['widths'][-1]} wide, {settings['optimizer']} at lr "
            f"{settings['learning_rate']:g}, seeds {settings['seeds']}, {coord['seconds']:.0f} s): widest / "
            "narrowest mean |x| per layer, at its step farthest from 1:", "",
            *reporting.markdown_table(("layer", "SP", "μP"), [
                (layer, f"{growth_of['sp'][layer]['ratio']:.3g} (step {growth_of['sp'][layer]['step']})",
                 f"{growth_of['mup'][layer]['ratio']:.3g} (step {growth_of['mup'][layer]['step']})")
                for layer in growth_of["mup"]])]


def report_markdown(report):
    budget = report["budget"]
    setting = (f"Dataset {report['dataset']}, seeds {report['seeds']}: MLP with {budget['depth']} hidden "
               f"{budget['activation']} layers, {budget['initializer']} draws, "
               f"{' and '.join(budget['optimizers'][o] for o in report['sweeps'])}, batch "
               f"{budget['batch_size']}, {budget['steps']} updates; μP base width {budget['base_width']}, readout "
               f"{budget['readout']}. {budget['runs']} runs, {budget['run_seconds_total'] / 60:.1f} min of run "
               "time in total (summed over runs; wall time with parallel workers is less).")
    coord_lines = _coord_lines("Coordinate check, MLP", report["coord_check"])
    if report.get("coord_check_transformer") is not None:
        coord_lines += [""] + _coord_lines("Coordinate check, Transformer (random tokens, one batch)",
                                           report["coord_check_transformer"])
    return reporting.report_markdown(
        f"μP learning-rate transfer (Yang et al. 2022): claims ({report['profile']} profile)", setting,
        report["claims"], [_loss_rows(optimizer, sweep["loss"], sweep["best_log2_lr"], key)
                           for optimizer, sweep in report["sweeps"].items()
                           for key, _ in config.PARAMETRIZATIONS if key in sweep["loss"]] + [coord_lines])
