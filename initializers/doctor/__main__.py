"""python -m initializers.doctor MODEL: examine a model's initialization, optionally fix it.

MODEL is a `.keras` file or an importable builder `module:function` (e.g.
`keras.applications:ResNet50`, `models:PlainNet`) called with `--kwargs` (JSON). A
builder that takes `weights` gets `weights=None` unless --kwargs says otherwise:
nothing is downloaded. Writes report.md, report.json and doctor.png into --out.

Exit codes: 0 nothing flagged, 1 something flagged (so it can guard a CI), 2 bad input
(with a one-line reason).

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

DATA_CHOICES = ("random", "shapeset3x2", "shapeset_location")


class BadInput(Exception):
    """Bad command-line input: exit code 2 with a one-line reason."""


def _parser():
    parser = argparse.ArgumentParser(prog="python -m initializers.doctor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a .keras file, or module:builder (e.g. keras.applications:ResNet50)")
    parser.add_argument("--kwargs", default="{}", help="JSON keyword arguments of the builder")
    parser.add_argument("--data", default="random",
                        help="random (unit-variance inputs of the model's input shape, what the init "
                             "formulas assume), shapeset3x2, shapeset_location, or FILE.npz with arrays "
                             "x (and optionally y)")
    parser.add_argument("--batch-size", type=int, default=8, help="examples in the batch (default 8)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the model's build, the data, the labels and the candidate draws")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="initializations to compare (default: current auto he glorot orthogonal "
                             "lsuv; without lsuv for a model with BatchNormalization)")
    parser.add_argument("--out", default="doctor", help="folder for report.md, report.json, doctor.png")
    parser.add_argument("--apply", default=None, metavar="METHOD",
                        help="re-initialize the model with METHOD (any name initialize_weights takes, "
                             "or lsuv) and save it to --output")
    parser.add_argument("--output", default=None, help="where --apply saves the model (.keras)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def _load_model(spec, kwargs, log):
    if spec.endswith(".keras"):
        path = pathlib.Path(spec)
        if not path.exists():
            raise BadInput(f"no such file: {spec}")
        import initializers

        return initializers.load_model(path), []
    if ":" not in spec:
        raise BadInput(f"MODEL must be a .keras file or module:builder, got {spec!r}")
    module_name, attribute = spec.split(":", 1)
    try:
        builder = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise BadInput(f"cannot import {spec}: {error}") from None
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
        raise BadInput(f"{spec}(**{json.dumps(kwargs)}) failed: {error}".replace("\n", " ")) from None
    return model, notes


def _batch(args, model):
    import numpy as np

    if not getattr(model, "built", False) or not getattr(model, "inputs", None):
        raise BadInput(f"model '{model.name}' is not built and has no input shape: build it or pass one")
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise BadInput(f"model input shape {shape} has unknown dimensions; use --data FILE.npz")
    rng = np.random.default_rng(args.seed)
    if args.data == "random":
        return rng.standard_normal((args.batch_size, *shape)).astype("float32"), None
    if args.data in ("shapeset3x2", "shapeset_location"):
        from reproductions import data

        images, labels = data.info(args.data).generator(args.batch_size, args.seed)
        if images[0].size == int(np.prod(shape)) and images.shape[1:] != shape:
            images = images.reshape(len(images), *shape)
        if images.shape[1:] != shape:
            raise BadInput(f"{args.data} images are {images.shape[1:]}, the model takes {shape}")
        return images, labels
    path = pathlib.Path(args.data)
    if path.suffix != ".npz" or not path.exists():
        raise BadInput(f"--data must be random, {', '.join(DATA_CHOICES[1:])} or an existing FILE.npz, "
                       f"got {args.data!r}")
    arrays = np.load(path)
    if "x" not in arrays:
        raise BadInput(f"{path} has no array 'x' (found: {', '.join(arrays.files)})")
    x = arrays["x"][:args.batch_size].astype("float32")
    if x.shape[1:] != shape:
        raise BadInput(f"{path}: x is {x.shape[1:]} per example, the model takes {shape}")
    return x, (arrays["y"][:args.batch_size] if "y" in arrays else None)


def main(argv=None):
    args = _parser().parse_args(argv)
    log = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    try:
        if args.batch_size < 1:
            raise BadInput(f"--batch-size must be positive, got {args.batch_size}")
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
        from initializers.doctor import DEFAULT_METHODS, examine

        methods = tuple(args.methods) if args.methods else None
        for method in (methods or DEFAULT_METHODS) + ((args.apply,) if args.apply else ()):
            if method not in ("current", "auto", "lsuv"):
                try:
                    initializers.get(method)
                except ValueError as error:
                    raise BadInput(f"unknown method {method!r}: {str(error).split('. Received')[0]}") from None
        import keras

        keras.utils.set_random_seed(args.seed)  # a builder's unseeded draws: the same report every time
        model, notes = _load_model(args.model, kwargs, log)
        batch, labels = _batch(args, model)
        try:
            report = examine(model, batch, labels, methods=methods, seed=args.seed, progress=log)
        except ValueError as error:
            raise BadInput(str(error).split(". Received")[0].replace("\n", " ")) from None
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report.notes.extend(notes)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report.to_markdown())
    report.to_json(out / "report.json")
    report.plot(out / "doctor.png")
    if args.apply:
        try:
            if args.apply == "lsuv":
                initializers.lsuv(model, batch, seed=args.seed)
            else:
                initializers.initialize_weights(model, args.apply, seed=args.seed)
        except ValueError as error:  # e.g. LSUV on a layer with a constant output; model unchanged
            print(f"error: --apply {args.apply}: {str(error).split('. Received')[0]}".replace("\n", " "),
                  file=sys.stderr)
            return 2
        model.save(args.output)
        log(f"re-initialized with {args.apply}, saved to {args.output}")
    if not args.quiet:
        flagged = ", ".join(sorted({f["kind"] for f in report.flags})) or "nothing"
        data_free = report.recommended_data_free
        also = f" (without data: {data_free})" if data_free and data_free != report.recommended else ""
        print(f"{report.model}: flagged {flagged}; recommended {report.recommended}{also}; report in {out}")
    return 1 if report.flags else 0


if __name__ == "__main__":
    sys.exit(main())
