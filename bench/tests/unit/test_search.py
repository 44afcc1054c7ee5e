import pytest

from pantau.bench.search import Probe, SearchPlan, bracket, maximum, next_rate

PLAN = SearchPlan(start=400, factor=1.5, resolution=0.1, ceiling=3000, max_probes=8)


def search(limit: float, plan: SearchPlan = PLAN) -> list[Probe]:
    """Run the search against a stack that keeps up exactly up to ``limit``."""
    probes: list[Probe] = []
    while (rate := next_rate(probes, plan)) is not None:
        probes.append(Probe(rate=rate, kept_up=rate <= limit))
    return probes


def test_starts_at_the_start_rate_then_grows_while_it_keeps_up() -> None:
    assert next_rate([], PLAN) == 400
    assert next_rate([Probe(400, True)], PLAN) == 600


def test_bisects_between_the_last_pass_and_the_first_failure() -> None:
    assert next_rate([Probe(400, True), Probe(600, False)], PLAN) == 500


@pytest.mark.parametrize("limit", [130, 455, 1234, 2700])
def test_converges_on_the_limit_within_the_resolution(limit: float) -> None:
    probes = search(limit)
    best, failed = bracket(probes)
    assert best is not None and best <= limit
    assert failed is None or failed - best <= max(0.1 * best, 10)
    assert len(probes) <= PLAN.max_probes


def test_a_failing_start_bisects_downwards() -> None:
    probes = search(90)
    assert probes[0] == Probe(400, False) and maximum(probes) is not None
    assert maximum(probes) <= 90


def test_stops_at_the_ceiling_and_after_max_probes() -> None:
    assert maximum(search(10_000)) == 3000
    assert len(search(455, SearchPlan(start=400, max_probes=2))) == 2


def test_a_pass_above_a_failure_does_not_count() -> None:
    # Noise: 600 failed, 700 kept up; the maximum is below the lowest failure.
    assert maximum([Probe(400, True), Probe(600, False), Probe(700, True)]) == 400
