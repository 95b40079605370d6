"""The argument types of the `ttrnn` command: each parses one option's
text and raises `argparse.ArgumentTypeError` with the expected form. Also
the options several commands share (`add_verbose`)."""

import argparse


def shape(text):
    """'120x160' or '120,160' -> (120, 160)."""
    values = integers(text)
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected positive integers like 120x160 or 8,20,20,18. "
            f"Received: {text!r}"
        )
    return values


def ranks(text):
    """'4' -> 4; '1,4,4,4,1' -> (1, 4, 4, 4, 1)."""
    values = integers(text)
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            "expected TT ranks: positive integers, one for every inner "
            "cut (e.g. 4) or one a cut (e.g. 1,4,4,4,1). "
            f"Received: {text!r}"
        )
    return values[0] if len(values) == 1 else values


def names(text):
    """'tt, dense' -> ['tt', 'dense'] (empty parts dropped); `None` when
    none is left (the command's default)."""
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    return chosen or None


def integers(text):
    """'8,20x3' -> (8, 20, 3); () when a part is not an integer."""
    parts = text.replace("x", ",").split(",")
    try:
        return tuple(int(p) for p in parts if p.strip())
    except ValueError:
        return ()


def count(what, allow_zero=False):
    """An argparse type: a positive integer (or zero, with `allow_zero`),
    the message naming `what`."""
    low = 0 if allow_zero else 1
    kind = "a number" if allow_zero else "a positive number"

    def parse(text):
        return _checked(
            text, int, lambda v: v >= low, f"{kind} of {what} ({low} or more)"
        )

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def learning_rate(text):
    """A positive number, `sweep`, or comma-separated candidates."""
    if text == "sweep":
        return text
    rates = _checked(
        text,
        lambda t: [float(part) for part in t.split(",")],
        lambda rates: all(0 < rate < float("inf") for rate in rates),
        "a positive number like 0.001, 'sweep', or candidates like 1e-3,1e-4",
    )
    return rates[0] if len(rates) == 1 else rates


def positive_number(text):
    """A number > 0, e.g. a compression ratio."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a positive number like 10. Received: {text!r}"
        )
    return value


def fraction(text):
    """A number from 0 to below 1 (a dropout rate)."""
    return _checked(
        text,
        float,
        lambda v: 0 <= v < 1,
        "a fraction from 0 to below 1, like 0.25",
    )


def input_precision(text):
    """'float32' or 'bfloat16' (`ttrnn.tt.contraction.precision`)."""
    return _checked(
        text,
        str,
        lambda v: v in ("float32", "bfloat16"),
        "float32 or bfloat16",
    )


def folds(text):
    """'all' ([0, 1, 2, 3, 4]: all five, also where an experiment runs
    fewer by default) or fold numbers 0 to 4: '0,1' -> [0, 1]."""
    if text == "all":
        return list(range(5))
    return _checked(
        text,
        lambda t: [int(f) for f in t.split(",")],
        lambda folds: all(0 <= f < 5 for f in folds),
        "'all' or fold numbers from 0 to 4 (5-fold cross-validation) like "
        "0 or 0,1",
    )


def _checked(text, parse, valid, expected):
    """`parse(text)` when it parses and is `valid`, else the error that
    says what was expected."""
    try:
        value = parse(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise argparse.ArgumentTypeError(
            f"expected {expected}. Received: {text!r}"
        )
    return value


def add_verbose(parser, printed):
    """Adds `--verbose` (training logs, default 1) to `parser`; `printed`
    says what prints at every level, e.g. "the results are"."""
    parser.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="training logs: 0 none, 1 progress bars, 2 a line an epoch "
        f"({printed} printed at every level)",
    )
