"""Blog post case 1: SimpleMLP on Shapeset-3x2 with He, Glorot and the Keras default.

    python -m reproductions.blog_cases                    # quick profile, ./workdirs/blog_case1
    python -m reproductions.blog_cases --plot-only        # redraw from the logs only

Writes `runs/*/` (one folder per run), `case1_curves.png` and `summary.md` into
the workdir. See `reproductions/configs/blog_case1.py` for the setting.
"""

import pathlib

from reproductions import driver, plots
from reproductions.configs import blog_case1
from reproductions.report import summary_markdown
from reproductions.runs import final_summary


def redraw(workdir, profile, configs, runs):
    """`case1_curves.png` and `summary.md` from the loaded run folders."""
    names = [c.name for c in configs]
    setting = runs[0]["config"]
    title = (f"Case 1: SimpleMLP({setting['model_kwargs']['input_dim']}, "
             f"{setting['model_kwargs']['hidden_dim']}, {setting['model_kwargs']['output_dim']}) "
             f"on {setting['dataset']}, SGD momentum lr {setting['learning_rate']}, "
             f"batch {setting['batch_size']} ({profile} profile)")
    plots.plot_error_curves(runs, pathlib.Path(workdir) / "case1_curves.png", title, names)
    table = summary_markdown(final_summary(runs, names))
    summary = (f"Final errors after {setting['steps']} updates ({setting['dataset']}, test set of "
               f"{setting['eval_examples']} examples):\n\n{table}\n")
    (pathlib.Path(workdir) / "summary.md").write_text(summary)
    return summary


def main(argv=None):
    driver.run_driver(argv, __doc__, blog_case1, "workdirs/blog_case1", redraw)


if __name__ == "__main__":
    main()
