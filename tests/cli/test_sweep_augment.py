"""``sklpoison sweep``: the CNN main job trains with random crops by default (issue 15)."""

import pytest

from sklpoison.cli import _sweep


@pytest.mark.parametrize(
    "model, choice, expected",
    [
        ("cnn", None, "crop"),  # the paper's augmentation without the flips (digits)
        ("mlp", None, False),
        ("krr", None, False),
        ("cnn", "none", False),
        ("cnn", "both", True),
        ("cnn", "flip", "flip"),
        ("mlp", "crop", "crop"),
    ],
)
def test_resolve_augment(model, choice, expected):
    assert _sweep.resolve_augment(model, choice) == expected


def test_cnn_model_gets_the_default_augmentation():
    pytest.importorskip("skorch")
    import argparse

    sub = argparse.ArgumentParser().add_subparsers()
    parser = _sweep.add_parser(sub)
    args = parser.parse_args(["--model", "cnn"])
    assert args.augment is None
    model = _sweep.make_model("cnn", augment=_sweep.resolve_augment("cnn", args.augment))
    assert model.augment == "crop"
    args = parser.parse_args(["--model", "cnn", "--augment", "none"])
    assert (
        _sweep.make_model("cnn", augment=_sweep.resolve_augment("cnn", args.augment)).augment
        is False
    )
    # the default sweep (kernel ridge) is unchanged
    assert type(_sweep.make_model("krr")).__name__ == "GradRegKRRClassifier"
