"""wrk's report read back, and the slices of a measurement combined into one result."""

from __future__ import annotations

from fastgw.bench import wrk


def report(requests: int, seconds: float, p50: str, p99: str, non_2xx: int = 0, timeouts: int = 0) -> str:
    text = (
        "Running 2s test @ http://127.0.0.1:1/pets/42\n"
        "  1 threads and 64 connections\n"
        "  Latency Distribution\n"
        f"     50%  {p50}\n"
        "     75%    1.90ms\n"
        f"     99%  {p99}\n"
        f"  {requests} requests in {seconds:.2f}s, 1.00MB read\n"
    )
    if timeouts:
        text += f"  Socket errors: connect 0, read 0, write 0, timeout {timeouts}\n"
    if non_2xx:
        text += f"  Non-2xx or 3xx responses: {non_2xx}\n"
    return text + f"Requests/sec:  {requests / seconds:.2f}\nTransfer/sec:      1.00MB\n"


def test_a_report_is_read() -> None:
    result = wrk.parse(["wrk"], 0, report(80_000, 2.0, "1.50ms", "3.20ms", non_2xx=3, timeouts=2))
    assert result.requests == 80_000 and result.requests_per_sec == 40_000
    assert result.p50 is not None and result.p50.us == 1500 and result.p50.text == "1.50ms"
    assert result.p99 is not None and result.p99.us == 3200
    assert result.non_2xx_3xx == 3 and result.socket_error_count == 2


def test_slices_combine_into_requests_over_time_with_errors_summed_and_median_percentiles() -> None:
    slices = [
        wrk.parse(["wrk", "-d2s"], 0, report(80_000, 2.0, "1.50ms", "3.00ms")),
        wrk.parse(["wrk", "-d2s"], 0, report(60_000, 2.0, "2.00ms", "9.00ms", non_2xx=1)),
        wrk.parse(["wrk", "-d2s"], 0, report(70_000, 2.0, "900us", "4.00ms", timeouts=4)),
    ]
    combined = wrk.combine(slices)
    assert combined.ok
    assert combined.requests == 210_000 and combined.requests_per_sec == 35_000  # not the mean of the rates
    assert combined.p50 is not None and combined.p50.text == "1.50ms"
    assert combined.p99 is not None and combined.p99.text == "4.00ms"
    assert combined.non_2xx_3xx == 1 and combined.socket_errors["timeout"] == 4


def test_a_failed_slice_fails_the_combination() -> None:
    good = wrk.parse(["wrk"], 0, report(80_000, 2.0, "1.50ms", "3.00ms"))
    failed = wrk.parse(["wrk"], 1, "unable to connect to 127.0.0.1:1 Connection refused\n")
    combined = wrk.combine([good, failed])
    assert not combined.ok and combined.requests_per_sec is None and combined.exit_code == 1
