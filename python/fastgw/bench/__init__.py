"""The load benchmark of shared/bench/PROTOCOL.md: fastgw beside its peers, one CPU for the gateway under test.

Run it as `python -m fastgw.bench` (see benches/load/README.md). The pieces: `scenarios` (what is requested),
`gateways` (the registry of peers: config, command line, requirements), `runner` (the rounds), `wrk` (the load
generator and its report), `report` (canary rule, medians, ratios, results.md / results.json).
"""

from fastgw.bench.cli import main

__all__ = ["main"]
