"""A word while numba compiles: the first run of a kernel compiles it for up to a minute or
more (then it is cached on disk, ``kernels/_cache.py``), which would otherwise be silence.

numba announces each compilation it starts (``numba:compile`` events; a function loaded from
the on-disk cache is not announced), so the notice appears only when something really
compiles: a line on stderr, then a counter of compiled kernels with the elapsed time.
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

NOTICE = "compiling kernels (first run, cached afterwards)"


class _CompileNotice:
    """numba event listener: a progress counter from the first compilation on."""

    def __init__(self, stream):
        from numba.core import event

        class Listener(event.Listener):
            def on_start(listener, ev):
                self.started()

            def on_end(listener, ev):
                self.ended()

        self.listener, self.stream = Listener(), stream
        self.bar, self.depth, self.lock = None, 0, threading.Lock()

    def started(self) -> None:
        with self.lock:
            self.depth += 1
            if self.bar is None:
                from tqdm.auto import tqdm

                self.bar = tqdm(desc=NOTICE, unit=" kernels", file=self.stream, leave=False,
                                mininterval=0.5, bar_format="{desc}: {n} compiled [{elapsed}]")
                self.bar.refresh()

    def ended(self) -> None:
        with self.lock:
            self.depth -= 1
            if self.bar is not None and self.depth == 0:   # a kernel with the helpers it compiled
                self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def compile_notice(enabled: bool = True, stream=None):
    """Show :data:`NOTICE` with a counter while anything inside compiles (nothing otherwise)."""
    if not enabled:
        yield
        return
    from numba.core import event

    notice = _CompileNotice(stream or sys.stderr)
    try:
        with event.install_listener("numba:compile", notice.listener):
            yield notice
    finally:
        notice.close()
