"""The argument types of the `ttrnn` command: each parses one option's
text and raises `argparse.ArgumentTypeError` with the expected form."""

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

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = -1
        if value < low:
            kind = "a number" if allow_zero else "a positive number"
            raise argparse.ArgumentTypeError(
                f"expected {kind} of {what} ({low} or more). Received: {text!r}"
            )
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def learning_rate(text):
    """A positive number, `sweep`, or comma-separated candidates."""
    if text == "sweep":
        return text
    try:
        rates = [float(part) for part in text.split(",")]
    except ValueError:
        rates = [0.0]
    if not all(0 < rate < float("inf") for rate in rates):
        raise argparse.ArgumentTypeError(
            "expected a positive number like 0.001, 'sweep', or "
            f"candidates like 1e-3,1e-4. Received: {text!r}"
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
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a fraction from 0 to below 1, like 0.25. "
            f"Received: {text!r}"
        )
    return value


def folds(text):
    if text == "all":
        return None
    try:
        folds = [int(f) for f in text.split(",")]
    except ValueError:
        folds = []
    if not folds or any(not 0 <= f < 5 for f in folds):
        raise argparse.ArgumentTypeError(
            "expected 'all' or fold numbers from 0 to 4 (5-fold "
            f"cross-validation) like 0 or 0,1. Received: {text!r}"
        )
    return folds
