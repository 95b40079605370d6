"""What a finished run prints: its one-line result and the rows and
table of several runs side by side (`ttrnn experiment` with several
models or a group)."""

import os

from ttrnn.experiments.registry import TUNED

RESULTS = "results.json"


def summary_row(result):
    """The headline figures of a results dict, for tables."""
    metric = result["metric"]
    return {
        "experiment": result_label(result),
        "model": result["model"],
        "metric": metric,
        "value": result["metrics"].get(metric),
        "auroc": result["metrics"].get("auroc"),
        "input_to_hidden": result["weights"]["input_to_hidden"],
        "compression": result["weights"]["compression"],
        "seconds_per_epoch": result["seconds_per_epoch"],
        "paper": result["paper"].get(metric),
        "out": result["out"],
    }


def format_summary(rows):
    """A side-by-side table of `summary_row`s."""
    header = (
        f"{'experiment':<20}{'model':<9}{'metric':<9}{'value':>8}"
        f"{'2017':>8}{'weights':>12}{'compr.':>10}{'s/epoch':>9}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['experiment']:<20}{row['model']:<9}{row['metric']:<9}"
            f"{fmt(row['value']):>8}{fmt(row['paper']):>8}"
            f"{row['input_to_hidden']:>12,}"
            f"{row['compression']:>9,.0f}x"
            f"{fmt(row['seconds_per_epoch'], 2):>9}"
        )
    return "\n".join(lines)


def result_label(result):
    """`<experiment>-tuned` for a run of the tuned protocol."""
    if result["config"].get("protocol") == TUNED:
        return f"{result['experiment']}-{TUNED}"
    return result["experiment"]


def one_line(result):
    metric = result["metric"]
    value = result["metrics"].get(metric)
    weights = result["weights"]
    paper = result["paper"].get(metric)
    line = f"{result_label(result)} {result['model']}: {metric} {fmt(value)}"
    if "metrics_std" in result:
        line += f" +- {fmt(result['metrics_std'].get(metric))}"
    if paper is not None:
        line += f" (2017: {fmt(paper)})"
    # A rank-adapted run counts the weights at its adapted ranks.
    adapted = " at adapted ranks" if "rank_schedule" in result else ""
    line += (
        f"; input-to-hidden {weights['input_to_hidden']:,} weights{adapted} "
        f"({weights['compression']:,.0f}x input-map compression); "
        f"{fmt(result['seconds_per_epoch'], 2)} s/epoch -> "
        f"{os.path.join(result['out'], RESULTS)}"
    )
    return line


def fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"
