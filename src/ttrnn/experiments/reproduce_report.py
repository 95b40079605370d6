"""The files of `ttrnn reproduce`: `table.md`, `table.json`, `table.png`.

`write` takes the report of `reproduce.reproduce` (the table's rows, what
was shrunk, the settings) and writes our figures beside the 2017 ones:
a Markdown table, the same content as JSON with the machine, and grouped
bars (ours vs 2017; skipped, with one line saying so, without
matplotlib).
"""

import datetime
import json
import os
import platform

TABLE_MD = "table.md"
TABLE_JSON = "table.json"
TABLE_PNG = "table.png"
# 2017 figures that are not metrics.
_NOT_METRICS = ("input_to_hidden", "first_layer", "seconds_per_epoch")


def machine():
    """Where the table was made: platform, CPU model and cores, Python,
    Keras and its backend, the devices, the date (UTC)."""
    import keras

    from ttrnn import distribution

    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "devices": distribution.topology(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
    }


def cpu_model():
    """The CPU's model name (Linux: /proc/cpuinfo), else the platform's
    processor string, else `None`."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def write(out, report, plot=True):
    """Writes `table.md`, `table.json` and (with `plot` and matplotlib)
    `table.png` to `out`; prints the table and the files.

    Returns:
        The paths written.
    """
    os.makedirs(out, exist_ok=True)
    text = markdown(report)
    paths = [os.path.join(out, TABLE_MD), os.path.join(out, TABLE_JSON)]
    with open(paths[0], "w", encoding="utf-8") as file:
        file.write(text)
    if plot:
        png = os.path.join(out, TABLE_PNG)
        try:
            draw(report, png)
            paths.append(png)
        except ImportError:
            print("matplotlib is not installed: the plot was skipped.")
    report = dict(report, files=paths)
    temporary = f"{paths[1]}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(report, file, indent=2)
        file.write("\n")
    os.replace(temporary, paths[1])
    print(text)
    print("wrote " + ", ".join(paths))
    return paths


def markdown(report):
    """The report as Markdown: a header (machine, settings, what was
    shrunk) and the table."""
    m = report["machine"]
    lines = [
        f"# {report['table']}: {report['reproduces']}",
        "",
        f"`ttrnn reproduce {report['table']}`, {m['date']}: Keras "
        f"{m['keras']} ({m['backend']}), {m['cpu']} ({m['cores']} cores), "
        f"{m['platform']}.",
        "",
    ]
    if report["shrunk"]:
        lines += [
            f"**Not the paper's settings: {'; '.join(report['shrunk'])}.** "
            "The figures do not compare directly with 2017's.",
            "",
        ]
    if report["table"] == "table1":
        lines += _table1(report["rows"])
    else:
        lines += _settings(report["settings"]) + [""] + _runs(report["rows"])
    return "\n".join(lines) + "\n"


def _settings(settings):
    """One line: protocol, seed, and epochs and folds, by experiment
    where they differ."""
    seeds = settings["seeds"]
    seed = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
    parts = [f"protocol `{settings['protocol']}`", seed]
    grouped = {}
    for name, s in settings["experiments"].items():
        epochs = f"{s['epochs']} epoch{'s' if s['epochs'] != 1 else ''}"
        if s["folds"] is not None:
            epochs += f", folds {', '.join(map(str, s['folds']))}"
        grouped.setdefault(epochs, []).append(name)
    for text, names in grouped.items():
        parts.append(
            text if len(grouped) == 1 else f"{text} ({', '.join(names)})"
        )
    return ["Settings: " + "; ".join(parts) + "."]


def _table1(rows):
    labels = list(dict.fromkeys(r["label"] for r in rows))
    lines = [
        "Input-to-hidden weights, ours (counted on the built layers) / "
        "2017 (the paper's Table 1); dense: 57,600 x 256 = 14,745,600 a "
        "gate.",
        "",
        "| rank | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    for rank in dict.fromkeys(r["rank"] for r in rows):
        cells = [
            f"{r['ours']:,} / {r['paper']:,}"
            + ("" if r["ours"] == r["paper"] else " (differs)")
            for r in rows
            if r["rank"] == rank
        ]
        lines.append(f"| {rank} | " + " | ".join(cells) + " |")
    return lines


def extra_metrics(rows):
    """Metrics other than the headline one that 2017 reported (e.g. NIPS
    2003's AUROC), in order of appearance."""
    keys = {}
    for row in rows:
        for key in row["paper"]:
            if key not in _NOT_METRICS and key != row["metric"]:
                keys[key] = None
    return list(keys)


def _runs(rows):
    extras = extra_metrics(rows)
    header = ["experiment", "model", "metric", "ours", "2017"]
    for key in extras:
        header += [f"{key} ours", f"{key} 2017"]
    header += [
        "input-to-hidden",
        "2017",
        "s/epoch",
        "2017",
        "epochs",
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
    ]
    for row in rows:
        cells = [
            row["experiment"],
            row["model"],
            row["metric"],
            _value(row["value"], row["spread"], _runs_of(row)),
            _num(row["paper_value"]),
        ]
        for key in extras:
            cells += [
                _num(row["metrics"].get(key)),
                _num(row["paper"].get(key)),
            ]
        cells += [
            _count(row["input_to_hidden"]),
            _count(row["paper_input_to_hidden"]),
            _num(row["seconds_per_epoch"], 2),
            _count(row["paper_seconds_per_epoch"]),
            ", ".join(map(str, dict.fromkeys(row["epochs_done"]))),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "ours: the test metric after the last epoch, mean ± standard "
        "deviation over the folds and seeds where there are several; "
        "input-to-hidden: weights of the first layer's kernel (TT cores "
        "or dense); s/epoch: median training seconds an epoch (2017: a "
        "4-core Xeon E7-4850 v2 CPU); epochs: epochs trained; -: not "
        "reported.",
    ]
    return lines


def _runs_of(row):
    """'5 folds', '3 seeds' or '10 runs' (folds and seeds)."""
    folds = len(set(row["folds"]))
    seeds = len(set(row["seeds"]))
    if seeds == 1:
        return f"{folds} folds"
    return f"{seeds} seeds" if folds == 1 else f"{len(row['values'])} runs"


def _value(value, spread, runs):
    if value is None:
        return "-"
    if spread is None:
        return f"{value:.3f}"
    return f"{value:.3f} ± {spread:.3f} ({runs})"


def _num(value, digits=3):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.{digits}f}"
    return "-" if value is None else str(value)  # a 2017 "00:01:22"


def _count(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:,}"
    return "-" if value is None else str(value)


def draw(report, path):
    """Grouped bars, ours vs 2017: the headline metric of each row (one
    panel a metric) or, for `table1`, the weights of each layer by rank.

    Raises:
        ImportError: without matplotlib.
    """
    from ttrnn.experiments.plots import pyplot

    plt = pyplot()
    rows = report["rows"]
    if report["table"] == "table1":
        fig = _draw_table1(plt, rows)
    else:
        metrics = list(dict.fromkeys(r["metric"] for r in rows))
        fig, axes = plt.subplots(
            1,
            len(metrics),
            figsize=(max(5.0, 1.1 * len(rows)) * len(metrics) ** 0.5, 4),
            squeeze=False,
        )
        several = len({r["experiment"] for r in rows}) > 1
        for ax, metric in zip(axes[0], metrics):
            chosen = [r for r in rows if r["metric"] == metric]
            _bars(ax, chosen, metric, several)
    title = f"ttrnn reproduce {report['table']}: ours vs 2017"
    if report["shrunk"]:
        title += f"\n(not the paper's settings: {'; '.join(report['shrunk'])})"
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _bars(ax, rows, metric, several):
    width = 0.4
    for i, row in enumerate(rows):
        ours = row["value"]
        if ours is not None:
            ax.bar(
                i - width / 2,
                ours,
                width,
                yerr=row["spread"],
                color="tab:blue",
                label="ours" if "ours" not in _labels(ax) else None,
            )
        if isinstance(row["paper_value"], (int, float)):
            ax.bar(
                i + width / 2,
                row["paper_value"],
                width,
                color="tab:gray",
                label="2017" if "2017" not in _labels(ax) else None,
            )
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(
        [
            f"{r['experiment']}\n{r['model']}" if several else r["model"]
            for r in rows
        ],
        fontsize=8,
    )
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)


def _labels(ax):
    return ax.get_legend_handles_labels()[1]


def _draw_table1(plt, rows):
    labels = list(dict.fromkeys(r["label"] for r in rows))
    ranks = list(dict.fromkeys(r["rank"] for r in rows))
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(ranks)
    for j, rank in enumerate(ranks):
        chosen = [r for r in rows if r["rank"] == rank]
        xs = [
            i + (j - (len(ranks) - 1) / 2) * width for i in range(len(chosen))
        ]
        ax.bar(xs, [r["ours"] for r in chosen], width, label=f"rank {rank}")
        ax.plot(
            xs,
            [r["paper"] for r in chosen],
            "kx",
            label="2017" if j == 0 else None,
        )
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("input-to-hidden weights")
    ax.legend(fontsize=8)
    return fig
