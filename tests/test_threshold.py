"""The AnyRes threshold's one parser, as the CLI, the sweep and the lmms-eval plugin use it."""

from __future__ import annotations

import argparse

import pytest

from ov_bench.commands.flags import threshold
from ov_bench.threshold import parse_threshold, threshold_key


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("none", None),
        ("None", None),
        ("null", None),
        ("", None),
        (" none ", None),
        (729, 729),
        ("729", 729),
        (" 6561 ", 6561),
        (6561.0, 6561),
        (1, 1),
    ],
)
def test_accepted(value, expected):
    assert parse_threshold(value) == expected


@pytest.mark.parametrize("value", [0, -5, "0", "-5", "lots", "7.5", 7.5, True, False, [729]])
def test_refused_with_one_line(value):
    with pytest.raises(ValueError) as info:
        parse_threshold(value)
    assert "\n" not in str(info.value) and "positive integer or 'none'" in str(info.value)


def test_cli_type_and_stored_key_agree():
    assert threshold("2916") == 2916 and threshold("none") is None
    with pytest.raises(argparse.ArgumentTypeError):
        threshold("0")
    assert threshold_key(None) == "none" and threshold_key(6561) == "6561"
