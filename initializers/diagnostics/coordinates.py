"""The coordinate check of Yang et al. 2022: is a parametrization right as width grows?

Train the same model at several widths for a few steps, and read the typical size of
the coordinates of every layer's output (mean |x|) at each step. Under μP every size
stays Theta(1) as width grows (flat curves against width); under the standard
parametrization (SP) trained at one learning rate some grow with width from the first
update on, which is why SP's best learning rate shrinks as models widen (Tensor
Programs V, Sec. 5 and App. D.1; the reference repo `microsoft/mup` calls it
`get_coord_data`). A wrong μP implementation shows up here before any long run.

Any Keras model on any backend: the outputs are read at the leaf weight layers
(`tracing.trace`, inference mode: dropout off, BatchNormalization with its moving
statistics) on the batch of each step, just before that step's update
(`model.train_on_batch`).

Example:

>>> build = lambda width: models.DeepMLP(1024, 9, depth=2, width=width, activation="relu")
>>> records = coord_check(build, [128, 512, 2048], batches, base_width=128, steps=3)
>>> growth(records, "mup")        # {layer: widest / narrowest size, worst step}
>>> plot_coord_check(records, path="coord_check.png")
"""

import contextlib
import logging

import keras
import numpy as np

from initializers.diagnostics import tracing

PARAMETRIZATIONS = ("mup", "sp")
OPTIMIZERS = ("sgd", "adam")


def _optimizer(name, learning_rate, momentum):
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer; valid: {', '.join(OPTIMIZERS)}. Received: optimizer={name!r}")
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    return keras.optimizers.SGD(learning_rate, momentum=momentum)


def parametrized_model(build, width, parametrization, *, base_shapes=None, method="lecun_normal",
                       seed=0, optimizer="sgd", learning_rate=0.1, momentum=0.9, readout="zero"):
    """`build(width)` initialized with `method` under SP or μP, and its optimizer
    (μP's per-weight learning rates, or SP's one rate). Returns `(model, optimizer)`."""
    from initializers import mup  # here: `initializers` imports this package while it loads
    from initializers.reinit import initialize_weights

    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(f"Unknown parametrization; valid: {', '.join(PARAMETRIZATIONS)}. "
                         f"Received: parametrization={parametrization!r}")
    model = build(width)
    plain = _optimizer(optimizer, learning_rate, momentum)
    if parametrization == "sp":
        initialize_weights(model, method, seed=seed)
        return model, plain
    if base_shapes is None:
        raise ValueError("μP needs the base shapes of `build` (mup.BaseShapes.from_builder). "
                         "Received: base_shapes=None")
    scheme = mup.MuP(model, base_shapes, readout=readout)
    scheme.initialize(method, seed=seed)
    return model, scheme.optimizer(plain)


@contextlib.contextmanager
def _quiet_retracing():
    """TensorFlow warns that a new model's train step "triggered tf.function retracing" once
    a few models have trained in one process; here every run is a new model, on purpose."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _run_one(model, optimizer, batches, steps, loss):
    """Sizes [step][leaf] over `steps` updates (steps + 1 readings), and the leaves' names."""
    model.compile(optimizer=optimizer, loss=loss, jit_compile=False)
    sizes, names = [], None
    for step in range(steps + 1):
        x, y = batches[step % len(batches)]
        layers, outputs, _ = tracing.trace(model, x)
        names = names or [getattr(layer, "path", layer.name) for layer in layers]  # unique: block0_attention/query
        sizes.append([float(np.mean(np.abs(output))) for output in outputs])
        if step < steps:
            with _quiet_retracing():
                model.train_on_batch(x, y)
    return sizes, names


def coord_check(build, widths, batches, *, parametrizations=PARAMETRIZATIONS, base_width=None,
                delta_width=None, steps=3, seeds=(0, 1, 2), optimizer="sgd", learning_rate=0.1,
                momentum=0.9, method="lecun_normal", readout="zero", loss=None, log=None):
    """Coordinate sizes of every leaf layer's output at steps 0..`steps`, per width and seed.

    Args:
        build: `width -> model` (same weights in the same order at every width).
        widths: the widths to compare (ints, e.g. 128 to 2048).
        batches: list of `(x, y)`; step t trains on (and is read on) `batches[t % len]`.
        parametrizations: any of "mup", "sp".
        base_width: μP's base width (default: the narrowest); `delta_width` the second build
            that tells which axes are width (default: twice the base).
        steps: updates per run; seeds: one run per seed and width.
        optimizer: "sgd" (with `momentum`) or "adam", at `learning_rate` (μP: the base width's).
        method: the SP draw (a fan-in rule, `mup.FAN_IN_METHODS`); readout: μP's readout.
        loss: a Keras loss (default: sparse categorical cross-entropy from logits).
        log: optional `str -> None` for progress lines.

    Returns:
        A list of records `{"parametrization", "width", "seed", "step", "layer_index",
        "layer", "size"}`, size = mean |x| of that leaf's output on that step's batch.
    """
    widths = sorted(int(w) for w in widths)
    if len(widths) < 2 or widths[0] < 1:
        raise ValueError(f"`widths` must hold at least two positive widths. Received: widths={widths}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"`steps` must be a non-negative int. Received: steps={steps!r}")
    from initializers import mup

    loss = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    base_shapes = None
    if "mup" in parametrizations:
        base_shapes = mup.BaseShapes.from_builder(build, base_width or widths[0], delta_width)
    records = []
    for parametrization in parametrizations:
        for width in widths:
            for seed in seeds:
                keras.utils.set_random_seed(seed)
                model, chosen = parametrized_model(
                    build, width, parametrization, base_shapes=base_shapes, method=method, seed=seed,
                    optimizer=optimizer, learning_rate=learning_rate, momentum=momentum, readout=readout)
                sizes, names = _run_one(model, chosen, batches, steps, loss)
                records += [{"parametrization": parametrization, "width": width, "seed": seed, "step": step,
                             "layer_index": index, "layer": name, "size": value}
                            for step, row in enumerate(sizes) for index, (name, value) in enumerate(zip(names, row))]
            if log:
                log(f"  coord check {parametrization} width {width}: {len(seeds)} seeds x {steps} steps")
    return records


def mean_sizes(records, parametrization):
    """{(layer_index, step): {width: mean size over seeds}} of one parametrization."""
    table = {}
    for record in records:
        if record["parametrization"] == parametrization:
            key = (record["layer_index"], record["step"])
            table.setdefault(key, {}).setdefault(record["width"], []).append(record["size"])
    return {key: {w: float(np.mean(v)) for w, v in sorted(by_width.items())} for key, by_width in table.items()}


def _ratio(widest, narrowest):
    if widest == narrowest:  # both zero included (a zero readout at step 0)
        return 1.0
    return widest / narrowest if narrowest > 0 else float("inf")


def growth(records, parametrization, steps=None):
    """{layer name: (ratio, step)}: the largest widest-to-narrowest ratio of mean sizes over
    the steps (all, or those in `steps`), and the step where it is reached. About 1: flat."""
    names = {r["layer_index"]: r["layer"] for r in records if r["parametrization"] == parametrization}
    worst = {}
    for (index, step), by_width in sorted(mean_sizes(records, parametrization).items()):
        if steps is not None and step not in steps:
            continue
        values = list(by_width.values())
        ratio = _ratio(values[-1], values[0])
        if names[index] not in worst or _distance(ratio) > _distance(worst[names[index]][0]):
            worst[names[index]] = (ratio, step)
    return worst


def largest_factor(ratios):
    """The largest factor by which any of `ratios` (`growth`'s widest / narrowest) departs
    from 1, up or down (0.5 counts as 2; a zero as infinite); None for no ratios."""
    return max((max(r, 1 / r) if r > 0 else float("inf") for r in ratios), default=None)


def _distance(ratio):
    """How far a ratio is from 1, up or down (0.25 as far as 4)."""
    return abs(np.log(ratio)) if ratio > 0 else float("inf")


def plot_coord_check(records, path=None, title=None):
    """One panel per (parametrization, step): mean |x| of each layer against width (log-log).
    Returns the matplotlib Figure (saved when `path` is given)."""
    from initializers.diagnostics.plots import DPI, _colours, _figure

    present = [p for p in PARAMETRIZATIONS if any(r["parametrization"] == p for r in records)]
    steps = sorted({r["step"] for r in records})
    figure, axes = _figure(len(steps), rows=len(present), width=3.4, height=3.0)
    names = {r["layer_index"]: r["layer"] for r in records}
    colours = _colours(len(names))
    for row, parametrization in enumerate(present):
        table = mean_sizes(records, parametrization)
        drawn = []
        for column, step in enumerate(steps):
            ax = axes[row][column]
            for index in sorted(names):
                by_width = table.get((index, step), {})
                widths = [w for w, v in by_width.items() if v > 0]  # log axes: a zero readout is left out
                drawn += [by_width[w] for w in widths]
                ax.plot(widths, [by_width[w] for w in widths], "o-", color=colours[index], ms=3,
                        label=names[index])
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{'μP' if parametrization == 'mup' else 'SP'}, step {step}", fontsize=9)
            ax.set_xlabel("width", fontsize=8)
            if column == 0:
                ax.set_ylabel("mean |x| of the layer output", fontsize=8)
        for ax in axes[row]:  # one scale per row, so that growth over the steps shows
            if drawn:
                ax.set_ylim(min(drawn) / 1.5, max(drawn) * 1.5)
    # Beside the panels, not on them: a Transformer has a dozen leaves.
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if title:
        figure.suptitle(title)
    if path is not None:
        figure.tight_layout()
        figure.savefig(path, dpi=DPI, bbox_inches="tight")
    return figure
