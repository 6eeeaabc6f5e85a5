"""The fidelity gauge: does a profile's scaled-down plain net keep the signal that He et
al.'s paper-size net keeps?

A CPU profile runs `models.PlainNet` at a fraction of the paper's width on 32x32 images;
the paper ran width 1 on 224x224 (He et al. 2015, Sec. 4.1, Table 3). Whether He's init
trains and Xavier's stalls (Fig. 3), or both train (Fig. 2), depends on how much signal
the net keeps at initialization, so a miniature is faithful when it keeps about as much
as the paper-size net: its forward and backward gains (the doctor's,
`initializers.doctor.gains.initialization_gains`, median over draws) within a stated
factor of the paper-size net's, for He and Xavier at every depth it runs.

    python -m reproductions.fidelity --paper-size            # the reference: 6.5 min for 4
                                                             # depths on a 2-core CPU
    python -m reproductions.fidelity --candidates --out FILE # widths x stems, cheapest faithful
    python -m reproductions.fidelity --experiment he2015 --profile quick --workdir DIR
                                                             # a profile's gauge, as its driver writes it

The paper-size gains are measured once and kept in `paper_size_gains.json` next to this
module (deterministic given the seed; regenerate with `--paper-size`). The drivers write
a profile's gauge into `<workdir>/fidelity.json` before the sweep, and every He 2015 and
trainability report prints it (`fidelity_markdown`).
"""

import argparse
import pathlib
import sys

from initializers.doctor.gains import Spread, initialization_gains
from initializers.jsonio import read_json, write_json_atomic

# (key, label, initializer) of the two inits whose gains are gauged (He et al.'s Figs. 2-3).
GAUGED_INITIALIZERS = (("he", "He (fan_in)", "he_normal"),
                       ("xavier", "Xavier, Var = 1/fan_in", "lecun_normal"))
PAPER_SIZE = {"width_multiplier": 1.0, "input_shape": [224, 224, 3], "num_classes": 1000, "stem": "paper"}
PAPER_SIZE_DEPTHS = (8, 14, 22, 30)
DRAWS = 3
BATCH_SIZE = 8
SEED = 0
FAITHFUL_WITHIN = 10.0  # a CPU profile's gains within 10x of the paper-size net's
FILE_NAME = "fidelity.json"
PAPER_SIZE_FILE = pathlib.Path(__file__).with_name("paper_size_gains.json")


def gauge(model_kwargs, draws=DRAWS, seed=SEED):
    """`{init key: {"forward": Spread, "backward": Spread}}` of `PlainNet(**model_kwargs)`
    with each of `GAUGED_INITIALIZERS`."""
    import models

    return {key: initialization_gains(lambda: models.PlainNet(**model_kwargs, kernel_initializer=initializer),
                                      draws=draws, seed=seed, batch_size=BATCH_SIZE)
            for key, _, initializer in GAUGED_INITIALIZERS}


def _as_dicts(gains):
    return {key: {direction: spread.as_dict() for direction, spread in per_init.items()}
            for key, per_init in gains.items()}


def _from_dicts(records):
    return {key: {direction: Spread.from_dict(record) for direction, record in per_init.items()}
            for key, per_init in records.items()}


def paper_size_gains(depth):
    """The paper-size net's gains at `depth` from `paper_size_gains.json`; None for a depth
    it lacks (a 224x224 net at width 1 takes minutes to gauge on a CPU: add it with
    `python -m reproductions.fidelity --paper-size --depths DEPTH`)."""
    stored = read_json(PAPER_SIZE_FILE)["gains"] if PAPER_SIZE_FILE.exists() else {}
    return _from_dicts(stored[str(depth)]) if str(depth) in stored else None


def _setting(model_kwargs):
    """The profile's net without its depth: what is compared with the paper size."""
    return {key: value for key, value in sorted(model_kwargs.items()) if key != "depth"}


def describe(setting):
    """One line naming a plain-net setting, e.g. "width x0.0625, 32x32x1 inputs, stem small_images"."""
    shape = "x".join(str(size) for size in setting["input_shape"])
    return (f"width x{setting['width_multiplier']:g}, {shape} inputs, stem "
            f"{setting.get('stem', 'paper')}, {setting['num_classes']} classes")


def measure_fidelity(model_kwargs_list, draws=DRAWS):
    """The gauge of every distinct plain net in `model_kwargs_list` against the paper size.

    Returns a JSON-ready dict: `rows`, one per (setting, depth, init) with the
    profile's and the paper-size net's gains and their ratios (profile / paper size;
    None where the paper-size net was not measured at that depth), and `within`: the
    largest factor by which any gain differs from the paper size's.
    """
    nets = {}
    for kwargs in model_kwargs_list:
        nets.setdefault((repr(_setting(kwargs)), kwargs["depth"]), kwargs)
    rows = []
    for (_, depth), kwargs in sorted(nets.items(), key=lambda item: (item[0][0], item[0][1])):
        ours, paper = gauge(kwargs, draws), paper_size_gains(depth)
        for key, label, _ in GAUGED_INITIALIZERS:
            row = {"setting": describe(_setting(kwargs)), "depth": depth, "init": key, "label": label}
            for direction in ("forward", "backward"):
                row[direction] = ours[key][direction].as_dict()
                row[f"paper_{direction}"] = paper[key][direction].as_dict() if paper else None
                row[f"{direction}_ratio"] = (ours[key][direction].median / paper[key][direction].median
                                             if paper else None)
            rows.append(row)
    return {"paper_size": describe(PAPER_SIZE), "draws": draws, "batch_size": BATCH_SIZE, "seed": SEED,
            "rows": rows, "within": largest_factor(rows)}


def largest_factor(rows):
    """The largest factor (>= 1) by which a row's gain differs from the paper size's."""
    ratios = [row[f"{direction}_ratio"] for row in rows for direction in ("forward", "backward")
              if row[f"{direction}_ratio"] is not None]
    return max(max(ratio, 1 / ratio) if ratio > 0 else float("inf") for ratio in ratios) if ratios else None


def plain_net_kwargs(configs):
    return [config.model_kwargs for config in configs if config.model == "plain_net"]


def ensure_fidelity(workdir, configs, draws=DRAWS):
    """`<workdir>/fidelity.json` for the configs' plain nets: read if it gauges exactly
    those nets with at least `draws` draws, else measured (`draws` per init and net)
    and written. None when no config is a plain net."""
    kwargs_list = plain_net_kwargs(configs)
    if not kwargs_list:
        return None
    path = pathlib.Path(workdir) / FILE_NAME
    wanted = sorted({(describe(_setting(kwargs)), kwargs["depth"]) for kwargs in kwargs_list})
    if path.exists():
        stored = read_json(path)
        if (sorted({(row["setting"], row["depth"]) for row in stored["rows"]}) == wanted
                and stored["draws"] >= draws):
            return stored
    print(f"fidelity: gauging {len(wanted)} nets at initialization ({_draws(draws)} each, He and Xavier)",
          file=sys.stderr, flush=True)
    fidelity = measure_fidelity(kwargs_list, draws)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, fidelity)
    return fidelity


def stored_fidelity(report, workdir):
    """A redrawn report's fidelity gauge: the report's own, else `<workdir>/fidelity.json`
    (reports written before the gauge was part of them), else None."""
    if report.get("fidelity") is not None:
        return report["fidelity"]
    path = pathlib.Path(workdir) / FILE_NAME
    return read_json(path) if workdir is not None and path.exists() else None


def profile_fidelity(config_module, workdir, profile, configs, seeds=None):
    """`ensure_fidelity` of a driver's profile, with the profile's `fidelity_draws` setting
    (else `DRAWS`). With `functools.partial(profile_fidelity, config_module)` it is also
    the driver's `prepare(workdir, profile, configs, seeds)` step, run before the sweep."""
    draws = config_module.PROFILES[profile].get("fidelity_draws", DRAWS)
    return ensure_fidelity(workdir, configs, draws)


def _draws(count):
    return f"{count} draw{'' if count == 1 else 's'}"


def _gain(spread):
    return "-" if spread is None else f"{spread['median']:.2g} [{spread['low']:.2g}, {spread['high']:.2g}]"


def _ratio(value):
    return "-" if value is None else f"{value:.2g}"


def fidelity_markdown(fidelity, within=FAITHFUL_WITHIN):
    """Lines of the report's fidelity section: one table row per net and init."""
    from reproductions.report import markdown_table

    if not fidelity:
        return []
    rows = [(row["setting"], row["depth"], row["label"], _gain(row["forward"]), _gain(row["paper_forward"]),
             _ratio(row["forward_ratio"]), _gain(row["backward"]), _gain(row["paper_backward"]),
             _ratio(row["backward_ratio"])) for row in fidelity["rows"]]
    factor = fidelity["within"]
    if factor is None:
        verdict = "no depth of this profile has a paper-size reference"
    else:
        verdict = (f"largest factor {factor:.3g}, {'within' if factor <= within else '**not** within'} "
                   f"{within:g}x of the paper-size net")
    missing = sorted({row["depth"] for row in fidelity["rows"] if row["forward_ratio"] is None})
    if missing:
        verdict += (f"; no paper-size reference at depth {', '.join(map(str, missing))} (add it with "
                    f"`python -m reproductions.fidelity --paper-size --depths ...`)")
    return [f"Fidelity at initialization: whole-net gains of this profile's nets and of the paper-size "
            f"net ({fidelity['paper_size']}), median [min, max] over {_draws(fidelity['draws'])}, "
            f"N(0, 1) inputs (batch {fidelity['batch_size']}); ratio = this profile / paper size. "
            f"{verdict[0].upper()}{verdict[1:]}.", "",
            *markdown_table(("net", "depth", "init", "forward", "paper size", "ratio", "backward",
                             "paper size", "ratio"), rows)]


# The search that found the faithful CPU profile (`--candidates`): Shapeset-location's
# 32x32x1 images and 9 classes, He et al.'s two depths, every width x stem below.
CANDIDATE_WIDTHS = (1 / 32, 1 / 16, 1 / 8, 1 / 4)
CANDIDATE_STEMS = ("paper", "small_images")
CANDIDATE_INPUT = {"input_shape": [32, 32, 1], "num_classes": 9}
CANDIDATE_DEPTHS = (22, 30)


def multiply_adds(model):
    """Multiply-adds of one example's forward pass through the model's Conv2D and Dense
    layers (the cost that sets a CPU profile's steps/s)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            height, width, filters = layer.output.shape[1:]
            kernel_height, kernel_width = layer.kernel_size
            total += height * width * filters * kernel_height * kernel_width * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)


def candidate_search(within=FAITHFUL_WITHIN):
    """Markdown of the candidates' gauge, cheapest first, and the cheapest faithful one."""
    import models
    from reproductions.report import markdown_table

    candidates = []
    for width in CANDIDATE_WIDTHS:
        for stem in CANDIDATE_STEMS:
            kwargs = [{**CANDIDATE_INPUT, "width_multiplier": width, "stem": stem, "depth": depth}
                      for depth in CANDIDATE_DEPTHS]
            cost = multiply_adds(models.PlainNet(**kwargs[-1]))
            print(f"fidelity: width x{width:g}, stem {stem}", file=sys.stderr, flush=True)
            candidates.append((cost, width, stem, measure_fidelity(kwargs)))
    candidates.sort(key=lambda item: item[0])
    faithful = [item for item in candidates if item[3]["within"] <= within]
    rows = []
    for cost, width, stem, fidelity in candidates:
        ratios = {(row["depth"], row["init"]): f"{row['forward_ratio']:.2g} / {row['backward_ratio']:.2g}"
                  for row in fidelity["rows"]}
        rows.append((f"x{width:g}", stem, f"{cost / 1e6:.1f}",
                     *(ratios[(depth, key)] for depth in CANDIDATE_DEPTHS for key, _, _ in GAUGED_INITIALIZERS),
                     f"{fidelity['within']:.3g}"))
    columns = ("width", "stem", "M mult-adds / example (30 layers)",
               *(f"{key} {depth}: fwd / bwd ratio" for depth in CANDIDATE_DEPTHS for key, _, _ in GAUGED_INITIALIZERS),
               "largest factor")
    pick = (f"Cheapest within {within:g}x: width x{faithful[0][1]:g}, stem {faithful[0][2]}." if faithful
            else f"No candidate is within {within:g}x.")
    return "\n".join([
        "# Fidelity search: the cheapest plain net whose gains are within "
        f"{within:g}x of the paper-size net's", "",
        f"Ratio = the candidate's gain / the paper-size net's ({describe(PAPER_SIZE)}), median of "
        f"{DRAWS} draws each; inputs {CANDIDATE_INPUT['input_shape']}, {CANDIDATE_INPUT['num_classes']} "
        "classes. Written by `python -m reproductions.fidelity --candidates`.", "",
        *markdown_table(columns, rows), "", pick, ""])


def measure_paper_size(depths):
    """Measures the paper-size net at `depths` and writes `paper_size_gains.json`."""
    from reproductions.environment import environment

    stored = read_json(PAPER_SIZE_FILE)["gains"] if PAPER_SIZE_FILE.exists() else {}
    for depth in depths:
        print(f"fidelity: paper-size net, {depth} layers", file=sys.stderr, flush=True)
        stored[str(depth)] = _as_dicts(gauge({**PAPER_SIZE, "depth": depth}))
    write_json_atomic(PAPER_SIZE_FILE, {
        "net": describe(PAPER_SIZE), "draws": DRAWS, "batch_size": BATCH_SIZE, "seed": SEED,
        "command": "python -m reproductions.fidelity --paper-size", "environment": environment(),
        "gains": dict(sorted(stored.items(), key=lambda item: int(item[0])))})


EXPERIMENTS = ("he2015", "trainability")


def gauge_profile(experiment, profile, workdir):
    """A driver's profile gauged as its driver gauges it (`<workdir>/fidelity.json`), plus
    `fidelity.md`: for results folders whose runs predate the gauge."""
    import importlib

    config_module = importlib.import_module(f"reproductions.configs.{experiment}")
    if profile not in config_module.PROFILES:
        raise SystemExit(f"error: {experiment} has no profile {profile!r}; valid: {', '.join(config_module.PROFILES)}")
    configs, _ = config_module.get_experiment(profile)
    lines = fidelity_markdown(profile_fidelity(config_module, workdir, profile, configs))
    lines = [f"# Fidelity of the {experiment} {profile} profile's plain nets", "",
             f"Written by `python -m reproductions.fidelity --experiment {experiment} --profile {profile} "
             f"--workdir {workdir}`.", "", *lines, ""]
    (pathlib.Path(workdir) / "fidelity.md").write_text("\n".join(lines))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper-size", action="store_true",
                        help=f"measure the paper-size net and write {PAPER_SIZE_FILE.name}")
    parser.add_argument("--depths", type=int, nargs="+", default=list(PAPER_SIZE_DEPTHS),
                        help="depths for --paper-size (default: %(default)s)")
    parser.add_argument("--candidates", action="store_true",
                        help="gauge every candidate width x stem and name the cheapest faithful one")
    parser.add_argument("--out", default=None, help="write the --candidates table here too")
    parser.add_argument("--experiment", choices=EXPERIMENTS, default=None,
                        help="gauge this driver's --profile into --workdir (fidelity.json and fidelity.md)")
    parser.add_argument("--profile", default=None, help="the profile for --experiment")
    parser.add_argument("--workdir", default=None, help="the folder for --experiment")
    args = parser.parse_args(argv)
    if not (args.paper_size or args.candidates or args.experiment):
        parser.error("give --paper-size, --candidates or --experiment")
    if args.experiment:
        if not (args.profile and args.workdir):
            parser.error("--experiment needs --profile and --workdir")
        print("\n".join(gauge_profile(args.experiment, args.profile, args.workdir)))
    if args.paper_size:
        measure_paper_size(args.depths)
    if args.candidates:
        text = candidate_search()
        print(text)
        if args.out:
            pathlib.Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
