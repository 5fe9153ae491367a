"""The pure part of `hotline bench replicas` (the full bench starts PostgreSQL
and two servers: not a test)."""
from bench.bench_replicas import latency_summary


def test_latency_summary_reports_median_p99_max_and_writes_over_a_second():
    seconds = [0.1 + i / 1000 for i in range(99)] + [1.5]
    s = latency_summary(seconds)
    assert s == {"writes": 100, "median_ms": 149.5, "p99_ms": 198.0, "max_ms": 1500.0,
                 "over_1s": 1}


def test_latency_summary_of_no_writes_is_empty_not_an_error():
    assert latency_summary([]) == {"writes": 0, "median_ms": None, "p99_ms": None,
                                   "max_ms": None, "over_1s": 0}
