"""The claims report every reproduction writes: one schema, one way to render it.

`report.json` is a dict with at least

    {"paper": str, "profile": str, "dataset": str, "seeds": [int, ...],
     "claims": [{"id": str, "criterion": str, "measured": dict, "holds": bool,
                 "fragile": bool, "margin": dict}, ...]}

plus whatever else the paper's report needs (budgets, tables). Each claim's
criterion is fixed in the driver before the runs; a claim that does not hold is
reported as not holding. Its `margin` (`reproductions.margins`) says by how much it holds
or fails and whether a redraw of its seeds could flip it (`fragile`). `write_report`
checks the schema before writing, and the tests check every driver's report with the same
`check_report`.
"""

import json
import pathlib

import numpy as np

from initializers.jsonio import write_json_atomic
from reproductions import margins

CLAIM_FIELDS = ("id", "criterion", "measured", "holds", "fragile", "margin")
MARGIN_FIELDS = ("statistic", "value", "threshold", "direction", "holds", "margin", "relative", "n", "over",
                 "method", "interval", "flips", "resamples", "fragile")
LR_SEARCH_TITLE = "# Learning-rate search (validation set)"


def claim(claim_id, criterion, measured, margin, holds=None):
    """One claim record: its verdict and fragility are its `margin`'s
    (`reproductions.margins.margin` or `combine`). `holds`, where given, is the criterion
    evaluated directly: it must agree with the margin's verdict (a guard against a
    statistic that does not say what the criterion says)."""
    if holds is not None and bool(holds) != margin["holds"]:
        raise ValueError(f"Claim {claim_id!r}: the criterion says holds={bool(holds)}, its margin's statistic "
                         f"says {margin['holds']}. Received: margin={margin!r:.300}")
    return {"id": claim_id, "criterion": criterion, "measured": measured, "holds": bool(margin["holds"]),
            "fragile": bool(margin["fragile"]), "margin": margin}


def check_report(report, paper=None, claim_ids=None):
    """Raises ValueError unless `report` follows the schema (see the module docstring).

    Args:
        report: the report dict.
        paper: expected `report["paper"]` (None: any string).
        claim_ids: expected set of claim ids (None: any).
    """
    problems = []
    for key, kind in (("paper", str), ("profile", str), ("dataset", str), ("seeds", list),
                      ("claims", list)):
        if not isinstance(report.get(key), kind):
            problems.append(f"`{key}` must be a {kind.__name__}")
    if isinstance(report.get("seeds"), list) and not all(
            isinstance(s, int) and not isinstance(s, bool) for s in report["seeds"]):
        problems.append("`seeds` must hold ints")
    if paper is not None and report.get("paper") != paper:
        problems.append(f"`paper` must be {paper!r}")
    for item in report.get("claims") or []:
        if not isinstance(item, dict) or tuple(sorted(item)) != tuple(sorted(CLAIM_FIELDS)):
            problems.append(f"a claim must have exactly the fields {CLAIM_FIELDS}: {item!r:.200}")
            continue
        if not (isinstance(item["id"], str) and isinstance(item["criterion"], str)
                and isinstance(item["measured"], dict) and isinstance(item["holds"], bool)
                and isinstance(item["fragile"], bool) and isinstance(item["margin"], dict)):
            problems.append(f"claim {item['id']!r}: id and criterion str, measured and margin dict, holds and "
                            "fragile bool")
            continue
        missing = [field for field in MARGIN_FIELDS if field not in item["margin"]]
        if missing:
            problems.append(f"claim {item['id']!r}: its margin lacks {missing}")
        elif (item["margin"]["holds"], item["margin"]["fragile"]) != (item["holds"], item["fragile"]):
            problems.append(f"claim {item['id']!r}: holds/fragile differ from its margin's")
    ids = [item.get("id") for item in report.get("claims") or [] if isinstance(item, dict)]
    if claim_ids is not None and set(ids) != set(claim_ids):
        problems.append(f"claim ids {sorted(map(str, ids))} != expected {sorted(claim_ids)}")
    if len(ids) != len(set(ids)):
        problems.append("claim ids must be unique")
    if problems:
        raise ValueError("Report does not follow the schema: " + "; ".join(problems)
                         + f". Received: paper={report.get('paper')!r}")
    return report


def numeric_order(value):
    """`value` with every dict whose keys are all integers written as strings (depths,
    widths, rates: JSON keys) in numeric order, recursively. report.json is written with
    sorted keys ("100" before "30"); a report redrawn from it renders its tables in the
    order it was built in."""
    if isinstance(value, dict):
        items = {key: numeric_order(item) for key, item in value.items()}
        if items and all(isinstance(k, str) and k.lstrip("-").isdigit() for k in items):
            return dict(sorted(items.items(), key=lambda kv: int(kv[0])))
        return items
    if isinstance(value, list):
        return [numeric_order(item) for item in value]
    return value


def in_order(mapping, keys):
    """`mapping` with `keys` first in that order (those it has), then the rest as they were."""
    return {**{key: mapping[key] for key in keys if key in mapping}, **mapping}


def percent(value, decimals=1):
    """`value` (a fraction) in percent with `decimals` decimals; None as "-"."""
    return "-" if value is None else f"{100 * value:.{decimals}f}"


def lowest_mean_rate(errors_by_rate):
    """The learning-rate searches' pick: `(rate, {rate: mean error})` for the rate with the
    lowest mean of its errors (diverged runs count as 1.0 in the lists), a tie going to
    the smaller rate."""
    means = {rate: float(np.mean(errors)) for rate, errors in sorted(errors_by_rate.items())}
    return min(means, key=means.get), means


def markdown_table(columns, rows):
    """Lines of a markdown table: header, rule, one line per row (cells as given)."""
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _as_written(value):
    """`value` as report.json holds it once read back (keys sorted, integer keys in numeric
    order), so that a driver's report.md and one redrawn from report.json are the same text."""
    return numeric_order(json.loads(json.dumps(value, sort_keys=True, default=str)))


def claims_table(claims):
    """Lines of the claims table: id, criterion, the deciding statistic against its
    threshold, the margin (relative), its spread over seeds and redraws, holds (fragile
    marked), then the measured values (as JSON)."""
    rows = [(f"`{item['id']}`", *(cell.replace("|", "\\|") for cell in (item["criterion"],
                                                                       *margins.margin_cells(item["margin"]))),
             margins.verdict_text(item["margin"], item["holds"]),
             json.dumps(_as_written(item["measured"])).replace("|", "/")) for item in claims]
    return markdown_table(("claim", "criterion", "statistic vs threshold", "margin", "spread", "holds", "measured"),
                          rows)


def verdict_counts(claims):
    """'N of M hold (k fragile)': the line the README's tables quote."""
    holding = sum(item["holds"] for item in claims)
    fragile = sum(item["fragile"] for item in claims)
    return f"{holding} of {len(claims)} hold" + (f" ({fragile} fragile)" if fragile else "")


def report_markdown(title, setting, claims, sections=()):
    """report.md: `# <title>: claims (<profile> profile)`, the setting, the claims table,
    then extra sections (each a list of lines, preceded by a blank line; an empty one is
    left out)."""
    lines = [f"# {title}", "", setting, "", f"Claims: {verdict_counts(claims)}. Margin: positive where the claim "
             "holds (relative to the threshold in brackets); fragile: a redraw of the seeds could flip the verdict "
             "(reproductions/margins.py says how it is decided).", "", *claims_table(claims)]
    for section in sections:
        if section:
            lines += ["", *section]
    return "\n".join(lines) + "\n"


def write_report(workdir, report, markdown, paper=None):
    """Checks `report` against the schema, then writes report.json and report.md."""
    check_report(report, paper)
    workdir = pathlib.Path(workdir)
    write_json_atomic(workdir / "report.json", report)
    (workdir / "report.md").write_text(markdown)
    return markdown


def summary_markdown(rows, metric="test error"):
    """Markdown table of `runs.final_summary` rows, errors in % with 2 decimals."""
    table = markdown_table(
        ("setting", "seeds (completed)", f"final {metric} % mean", "std", "min", "max"),
        [(row["label"], f"{row['n']} ({row['completed']})", percent(row["mean"], 2),
          percent(row["std"], 2), percent(row["min"], 2), percent(row["max"], 2)) for row in rows])
    return "\n".join(table)
