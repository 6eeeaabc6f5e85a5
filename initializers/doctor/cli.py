"""python -m initializers.doctor MODEL: examine a model's initialization, optionally fix it.

MODEL is a `.keras` file or an importable builder `module:function` (e.g.
`keras.applications:ResNet50`, `models:PlainNet`) called with `--kwargs` (JSON). A
builder that takes `weights` gets `weights=None` unless --kwargs says otherwise:
nothing is downloaded. Writes report.md, report.json and doctor.png into --out.

--data is `random` (default: unit-variance inputs of the model's input shape, what the
init formulas assume; token ids within the embeddings' vocabulary for integer inputs,
masks of ones, one array per input), a FILE.npz with arrays `x` (and optionally `y`; a
model with several inputs: one array per input, named as the input), or an importable
generator `module:function` called as `function(batch_size, seed) -> (inputs, labels)`
(inputs: an array, or a list or dict of arrays for several inputs). Data that does not
fit the model's inputs exits 2, naming the input and both shapes.

Exit codes: 0 no warning (notes do not count), 1 a warning (so it can guard a CI), 2 bad
input (with a one-line reason). With --lr (and --optimizer, default sgd with momentum 0.9)
every initialization also takes 20 updates on the batch at that rate: a loss
that does not fall below half its start is a warning (an initialization that stalls at
this learning rate; the Post-LN transformer without warmup is the classic case).

Installed with the package, `init-doctor` is the same command. TensorFlow's C++ start-up
log is kept out of the terminal unless --verbose is given.

--coord-check ARG runs the coordinate check of Yang et al. 2022 instead (μP against the
standard parametrization): the builder is called with ARG=width for each of --widths,
each model trains --coord-steps updates on the batch (SGD or Adam at --lr, 3 seeds from
--seed), and the mean |x| of every layer output is written to coord_check.json and
coord_check.png in --out. Exit code 1 when μP's sizes are not flat within 1.5x from the
narrowest to the widest width. Use real data (--data) where you have it: random inputs
share no structure between examples.

Example:

    python -m initializers.doctor models:PlainNet --kwargs '{"depth": 30,
        "width_multiplier": 0.03125, "input_shape": [32, 32, 1], "num_classes": 9,
        "kernel_initializer": "lecun_normal"}' --out doctor_plain30
"""

import argparse
import importlib
import inspect
import json
import pathlib
import sys

# Methods that are not initializer names (`initializers.get` does not know them).
NOT_INITIALIZERS = ("current", "auto", "fixup", "lsuv", "gradinit", "metainit")
# --coord-check: μP's layer sizes count as flat within this factor from narrowest to widest.
COORD_FLAT_FACTOR = 1.5
COORD_LEARNING_RATE = 0.1  # the coordinate check's default --lr (the reference's)
FIRST_UPDATES_STEPS = 20   # = initializers.doctor.flags.FIRST_UPDATES_STEPS (its threshold is set for it)


class BadInput(Exception):
    """Bad command-line input: exit code 2 with a one-line reason."""


def _parser():
    parser = argparse.ArgumentParser(prog=_program_name(), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a .keras file, or module:builder (e.g. keras.applications:ResNet50)")
    parser.add_argument("--kwargs", default="{}", help="JSON keyword arguments of the builder")
    parser.add_argument("--data", default="random",
                        help="random (unit-variance inputs of the model's input shape, what the init "
                             "formulas assume), FILE.npz with arrays x (or one per input, by name; "
                             "optionally y), or module:function returning (inputs, labels) for "
                             "(batch_size, seed)")
    parser.add_argument("--batch-size", type=int, default=8, help="examples in the batch (default 8)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the model's build, the data, the labels and the candidate draws")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="initializations to compare (default: current auto he glorot orthogonal "
                             "lsuv; without lsuv for a model with BatchNormalization; gradinit and metainit "
                             "on request: the model as given, rescaled on the batch)")
    parser.add_argument("--out", default="doctor", help="folder for report.md, report.json, doctor.png")
    parser.add_argument("--apply", default=None, metavar="METHOD",
                        help="re-initialize the model with METHOD (any name initialize_weights takes, "
                             "lsuv, or gradinit / metainit on the batch) and save it to --output")
    parser.add_argument("--output", default=None, help="where --apply saves the model (.keras)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--verbose", action="store_true",
                        help="let the backend's start-up log through (TensorFlow's C++ lines are kept "
                             "out of the terminal otherwise)")
    coord = parser.add_argument_group("coordinate check (μP)")
    coord.add_argument("--coord-check", default=None, metavar="ARG",
                       help="run the coordinate check instead: ARG is the builder's width argument")
    coord.add_argument("--widths", type=int, nargs="+", default=[128, 256, 512, 1024, 2048],
                       help="widths to compare (default: %(default)s); μP's base width is the narrowest")
    coord.add_argument("--coord-steps", type=int, default=3, help="training updates (default 3)")
    training = parser.add_argument_group("the training's optimizer (first updates; coordinate check)")
    training.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                          help="sgd (momentum 0.9) or adam (default: sgd)")
    training.add_argument("--lr", type=float, default=None,
                          help=f"learning rate: given, each initialization also takes {FIRST_UPDATES_STEPS} updates "
                               "on the batch at it (the coordinate check's default: 0.1)")
    return parser


def _program_name():
    """`init-doctor` when run as the installed console script, else the module form."""
    return "init-doctor" if pathlib.Path(sys.argv[0]).name == "init-doctor" else "python -m initializers.doctor"


def _one_line(text):
    return str(text).replace("\n", " ")


def _import(spec, what):
    """The attribute `name` of the module of a `module:name` spec."""
    module_name, attribute = spec.split(":", 1)
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise BadInput(f"cannot import {what} {spec}: {error}") from None


def _load_model(spec, kwargs, log):
    if spec.endswith(".keras"):
        path = pathlib.Path(spec)
        if not path.exists():
            raise BadInput(f"no such file: {spec}")
        import initializers

        return initializers.load_model(path), []
    if ":" not in spec:
        raise BadInput(f"MODEL must be a .keras file or module:builder, got {spec!r}")
    builder = _import(spec, "builder")
    notes = []
    try:
        parameters = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        parameters = {}
    if "weights" in parameters and "weights" not in kwargs:
        kwargs = {**kwargs, "weights": None}
        notes.append(f"{spec} was built with weights=None (no download; the doctor examines initialization).")
    log(f"building {spec}")
    try:
        model = builder(**kwargs)
    except (TypeError, ValueError) as error:
        raise BadInput(_one_line(f"{spec}(**{json.dumps(kwargs)}) failed: {error}")) from None
    return model, notes


def _batch(args, model):
    """(inputs, labels or None) of the batch --data names, checked against the model's
    inputs (`initializers._inputs.conform_batch`): a batch that does not fit exits 2 with
    the input's name and both shapes."""
    if not getattr(model, "built", False) or not getattr(model, "inputs", None):
        raise BadInput(f"model '{model.name}' is not built and has no input shape: build it or pass one")
    if args.data == "random":
        from initializers.diagnostics.tracing import random_inputs

        return random_inputs(model, args.batch_size, args.seed), None
    if args.data.endswith(".npz"):
        inputs, labels = _npz_batch(pathlib.Path(args.data), model)
    elif ":" in args.data:
        inputs, labels = _import(args.data, "data generator")(args.batch_size, args.seed)
    else:
        raise BadInput(f"--data must be random, an existing FILE.npz or module:function, got {args.data!r}")
    import keras

    from initializers._inputs import conform_batch
    from initializers.errors import InputMismatchError

    inputs = keras.tree.map_structure(lambda array: array[:args.batch_size], _flat_to_model_shape(model, inputs))
    try:
        inputs, size = conform_batch(model, inputs)
    except InputMismatchError as error:
        raise BadInput(_one_line(f"--data {args.data}: {error.reason}")) from None
    if labels is not None and len(labels[:size]) != size:
        raise BadInput(f"--data {args.data}: {len(labels)} labels for a batch of {size}")
    return inputs, (labels[:size] if labels is not None else None)


def _flat_to_model_shape(model, inputs):
    """One flat array per example for a one-input model that takes images (e.g. data
    written for an MLP) reshaped to the model's input shape; anything else as it is."""
    import numpy as np

    shape = tuple(model.inputs[0].shape[1:])
    if len(model.inputs) != 1 or isinstance(inputs, (dict, list, tuple)) or None in shape:
        return inputs
    inputs = np.asarray(inputs)
    if inputs.ndim >= 1 and inputs[0].size == int(np.prod(shape)) and inputs.shape[1:] != shape:
        return inputs.reshape(len(inputs), *shape)
    return inputs


def _npz_batch(path, model):
    """(inputs, labels or None) from a .npz file: `x` for a one-input model (or the
    input's name), one array per input name (or dict key) for several; `y` the labels."""
    import numpy as np

    from initializers._inputs import model_inputs

    if not path.exists():
        raise BadInput(f"--data must be random, an existing FILE.npz or module:function; no such file: {path}")
    arrays = np.load(path)
    structure, inputs = model_inputs(model)
    labels = arrays["y"] if "y" in arrays else None
    if structure == "single":
        key = "x" if "x" in arrays else inputs[0][0]
        if key not in arrays:
            raise BadInput(f"{path} has no array 'x' (found: {', '.join(arrays.files)})")
        return arrays[key], labels
    missing = [key for key, _ in inputs if key not in arrays]
    if missing:
        raise BadInput(f"{path} has no array {missing[0]!r} for the model's input of that name; a model with "
                       f"several inputs reads one array per input ({', '.join(k for k, _ in inputs)}; found: "
                       f"{', '.join(arrays.files)})")
    return {key: arrays[key] for key, _ in inputs}, labels


def _checked_arguments(args):
    """The builder's kwargs and the methods to compare, once the arguments are known good."""
    if args.batch_size < 1:
        raise BadInput(f"--batch-size must be positive, got {args.batch_size}")
    if args.lr is not None and not args.lr > 0:
        raise BadInput(f"--lr must be positive, got {args.lr}")
    if args.apply and not args.output:
        raise BadInput("--apply needs --output FILE.keras")
    if args.output and not args.output.endswith(".keras"):
        raise BadInput(f"--output must name a .keras file, got {args.output!r}")
    try:
        kwargs = json.loads(args.kwargs)
    except json.JSONDecodeError as error:
        raise BadInput(f"--kwargs is not JSON: {error}") from None
    if not isinstance(kwargs, dict):
        raise BadInput("--kwargs must be a JSON object")
    import initializers
    from initializers.doctor import DEFAULT_METHODS
    from initializers.errors import UnknownInitializerError

    methods = tuple(args.methods) if args.methods else None
    for method in (methods or DEFAULT_METHODS) + ((args.apply,) if args.apply else ()):
        if method not in NOT_INITIALIZERS:
            try:
                initializers.get(method)
            except UnknownInitializerError as error:
                raise BadInput(f"unknown method {method!r}: {error.reason}") from None
    return kwargs, methods


def _examine(args, log):
    """(model, batch, report) of the model and data the command line names."""
    kwargs, methods = _checked_arguments(args)
    import keras

    from initializers.doctor import examine
    from initializers.errors import InitializationError

    keras.utils.set_random_seed(args.seed)  # a builder's unseeded draws: the same report every time
    model, notes = _load_model(args.model, kwargs, log)
    batch, labels = _batch(args, model)
    try:
        report = examine(model, batch, labels, methods=methods, seed=args.seed, progress=log,
                         optimizer=_optimizer(args))
    except InitializationError as error:
        raise BadInput(_one_line(error.reason)) from None
    report.notes.extend(notes)
    return model, batch, labels, report


def _optimizer(args):
    """The training's optimizer --lr and --optimizer name (None without --lr), as the
    coordinate check builds them: SGD with momentum 0.9, or Adam."""
    if args.lr is None:
        return None
    import keras

    return keras.optimizers.Adam(args.lr) if args.optimizer == "adam" else keras.optimizers.SGD(args.lr, momentum=0.9)


def _write_report(report, out, log):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report.to_markdown())
    report.to_json(out / "report.json")
    try:
        report.plot(out / "doctor.png")
    except ImportError as error:  # matplotlib is an optional dependency (the extra "plots")
        log(f"doctor.png not drawn: {error}")


def _apply(args, model, batch, labels, log):
    """Re-initializes the model with --apply and saves it to --output; nothing is saved
    when that cannot be done (e.g. LSUV on a layer with a constant output)."""
    import initializers
    from initializers.errors import InitializationError

    try:
        if args.apply == "lsuv":
            initializers.lsuv(model, batch, seed=args.seed)
        elif args.apply in ("gradinit", "metainit"):
            from initializers.doctor.examination import learn_on_batch

            learn_on_batch(model, args.apply, batch, labels, args.seed, _optimizer(args))
        else:
            initializers.initialize_weights(model, args.apply, seed=args.seed)
    except InitializationError as error:  # the model is unchanged
        raise BadInput(_one_line(f"--apply {args.apply}: {error.reason}")) from None
    model.save(args.output)
    log(f"re-initialized with {args.apply}, saved to {args.output}")


def _coord_check(args, log):
    """Runs the coordinate check the command line asks for; returns μP's largest factor."""
    kwargs, _ = _checked_arguments(args)
    if args.model.endswith(".keras"):
        raise BadInput("--coord-check needs a builder (module:function), not a saved model")
    args.lr = COORD_LEARNING_RATE if args.lr is None else args.lr
    if len(set(args.widths)) < 2 or min(args.widths) < 1 or args.coord_steps < 1 or not args.lr > 0:
        raise BadInput("--coord-check needs two or more positive --widths, --coord-steps >= 1 and --lr > 0")
    import keras

    from initializers.diagnostics import coordinates as coord
    from initializers.diagnostics.tracing import _is_probabilities
    from initializers.doctor.examination import random_labels

    build = lambda width: _load_model(args.model, {**kwargs, args.coord_check: width}, lambda text: None)[0]
    keras.utils.set_random_seed(args.seed)
    model = build(min(args.widths))
    batch, labels = _batch(args, model)
    outputs = keras.ops.convert_to_numpy(model(batch, training=False))
    if labels is None:  # random classes of the model's outputs
        labels = random_labels(args.seed, outputs.shape[-1], len(outputs))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not _is_probabilities(outputs))
    records = coord.coord_check(build, args.widths, [(batch, labels)], steps=args.coord_steps,
                                seeds=(args.seed, args.seed + 1, args.seed + 2), optimizer=args.optimizer,
                                learning_rate=args.lr, loss=loss, log=log)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "coord_check.json").write_text(json.dumps({"widths": sorted(args.widths), "records": records}))
    coord.plot_coord_check(records, path=out / "coord_check.png")
    factors = {key: coord.growth(records, key) for key in coord.PARAMETRIZATIONS}
    for layer in factors["mup"]:
        log(f"  {layer}: widest/narrowest mean |x|  SP {factors['sp'][layer][0]:.3g}  μP {factors['mup'][layer][0]:.3g}")
    return coord.largest_factor(r for r, _ in factors["mup"].values())


def main(argv=None):
    args = _parser().parse_args(argv)
    log = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    if args.coord_check:
        try:
            worst = _coord_check(args, log)
        except BadInput as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if not args.quiet:
            print(f"coordinate check: μP sizes within {worst:.3g}x across widths {sorted(args.widths)}; "
                  f"figure and records in {args.out}")
        return 0 if worst <= COORD_FLAT_FACTOR else 1
    try:
        model, batch, labels, report = _examine(args, log)
        _write_report(report, args.out, log)
        if args.apply:
            _apply(args, model, batch, labels, log)
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(summary_line(report, args.out))
    return 1 if report.warnings else 0


def summary_line(report, out):
    """The command line's last line: warnings, notes, recommendation, where the report is."""
    warned = ", ".join(sorted({f["kind"] for f in report.warnings})) or "none"
    noted = ", ".join(sorted({f["kind"] for f in report.flags if f["severity"] == "note"})) or "none"
    data_free = report.recommended_data_free
    also = f" (without data: {data_free})" if data_free and data_free != report.recommended else ""
    advice = ("keep the current initialization" if report.recommended == "current"
              else f"recommended {report.recommended}{also}" if report.recommended
              else "no initialization compared does better" if len(report.results) > 1
              else "no other initialization compared")
    return f"{report.model} ({report.family}): warnings: {warned}; notes: {noted}; {advice}; report in {out}"
