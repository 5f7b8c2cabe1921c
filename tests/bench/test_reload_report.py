"""The reload bench's table: keep-alive connections the old worker closed are counted apart from failed requests."""

from __future__ import annotations

from fastgw.bench import reload


def test_read_errors_are_closed_keep_alive_connections_and_other_errors_are_failures() -> None:
    row = {
        "new_table_answers_s": 3.1, "old_worker_gone_s": 4.1, "requests": 100_000, "non_2xx_3xx": 0,
        "p99_us": 7100.0,
    }  # fmt: skip
    document = {
        "routes": 10_000,
        "start_to_first_answer_s": 2.4,
        "connections": 16,
        "reloads": [
            {**row, "reload": 1, "socket_errors": {}},
            {**row, "reload": 2, "socket_errors": {"connect": 0, "read": 16, "write": 0, "timeout": 0}},
            {**row, "reload": 3, "socket_errors": {"connect": 1, "read": 2, "write": 0, "timeout": 3}},
        ],
    }
    text = reload.markdown(document)
    assert "| 1 | 3.10 s | 4.10 s | 100,000 | 0 | 0 | 0 | 7.1 ms |" in text
    assert "| 2 | 3.10 s | 4.10 s | 100,000 | 0 | 16 | 0 | 7.1 ms |" in text
    assert "| 3 | 3.10 s | 4.10 s | 100,000 | 0 | 2 | 4 | 7.1 ms |" in text
    assert "RFC 9112 §9.3.1" in text
