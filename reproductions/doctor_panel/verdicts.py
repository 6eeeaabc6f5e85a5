"""The doctor's verdicts on the panel's nets (before the training: the driver's `prepare`)
and the runs its recommendations add (`expand`).

One verdict per net and seed, written to `<workdir>/verdicts/<net>-seed<seed>.json` (and
the doctor's own report beside it, `.md`); an interrupted measurement resumes from them.
"""

import pathlib
import sys
import time

from initializers.jsonio import read_json, write_json_atomic
from reproductions.configs import doctor_panel as panel

FOLDER = "verdicts"


def verdict_path(workdir, config, seed):
    return pathlib.Path(workdir) / FOLDER / f"{config.name}-seed{seed}.json"


def measure_verdicts(workdir, profile, configs, seeds, log=None):
    """Examines every net of `configs` (their current inits) at every seed; on the first
    seed, a warned net also gets the doctor's full comparison and so its recommendation."""
    log = log or (lambda text: print(text, file=sys.stderr))
    for config in configs:
        for seed in seeds:
            path = verdict_path(workdir, config, seed)
            if path.exists():
                continue
            log(f"doctor: examining {config.name}, seed {seed}")
            verdict, markdown = judge(config.replace(seed=seed), compare=seed == seeds[0],
                                      methods=panel.PROFILES[profile].get("compare_methods"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_suffix(".md").write_text(markdown)
            write_json_atomic(path, verdict)
            log(f"doctor: {config.name}, seed {seed}: "
                f"{', '.join(verdict['warnings']) or 'no warnings'}"
                + (f"; recommended {verdict['recommended']}" if verdict["recommended"] else ""))


def judge(config, compare, methods=None):
    """(verdict dict, the doctor's markdown report) of one net at `config.seed`, built as the
    run builds it: on the run's first training batch and labels with the run's optimizer,
    or, for a net judged at another size (`panel.verdict_model_kwargs`), on random inputs of
    `panel.REAL_SIZE_BATCH` examples and no optimizer (no labels to fit). `methods`: those
    the full comparison draws (None: the doctor's defaults; the profile's `compare_methods`)."""
    import keras

    import models
    from initializers.diagnostics.tracing import random_inputs
    from initializers.doctor import examine
    from reproductions import data, harness

    keras.utils.set_random_seed(config.seed)
    kwargs = panel.verdict_model_kwargs(config.tags["entry"], config)
    model = models.build(config.model, **kwargs)
    if kwargs == config.model_kwargs:
        batch, labels = data.first_batch(harness.training_stream(config))
        optimizer, examined_on = harness.optimizer_of(config), "the run's first training batch"
    else:
        batch, labels = random_inputs(model, panel.REAL_SIZE_BATCH, config.seed), None
        optimizer, examined_on = None, "random inputs at the model's real input size"
    start = time.perf_counter()
    report = examine(model, batch, labels, methods=("current",), seed=config.seed, optimizer=optimizer)
    comparison = None
    if report.warnings and compare:
        report = examine(model, batch, labels, methods=methods, seed=config.seed, optimizer=optimizer)
        comparison = {name: [flag["kind"] for flag in result.warnings] for name, result in report.results.items()}
    current = report.results["current"]
    verdict = {
        "entry": config.tags["entry"], "seed": config.seed, "expected": config.tags["expected"],
        "model_kwargs": kwargs, "examined_on": examined_on, "batch_shape": list(report.batch_shape),
        "optimizer": None if optimizer is None else {"name": config.optimizer, "learning_rate": config.learning_rate},
        "family": report.family, "warnings": sorted({flag["kind"] for flag in report.warnings}),
        "notes": sorted({flag["kind"] for flag in current.flags if flag not in report.warnings}),
        # "current": no warning; None: not compared on this seed, or no candidate did better
        "recommended": "current" if not report.warnings else report.recommended if comparison else None,
        "comparison": comparison, "seconds": time.perf_counter() - start}
    return verdict, report.to_markdown()


def load_verdicts(workdir, configs, seeds):
    """{net: [verdict per seed that has one]}."""
    found = {}
    for config in configs:
        for seed in seeds:
            path = verdict_path(workdir, config, seed)
            if path.exists():
                found.setdefault(config.name, []).append(read_json(path))
    return found


def recommendation(verdicts):
    """The doctor's recommendation for a net: that of its compared (first-seed) verdict,
    None when the net was not warned there or not yet judged."""
    compared = [v for v in verdicts if v["comparison"] is not None]
    return compared[0]["recommended"] if compared else None


def with_recommended_runs(workdir, configs, seeds):
    """`configs` plus, per warned net, its run from the doctor's recommendation."""
    judged = load_verdicts(workdir, configs, seeds)
    added = []
    for config in configs:
        method = recommendation(judged.get(config.name, []))
        if method not in (None, "current"):
            added.append(panel.recommended_config(config, method))
    return list(configs) + added
