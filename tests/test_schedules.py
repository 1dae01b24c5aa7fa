"""The learning rate at chosen steps of every original-training schedule (docs/science.md)."""

from __future__ import annotations

import math

import pytest

from landscape.hparams import TrainHparams
from landscape.training import lr_schedule

SPE = 10  # steps per epoch


def sched(**kw):
    return lr_schedule(TrainHparams(**{"length": "100", **kw}), SPE)


def test_constant():
    s = sched(schedule="constant", lr=0.3)
    assert [s(t) for t in (0, 50, 99)] == [0.3, 0.3, 0.3]


def test_step_drops_at_milestones_in_steps_and_epochs():
    s = sched(schedule="step", lr=0.1, milestones="5ep,80", gamma=0.1)
    assert s(49) == pytest.approx(0.1)
    assert s(50) == pytest.approx(0.01)
    assert s(79) == pytest.approx(0.01)
    assert s(80) == pytest.approx(0.001)
    assert s(150) == pytest.approx(0.001)  # past T: the final value


def test_cosine_with_warmup():
    s = sched(schedule="cosine", lr=1.0, warmup="10", milestones="")
    assert s(0) == pytest.approx(0.1)  # linear warm-up (t+1)/W
    assert s(9) == pytest.approx(1.0)
    assert s(10) == pytest.approx(1.0)  # cosine starts at the peak
    assert s(55) == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert s(99) == pytest.approx(0.5 * (1 + math.cos(math.pi * 89 / 90)))
    assert s(500) == s(99)


def test_linear_decay():
    s = sched(schedule="linear", lr=0.2, milestones="")
    assert s(0) == pytest.approx(0.2)
    assert s(50) == pytest.approx(0.1)
    assert s(99) == pytest.approx(0.2 * (1 - 99 / 100))


def test_resnet20_recipe_steps():
    s = lr_schedule(
        TrainHparams(lr=0.1, schedule="step", milestones="31200,46800", length="62400"), 390
    )
    assert (s(31199), s(31200), s(46800), s(62399)) == pytest.approx((0.1, 0.01, 0.001, 0.001))


def test_warmup_not_shorter_than_training_is_an_error():
    with pytest.raises(ValueError, match="warmup"):
        sched(warmup="100")
