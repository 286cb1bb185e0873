import pytest

from bench.stats import cdf, knee, percentile, ratio, summary


def test_percentile_interpolates_between_closest_ranks():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10], 99) == 10
    assert percentile([3, 1, 2], 0) == 1
    assert percentile([3, 1, 2], 100) == 3
    assert percentile(list(range(101)), 90) == 90


@pytest.mark.parametrize("samples, p, message", [([], 50, "empty"), ([1], 101, "outside"), ([1], -1, "outside")])
def test_percentile_refuses_nonsense(samples, p, message):
    with pytest.raises(ValueError, match=message):
        percentile(samples, p)


def test_summary_of_a_sample_and_of_nothing():
    s = summary([4, 1, 3, 2])
    assert s == {"count": 4, "min": 1, "mean": 2.5, "p50": 2.5, "p90": pytest.approx(3.7), "p99": pytest.approx(3.97),
                 "max": 4}
    assert summary([]) == {"count": 0}


def test_cdf_is_bounded_monotonic_and_ends_at_one():
    xs, ys = cdf(range(10_000), points=100)
    assert len(xs) <= 102
    assert xs == sorted(xs) and ys == sorted(ys)
    assert xs[-1] == 9999 and ys[-1] == 1.0
    assert cdf([]) == ([], [])
    assert cdf([5]) == ([5], [1.0])


def test_ratio_handles_missing_sides():
    assert ratio(2, 4) == 0.5
    assert ratio(None, 4) is None
    assert ratio(1, 0) is None


def test_knee_is_the_last_step_within_the_limit():
    steps = [{"load": 1, "loss": 0.0}, {"load": 2, "loss": 0.004}, {"load": 3, "loss": 0.02}, {"load": 4, "loss": 0.0}]
    assert knee(steps, "loss", 0.005) == {"load": 2, "loss": 0.004}
    assert knee(steps[2:3], "loss", 0.005) is None
