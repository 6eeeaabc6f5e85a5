"""Optional dependencies: what needs them, and how to install them.

The package needs Keras and numpy only. Figures (the doctor's `doctor.png`,
`diagnostics.plots`, the coordinate check's plot) need matplotlib, the extra
`plots`: `pip install "keras-paper-initializers[plots]"`.
"""

# The distribution's name on pip's side (pyproject.toml's `project.name`).
DISTRIBUTION = "keras-paper-initializers"


def matplotlib_figure_class():
    """`matplotlib.figure.Figure`, or an ImportError that says how to install matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(f"Figures need matplotlib, an optional dependency: pip install "
                          f"\"{DISTRIBUTION}[plots]\" (or pip install matplotlib).") from error
    return Figure
