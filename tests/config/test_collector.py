"""The garbage collector is paused while a load builds its objects, and left as it was found."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from fastgw.config.collector import collector_paused


@pytest.fixture
def collector_on() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.enable()
    yield
    if not was_enabled:
        gc.disable()


@pytest.mark.usefixtures("collector_on")
def test_the_collector_is_off_inside_and_on_again_after() -> None:
    @collector_paused()
    def load() -> bool:
        return gc.isenabled()

    assert load() is False
    assert gc.isenabled()
    assert gc.get_count()[1] == 0  # the young generations were collected at the end: what was built is old


@pytest.mark.usefixtures("collector_on")
def test_the_collector_is_on_again_after_an_error() -> None:
    with pytest.raises(ValueError, match="bad"), collector_paused():
        raise ValueError("bad")
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_a_collector_turned_off_by_the_caller_stays_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
