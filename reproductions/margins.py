"""How far each claim's verdict sits from its threshold, and whether a redraw could flip it.

A claim compares one statistic of per-seed (or per-draw) measurements with a threshold
fixed before the runs. `margin` computes that statistic, its signed margin (positive on
the side where the claim holds, in the statistic's units and relative to the threshold)
and its spread over redraws, by recomputing the same statistic on resampled seeds:

* fewer than `BOOTSTRAP_FROM` seeds or draws: leave one out (each seed dropped in turn);
* `BOOTSTRAP_FROM` or more: a bootstrap (`BOOTSTRAP_RESAMPLES` resamples with
  replacement, a fixed generator seed, so a report redraws identically), the interval
  from its 5th to 95th percentile.

A verdict is **fragile** when

1. some leave-one-out resample, or more than 5% of the bootstrap resamples, give the other
   verdict (the interval crosses the threshold), or
2. it holds for every seed but the deciding seed lies within one seed-to-seed standard
   deviation (of the per-seed values the claim compares, `per_seed`) of the threshold:
   leaving seeds out cannot make an every-seed claim fail, one more seed could.

`samples` is what the statistic is computed from: a dict (nested as deep as needed) whose
leaves are lists indexed by seed or draw (the same length everywhere: resampling picks the
same seeds from every leaf). Values that are not per seed go in the statistic's closure.
A statistic may return NaN where it is undefined (e.g. a diverged seed in a claim that
needs a number); the claim then does not hold and has no margin.

A compound claim (all of several conditions) gives one `margin` per condition to
`combine`: it holds when all hold; its deciding condition is the one nearest its threshold
(relative margin; the most clearly failing one when it fails); it is fragile when a holding
claim has a fragile condition, or when every failing condition of a failing claim is fragile.
"""

import math

import numpy as np

BOOTSTRAP_FROM = 10
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
INTERVAL_PERCENTILES = (5.0, 95.0)
DIRECTIONS = (">=", ">", "<=", "<")


def _leaves(samples):
    if isinstance(samples, dict):
        return [leaf for value in samples.values() for leaf in _leaves(value)]
    return [samples]


def seed_count(samples):
    """The common length of `samples`' leaves; None when they differ (groups with
    different seeds cannot be redrawn together: the margin then has no interval)."""
    lengths = {len(leaf) for leaf in _leaves(samples)}
    return lengths.pop() if len(lengths) == 1 else None


def take(samples, indices):
    """`samples` with every leaf reduced to `indices` (in that order, repeats allowed)."""
    if isinstance(samples, dict):
        return {key: take(value, indices) for key, value in samples.items()}
    return [samples[i] for i in indices]


def _number(value):
    return math.nan if value is None else float(value)


def _holds(value, threshold, direction):
    if math.isnan(value):
        return False
    return {">=": value >= threshold, ">": value > threshold, "<=": value <= threshold,
            "<": value < threshold}[direction]


def _signed(value, threshold, direction):
    """Margin in the statistic's units, positive on the holding side."""
    if math.isnan(value):
        return math.nan
    if math.isinf(value) and math.isinf(threshold):
        return 0.0
    return value - threshold if direction.startswith(">") else threshold - value


def _finite(value):
    return None if value is None or not math.isfinite(value) else float(value)


def _json_value(value):
    """A statistic's value for JSON: NaN (undefined) as None, infinity as a string."""
    if value is None or math.isnan(value):
        return None
    return f"{value}" if math.isinf(value) else float(value)


def resamples(n):
    """(method, list of index lists) for `n` seeds: leave-one-out below BOOTSTRAP_FROM, else the bootstrap."""
    if n < 2:
        return None, []
    if n < BOOTSTRAP_FROM:
        return "leave-one-out", [[i for i in range(n) if i != left] for left in range(n)]
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    return (f"bootstrap {INTERVAL_PERCENTILES[1] - INTERVAL_PERCENTILES[0]:g}%",
            [list(row) for row in rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))])


def margin(statistic, samples, threshold, direction, name, per_seed=None, over="seeds"):
    """The margin record of one condition `statistic(samples) <direction> threshold`.

    Args:
        statistic: function of `samples` (or of a resample of it) returning a float
            (NaN: undefined; infinity allowed).
        samples: dict of per-seed lists (see the module docstring).
        threshold: the claim's threshold (a float, fixed before the runs).
        direction: one of ">=", ">", "<=", "<": where the claim holds.
        name: what the statistic is, in words (with its units).
        per_seed: for an every-seed claim, the per-seed values the threshold is compared
            with (diverged: None); their min-max and std are reported, and the std decides
            rule 2 of fragility.
        over: what the seeds are ("seeds" or "draws").

    Returns:
        A JSON-able dict: statistic, value, threshold, direction, holds, margin, relative,
        n, over, per_seed range and std, resampling method, interval, flips, resamples,
        fragile and why.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"`direction` must be one of {DIRECTIONS}. Received: direction={direction!r}")
    n = seed_count(samples)
    value = _number(statistic(samples))
    holds = _holds(value, threshold, direction)
    signed = _signed(value, threshold, direction)
    method, index_sets = resamples(n or 0)
    values = [_number(statistic(take(samples, indices))) for indices in index_sets]
    verdicts = [_holds(v, threshold, direction) for v in values]
    flips = sum(v != holds for v in verdicts)
    defined = [v for v in values if not math.isnan(v)]
    if not defined:
        interval = None
    elif method == "leave-one-out":
        interval = [min(defined), max(defined)]
    else:
        interval = [float(np.percentile(defined, p)) for p in INTERVAL_PERCENTILES]
    fragile, why = False, None
    if method == "leave-one-out" and flips:
        fragile, why = True, f"{flips} of {len(values)} leave-one-out resamples flip the verdict"
    elif method and flips > len(values) * INTERVAL_PERCENTILES[0] / 100:
        fragile, why = True, f"{flips} of {len(values)} bootstrap resamples flip the verdict"
    numbers = [float(v) for v in (per_seed or []) if v is not None and math.isfinite(float(v))]
    std = float(np.std(numbers, ddof=1)) if len(numbers) > 1 else None
    if not fragile and holds and std is not None and math.isfinite(signed) and signed < std:
        fragile, why = True, (f"the deciding seed is {signed:.3g} from the threshold, within one seed-to-seed "
                              f"std ({std:.3g})")
    return {
        "statistic": name, "value": _json_value(value), "threshold": _json_value(float(threshold)),
        "direction": direction, "holds": holds,
        "margin": _json_value(signed) if not math.isnan(signed) else None,
        "relative": (_finite(signed / abs(threshold)) if threshold and math.isfinite(threshold)
                     and not math.isnan(signed) else None),
        "n": n, "over": over,
        "per_seed": None if per_seed is None else [_json_value(_number(v)) for v in per_seed],
        "range": [min(numbers), max(numbers)] if numbers else None, "std": std,
        "method": method, "interval": [_json_value(v) for v in interval] if interval else None,
        "flips": flips, "resamples": len(values), "fragile": fragile, "why_fragile": why,
    }


def _closeness(record):
    """Sort key: how near a condition is to its threshold (relative where defined)."""
    if record["margin"] is None:
        return -math.inf
    value = record["relative"] if record["relative"] is not None else record["margin"]
    return float(value) if not isinstance(value, str) else math.inf


def combine(records):
    """A compound claim's margin (all of `records` must hold): the deciding condition's
    fields, plus `conditions` (every record) and the combined `holds` and `fragile`."""
    if not records:
        raise ValueError("`combine` needs at least one condition. Received: records=[]")
    if len(records) == 1:
        return records[0]
    holds = all(r["holds"] for r in records)
    failing = [r for r in records if not r["holds"]]
    deciding = (min(records, key=_closeness) if holds else min(failing, key=_closeness))
    fragile = any(r["fragile"] for r in records) if holds else all(r["fragile"] for r in failing)
    why = "; ".join(f"{r['statistic']}: {r['why_fragile']}" for r in (records if holds else failing)
                    if r["fragile"]) or None
    return {**deciding, "holds": holds, "fragile": fragile, "why_fragile": why if fragile else None,
            "conditions": records}


def verdict_text(record, holds):
    """'yes', 'yes, fragile', '**no**' or '**no**, fragile' (markdown)."""
    text = "yes" if holds else "**no**"
    return text + (", fragile" if record and record.get("fragile") else "")


def _short(value):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.4g}"


def margin_cells(record):
    """Markdown cells (statistic vs threshold, margin, spread) of one margin record."""
    if record is None:
        return ("-", "-", "-")
    statistic = f"{record['statistic']}: {_short(record['value'])} {record['direction']} {_short(record['threshold'])}"
    margin_text = _short(record["margin"])
    if record["relative"] is not None:
        margin_text += f" ({100 * record['relative']:+.1f}%)"
    spread = []
    if record["range"] is not None and record["n"] > 1:
        spread.append(f"{record['over']} {_short(record['range'][0])}-{_short(record['range'][1])}")
    if record["interval"] is not None:
        spread.append(f"{record['method']} {_short(record['interval'][0])}-{_short(record['interval'][1])}"
                      f" ({record['flips']}/{record['resamples']} flip)")
    elif record["n"] is None:
        spread.append("groups of different seeds: no redraw")
    elif record["n"] < 2:
        spread.append(f"one {record['over'][:-1] if record['over'].endswith('s') else record['over']}: no spread")
    return statistic, margin_text, "; ".join(spread) or "-"


def _counted(values, diverged):
    return [diverged if v is None else v for v in values]


def every_seed(values, threshold, direction, name, diverged=None, over="seeds"):
    """The margin of "every seed's value <direction> threshold": the statistic is the
    deciding seed's value (the highest for "<=" / "<", the lowest for ">=" / ">").

    Args:
        values: per-seed values (None: a diverged run).
        diverged: the value a diverged run counts as (e.g. the chance error, where the
            criterion says so or where it gives the criterion's verdict); None: a diverged
            seed makes the claim fail without a margin.
    """
    counted = _counted(values, diverged)
    highest = direction.startswith("<")

    def deciding(samples):
        seeds = samples["per_seed"]
        if not seeds or any(v is None for v in seeds):
            return math.nan
        return max(seeds) if highest else min(seeds)

    return margin(deciding, {"per_seed": counted}, threshold, direction, name, per_seed=counted, over=over)


def mean_of(values, diverged=None):
    """Mean of per-seed values, a diverged run (None) counting as `diverged` (None: NaN)."""
    counted = _counted(values, diverged)
    if not counted or any(v is None for v in counted):
        return math.nan
    return float(np.mean(counted))


def single(value, threshold, direction, name, over="measurements"):
    """The margin of a claim decided on one measurement (no seeds to redraw: no interval)."""
    return margin(lambda samples: _number(samples["value"][0]), {"value": [value]}, threshold, direction, name,
                  over=over)
