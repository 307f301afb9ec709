"""The benchmarks' percentile (bench.common.percentile): the nearest-rank definition."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.common import percentile


def test_p99_of_a_hundred_leaves_out_the_slowest() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 0.99) == 99.0
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 1.0) == 100.0


def test_p99_of_two_hundred_leaves_out_the_two_slowest() -> None:
    samples = [float(n) for n in range(200, 0, -1)]
    assert percentile(samples, 0.99) == 198.0


@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=300),
    st.floats(min_value=0.001, max_value=1.0),
)
def test_nearest_rank(samples: list[float], q: float) -> None:
    value = percentile(samples, q)
    at_or_below = sum(1 for s in samples if s <= value)
    below = sum(1 for s in samples if s < value)
    assert value in samples
    assert at_or_below >= q * len(samples) - 1e-6
    assert below < q * len(samples)


@pytest.mark.parametrize(("samples", "q"), [([], 0.5), ([1.0], 0.0), ([1.0], 1.5)])
def test_refuses_what_has_no_percentile(samples: list[float], q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile(samples, q)
