"""Guards benchmarks/records.py from rotting: a tiny run on both backends gives every figure, and
the indicators over its synthetic year are consistent. No wall-clock figure is asserted."""

from __future__ import annotations

from benchmarks import records as bench
from tests.records.conftest import PG_BASE


def test_a_tiny_records_benchmark_reports_every_figure_on_both_backends():
    results = bench.run(3000, engine_calls=100, write_n=500, postgres=PG_BASE)
    assert results["meta"]["git_revision"]
    assert set(results["engine"]) == {
        "us_per_call_without_sink",
        "us_per_call_with_sink",
        "sink_us_per_call",
        "sink_hooks_us_per_call",
    }
    for kind in ("sqlite", "postgresql"):
        figures = results[kind]
        assert figures["write_records_per_s"] > 0
        queries = figures["queries"]
        assert queries["by_day_one_month"]["rows"] == 30
        assert queries["by_hour_one_day"]["rows"] > 0
        assert queries["by_skill_one_year"]["rows"] == len(bench.SKILLS)
        assert queries["export_one_month"]["records"] > 0
    same = ("rows", "records")
    for name, figures in results["sqlite"]["queries"].items():
        other = results["postgresql"]["queries"][name]
        assert {k: figures[k] for k in same if k in figures} == {k: other[k] for k in same if k in other}
