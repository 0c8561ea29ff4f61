"""The load gate's verdict: a p95 more than 20% above its baseline, or over 0.5% of requests failed, fails."""

from __future__ import annotations

from pathlib import Path

from benchmarks.load.gate import judge, read_stats

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
    "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)


def _csv(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "run_stats.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def _row(kind: str, name: str, count: int, failures: int, p95: int) -> str:
    return f"{kind},{name},{count},{failures},10,12,1,900,0,5.0,0.0,10,11,12,13,14,{p95},{p95},{p95},{p95},{p95},{p95}"


def test_the_stats_are_read_per_name_without_the_aggregate(tmp_path: Path) -> None:
    stats = read_stats(
        _csv(
            tmp_path,
            _row("TURN", "turn", 400, 1, 250),
            _row("POST", "/v1/conversations", 16, 0, 40),
            _row("", "Aggregated", 416, 1, 240),
        )
    )
    assert stats == {
        "TURN turn": {"requests": 400.0, "failures": 1.0, "p95_ms": 250.0},
        "POST /v1/conversations": {"requests": 16.0, "failures": 0.0, "p95_ms": 40.0},
    }


def test_within_twenty_percent_and_few_failures_passes() -> None:
    baseline = {"TURN turn": {"requests": 400.0, "failures": 0.0, "p95_ms": 250.0}}
    assert judge({"TURN turn": {"requests": 1000.0, "failures": 5.0, "p95_ms": 300.0}}, baseline) == []


def test_a_slower_p95_or_too_many_failures_fails() -> None:
    baseline = {"TURN turn": {"requests": 400.0, "failures": 0.0, "p95_ms": 250.0}}
    slower = judge({"TURN turn": {"requests": 1000.0, "failures": 0.0, "p95_ms": 301.0}}, baseline)
    assert slower == ["TURN turn: p95 301 ms > 1.20 x 250 ms"]
    failing = judge({"TURN turn": {"requests": 1000.0, "failures": 6.0, "p95_ms": 200.0}}, baseline)
    assert failing == ["6 of 1000 requests failed (limit 0.5%)"]
    assert judge({}, baseline) == ["no requests were made"]
    assert judge({"GET /x": {"requests": 5.0, "failures": 0.0, "p95_ms": 1.0}}, baseline) == ["TURN turn: not measured"]
