"""Hypothesis settings for the property tests that throw arbitrary or mutated input at fastgw (issue 18, fuzzing).

A default run is short, for CI: a few seconds per test. ``FASTGW_FUZZ_EXAMPLES=N`` runs N examples per test
instead, for a long run: ``FASTGW_FUZZ_EXAMPLES=20000 pytest tests -k fuzz``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def fuzz_settings(examples: int) -> settings:
    """``examples`` by default, or ``FASTGW_FUZZ_EXAMPLES``; no deadline (the first example of a test pays for
    imports and caches), and no complaint about slow data generation."""
    return settings(
        max_examples=int(os.environ.get("FASTGW_FUZZ_EXAMPLES", examples)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
