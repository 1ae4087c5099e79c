"""Lambda's init phase without the cyclic garbage collector's rescans.

The handler's init (its imports, the settings, the clients) builds some hundred
thousand objects, nearly all of which live as long as the environment: modules,
classes, pydantic and botocore models. Python's cyclic collector runs every 700
new container objects and rescans the older generations as they grow, so while
init builds them it collects a few hundred times, two of them full passes over
everything, and finds almost no garbage: about a fifth of the init's CPU time.
``long_lived_init`` pauses it while init runs, then freezes what init built into
the collector's permanent generation (``gc.freeze``), so that no later
collection, on any call, rescans them either.

Freezing keeps what init built out of the collector's reach for good: objects
are still freed by their reference counts, only a reference cycle that init left
behind is never reclaimed (about a thousand small objects, once per
environment).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_init() -> Iterator[None]:
    """Run the block with the collector paused; if it succeeds, freeze what exists then.

    The collector is enabled again afterwards (unless it was already off), also
    when the block raises; nothing is frozen then.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if was_enabled:
            gc.enable()
