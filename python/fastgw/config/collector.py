"""Loading runs with the cyclic garbage collector paused.

A load builds hundreds of thousands of objects that all stay alive: the parsed document, the routes, their
compiled handlers. The collector starts on allocation counts, and while the heap grows it walks everything
already built again and again, finding nothing to free: a third of a 10,000-route load, and a growing share of
larger ones. Telling a file's kind, reading a gateway file, parsing a definition and compiling a stage each run
with the collector paused (``@collector_paused()``). At the end, one young collection looks at what the step
built and kept, and moves it to the oldest generation: left to the next young collections, it would be looked
at twice (by the youngest, then the middle one). Pause whole steps, so that what a step drops (a document
read only to tell a file's kind) is freed before that collection.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the ``with`` block (or the decorated call), then on again, after a collection of
    the two young generations; a collector that was off is left alone."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(1)
