"""Fixed-width text tables: what the records of `initialize_weights` and `lsuv` and the
diagnostics' statistics print as."""


def format_table(columns, rows):
    """Fixed-width text table: a header, a rule, then one line per row. Floats are
    shown with 4 significant digits, None as "-"."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return "-" if value is None else str(value)

    cells = [tuple(columns)] + [tuple(cell(v) for v in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class RecordTable(list):
    """A list of dataclass records that prints as a table of the fields in `COLUMNS`."""

    COLUMNS = ()

    def __str__(self):
        return format_table(self.COLUMNS, [[getattr(r, c) for c in self.COLUMNS] for r in self])

    def _repr_pretty_(self, printer, cycle):  # IPython / Jupyter
        printer.text(str(self))
