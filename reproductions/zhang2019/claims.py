"""Zhang et al. 2019 (Fixup): the depth table, the signal at initialization, the claims
(criteria in `reproductions/configs/zhang2019.py`, fixed before the runs) and the report.

Every claim's margin (`reproductions.margins`): over seeds for the trained nets (a diverged
seed counts as chance), over draws for the signal at initialization.
"""

import math

import numpy as np

from reproductions import margins
from reproductions import report as reporting
from reproductions.configs import zhang2019 as config
from reproductions.runs import chance_error, fact, final_error, seed_summary, select
from reproductions.zhang2019.signal import signal_table


def depth_table(runs):
    """{row: {"label", "depths": {depth: {"final_test_error": seed_summary, "diverged": n}}}}
    in the config's row order."""
    table = {}
    for key, label in config.ROWS:
        group = select(runs, row=key)
        if not group:
            continue
        depths = {}
        for depth in sorted({fact(r, "depth") for r in group}):
            cell = sorted(select(group, depth=depth), key=lambda r: r["config"]["seed"])
            depths[str(depth)] = {"final_test_error": seed_summary([final_error(r) for r in cell]),
                                  "diverged": sum(r["final"]["status"] == "diverged" for r in cell)}
        table[key] = {"label": label, "depths": depths}
    return table


def _seeds(table, key, depth):
    cell = ((table.get(key) or {}).get("depths") or {}).get(str(depth)) or {}
    return (cell.get("final_test_error") or {}).get("per_seed") or []


def depth_claims(table, chance):
    """The claims on the deepest depth of the runs (a diverged seed counts as chance)."""
    depths = sorted({int(d) for row in table.values() for d in row["depths"]})
    if not depths:
        return []
    deepest = depths[-1]
    well = chance - config.WELL_ABOVE_CHANCE
    near = chance - config.NOT_TRAINED_WITHIN
    claims = []
    for key in config.TRAINING_ROWS:
        seeds = _seeds(table, key, deepest)
        claims.append(reporting.claim(
            f"{key}_trains_deepest_net",
            f"{deepest:,} layers without normalization: every seed of {dict(config.ROWS)[key]} ends with test "
            f"error <= chance - {config.WELL_ABOVE_CHANCE:g} ({well:.2f}); a diverged seed fails",
            {"depth": deepest, "final_test_error": seeds},
            margins.every_seed(seeds, well, "<=", "highest seed's final test error (diverged = chance)",
                               diverged=chance)))
    failing = {key: _seeds(table, key, deepest) for key in config.FAILING_ROWS}
    claims.append(reporting.claim(
        "plain_inits_fail_deepest_net",
        f"{deepest:,} layers without normalization: every seed of He, keras.HeNormal and keras.GlorotUniform "
        f"diverges or ends with test error > chance - {config.NOT_TRAINED_WITHIN:g} ({near:.2f})",
        {"depth": deepest, **{key: seeds for key, seeds in failing.items()},
         "all_diverged": all(e is None for seeds in failing.values() for e in seeds)},
        margins.combine([margins.every_seed(seeds, near, ">", f"{key}: lowest seed's final test error "
                                                              "(diverged = chance)", diverged=chance)
                         for key, seeds in failing.items()])))
    pair = {"fixup": _seeds(table, "fixup", deepest), "batchnorm": _seeds(table, "batchnorm", deepest)}
    fixup, batchnorm = (margins.mean_of(pair[key], diverged=chance) for key in ("fixup", "batchnorm"))

    def excess(samples):  # Fixup's mean over BatchNorm's
        return margins.mean_of(samples["fixup"], diverged=chance) - margins.mean_of(samples["batchnorm"],
                                                                                   diverged=chance)

    claims.append(reporting.claim(
        "fixup_no_worse_than_batchnorm",
        f"{deepest:,} layers, the same learning rate: Fixup's mean final test error is at most BatchNorm's "
        f"+ {config.NO_WORSE_THAN_BATCHNORM:g} (a diverged seed counts as chance)",
        {"depth": deepest, "fixup_mean": fixup, "batchnorm_mean": batchnorm},
        margins.margin(excess, pair, config.NO_WORSE_THAN_BATCHNORM, "<=",
                       "Fixup's minus BatchNorm's mean final test error")))
    return claims


def _median(values):
    """Median over draws, an overflow (None) counting as infinite."""
    return float(np.median([math.inf if v is None else v for v in values])) if values else None


def _rise(a, b):
    """log10(b / a), a rise from one overflow to another counting as infinite (growing)."""
    if math.isinf(b):
        return math.inf
    return -math.inf if math.isinf(a) else math.log10(b / a)


def signal_claims(signal):
    """The two claims on the signal at initialization (none when signal.json is missing),
    their margins over draws."""
    if signal is None:
        return []
    gains = signal_table(signal, "stack_gain")
    depths = [str(d) for d in signal["settings"]["depths"]]
    he = {d: _median(gains["he"][d]) for d in depths}
    fixup = {d: _median(gains["fixup"][d]) for d in depths}
    by_hundred = [d for d in depths if int(d) >= 100]
    at = by_hundred[0] if by_hundred else depths[-1]
    low, high = config.FIXUP_GAIN_BAND
    shown = {d: ("overflow" if math.isinf(v) else v) for d, v in he.items()}
    samples = {key: {d: gains[key][d] for d in depths} for key in ("he", "fixup")}

    def smallest_rise(samples):
        medians = [_median(samples["he"][d]) for d in depths]
        return min((_rise(a, b) for a, b in zip(medians, medians[1:])), default=math.inf)

    return [
        reporting.claim(
            "he_stream_explodes_at_init",
            f"At initialization He's stack gain (RMS of the residual stack's output over its input, median over "
            f"draws) grows with every depth measured and exceeds {config.STREAM_EXPLODED:g} by {at} layers "
            "(float32 overflow counts as infinite)",
            {"stack_gain": shown, "at_depth": at},
            margins.combine([
                margins.margin(smallest_rise, samples, 0.0, ">", "smallest rise of He's median gain from one depth "
                                                                  "to the next (log10)", over="draws"),
                margins.margin(lambda s: _median(s["he"][at]), samples, config.STREAM_EXPLODED, ">",
                               f"He's median stack gain at {at} layers", over="draws")])),
        reporting.claim(
            "fixup_stream_bounded_at_init",
            f"At initialization Fixup's stack gain (median over draws) stays within [{low:g}, {high:g}] at every "
            "depth measured",
            {"stack_gain": fixup, "band": [low, high]},
            margins.combine([
                margins.margin(lambda s: min(_median(s["fixup"][d]) for d in depths), samples, low, ">=",
                               "Fixup's lowest median stack gain over depths", over="draws"),
                margins.margin(lambda s: max(_median(s["fixup"][d]) for d in depths), samples, high, "<=",
                               "Fixup's highest median stack gain over depths", over="draws")])),
    ]


def signal_section(signal):
    """The report's summary of signal.json (None when it was not measured)."""
    return None if signal is None else {
        "settings": signal["settings"], "seconds": signal["seconds"],
        **{quantity: signal_table(signal, quantity) for quantity in ("stack_gain", "gradient_norm")}}


def claims(table, chance, signal):
    """Every claim, from the depth table and signal.json."""
    return depth_claims(table, chance) + signal_claims(signal)


def redraw_report(report, workdir):
    """The report with its claims and signal section redrawn from its depth table and the
    workdir's signal.json (the run folders are not committed)."""
    from reproductions.zhang2019.signal import read_signal

    signal = read_signal(workdir)
    report = reporting.numeric_order(report)
    report["depths"] = reporting.in_order(report["depths"], [key for key, _ in config.ROWS])
    return {**report, "signal": signal_section(signal),
            "claims": claims(report["depths"], report["budget"]["chance_error"], signal)}


def build_report(runs, profile, signal):
    """report.json's content: claims, the depth table, the signal at initialization."""
    first = runs[0]["config"]
    table = depth_table(runs)
    chance = chance_error(runs[0])
    kwargs = first["model_kwargs"]
    return {
        "paper": "zhang2019",
        "profile": profile,
        "seeds": sorted({run["config"]["seed"] for run in runs}),
        "dataset": first["dataset"],
        "budget": {"steps": first["steps"], "learning_rate": first["learning_rate"],
                   "batch_size": first["batch_size"], "channels": kwargs["channels"],
                   "downsampling": kwargs["downsampling"], "readout": kwargs["readout"], "chance_error": chance},
        "claims": claims(table, chance, signal),
        "depths": table,
        "signal": signal_section(signal),
    }


def _cell(summary, diverged):
    if summary.get("mean") is None:
        return "diverged"
    text = f"{reporting.percent(summary['mean'])} +- {reporting.percent(summary['std'] or 0.0)}"
    return text + (f" ({diverged} diverged)" if diverged else "")


def _median_text(values):
    value = _median(values)
    return "overflow" if value is None or math.isinf(value) else f"{value:.3g}"


def report_markdown(report):
    budget = report["budget"]
    setting = (f"Dataset {report['dataset']}, seeds {report['seeds']}; residual CNN of basic blocks, "
               f"{budget['channels']} channels, {budget['downsampling']} stride-2 convolutions, readout "
               f"{budget['readout']}; {budget['steps']} updates of SGD momentum 0.9 at lr {budget['learning_rate']:g} "
               f"(every row), batch {budget['batch_size']}; chance error {reporting.percent(budget['chance_error'])}%.")
    depths = sorted({int(d) for row in report["depths"].values() for d in row["depths"]})
    rows = [(row["label"], *(_cell(row["depths"][str(d)]["final_test_error"], row["depths"][str(d)]["diverged"])
                             if str(d) in row["depths"] else "-" for d in depths))
            for row in report["depths"].values()]
    sections = [["Final test error (%), mean +- std over seeds (diverged seeds left out of the mean), by depth "
                 "(weight layers):", "",
                 *reporting.markdown_table(("row", *(f"{d:,} layers" for d in depths)), rows)]]
    if report["signal"]:
        signal = report["signal"]
        signal_depths = [str(d) for d in signal["settings"]["depths"]]
        for quantity, title in (("stack_gain", "Stack gain at initialization (RMS out / RMS in of the residual "
                                               "stack), median over draws:"),
                                ("gradient_norm", "Gradient norm at initialization (all weights), median over "
                                                  "draws:")):
            values = signal[quantity]
            sections.append([title, "", *reporting.markdown_table(
                ("row", *(f"{int(d):,} layers" for d in signal_depths)),
                [(dict(config.ROWS)[key], *(_median_text(values[key][d]) for d in signal_depths))
                 for key in values])])
    return reporting.report_markdown(f"Zhang et al. 2019 (Fixup): claims ({report['profile']} profile)", setting,
                                     report["claims"], sections)
