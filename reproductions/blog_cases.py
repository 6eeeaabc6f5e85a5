"""Blog post case 1: SimpleMLP on Shapeset-3x2 with He, Glorot and the Keras default.

    python -m reproductions.blog_cases                    # quick profile, ./workdirs/blog_case1
    python -m reproductions.blog_cases --plot-only        # redraw from the logs only

Writes `runs/*/` (one folder per run), `case1_curves.png` and `summary.md` into
the workdir. See `reproductions/configs/blog_case1.py` for the setting.
"""

import pathlib

from reproductions import cli, harness, plots
from reproductions.configs import blog_case1


def redraw(workdir, configs):
    """Figure and summary table from the run folders in `workdir`."""
    names = [c.name for c in configs]
    runs = plots.load_runs(workdir)
    if not runs:
        raise SystemExit(f"error: no finished runs in {workdir}/runs; run without --plot-only first")
    setting = runs[0]["config"]
    title = (f"Case 1: SimpleMLP({setting['model_kwargs']['input_dim']}, "
             f"{setting['model_kwargs']['hidden_dim']}, {setting['model_kwargs']['output_dim']}) "
             f"on {setting['dataset']}, SGD momentum lr {setting['learning_rate']}, "
             f"batch {setting['batch_size']}")
    figure = plots.plot_error_curves(runs, pathlib.Path(workdir) / "case1_curves.png", title, names)
    table = plots.summary_markdown(plots.final_summary(runs, names))
    steps = setting["steps"]
    summary = f"Final errors after {steps} updates ({setting['dataset']}, test set of " \
              f"{setting['eval_examples']} examples):\n\n{table}\n"
    (pathlib.Path(workdir) / "summary.md").write_text(summary)
    return figure, summary


def main(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_common_arguments(parser, blog_case1.PROFILES, blog_case1.DEFAULT_PROFILE,
                             "workdirs/blog_case1")
    args = parser.parse_args(argv)
    configs, seeds = blog_case1.get_experiment(args.profile, args.dataset, args.data_dir)
    seeds = args.seeds or seeds
    if not args.plot_only:
        cli.exit_on_unavailable_dataset(
            lambda: harness.sweep(configs, seeds, args.workdir, verbose=not args.quiet,
                                  tensorboard=args.tensorboard))
    figure, summary = redraw(args.workdir, configs)
    if not args.quiet:
        print(f"\n{summary}\nfigure: {figure}")


if __name__ == "__main__":
    main()
