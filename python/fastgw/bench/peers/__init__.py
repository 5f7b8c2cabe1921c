"""Tiny peer apps the load bench runs as separate processes (Granian RSGI apps and Node scripts).

The Python ones are started as `granian --working-dir <this directory> <module>:app`, so each is self-contained
(no fastgw import, no shared module). They read BENCH_UPSTREAM (the backend's base URL) and BENCH_POOL (the
upstream pool size).
"""
