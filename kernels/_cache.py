"""numba's on-disk cache, checked against a whole package instead of one file.

numba stamps a cached function with its own source file only.  Kernels inline helpers from
other modules (``inline="always"``: descent's ``_norm`` and ``_record`` in ``descent_fast`` and
``train_fast``, mlp's activations and losses in ``train_fast``), and LLVM inlines plain calls
too, so an edit to a helper left every cached caller in another file running the old code, with
no error: a ``git pull`` or an upgrade could silently change nothing, or half of something.

For the functions of a registered package directory the locators below return one stamp for
the whole directory (a hash of every ``.py`` file in it), so any edit recompiles every cached
kernel of the package, once.  Everything else keeps numba's own locators.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache

from numba.core import caching

_PACKAGES: list[str] = []       # absolute directories whose functions get the package stamp


def _sources(directory: str) -> tuple:
    return tuple(sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size)
                        for e in os.scandir(directory) if e.name.endswith(".py") and e.is_file()))


@lru_cache(maxsize=None)
def _hash(directory: str, sources: tuple) -> bytes:
    """Hash of the files' names and contents (memoised on their names, mtimes and sizes, so a file
    changed while the process runs is read again)."""
    h = hashlib.sha256()
    for name, _, _ in sources:
        with open(os.path.join(directory, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read() + b"\0")
    return h.digest()


def package_stamp(directory: str) -> bytes:
    directory = os.path.abspath(directory)
    return _hash(directory, _sources(directory))


def _package_of(py_file: str):
    d = os.path.dirname(os.path.abspath(py_file))
    return d if d in _PACKAGES else None


def _package_locator(base):
    class PackageLocator(base):
        _calclab = True

        @classmethod
        def from_function(cls, py_func, py_file):
            if _package_of(py_file) is None:
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return package_stamp(_package_of(self._py_file))

    PackageLocator.__name__ = PackageLocator.__qualname__ = "Package" + base.__name__.lstrip("_")
    return PackageLocator


def _numba(*names):
    for name in names:
        if hasattr(caching, name):
            return getattr(caching, name)
    raise AttributeError(f"numba.core.caching has none of {names}")


def register(directory: str) -> None:
    """Give the cached functions of the modules in ``directory`` the stamp of the whole directory.
    Call before those modules are imported (their decorators pick the locator)."""
    d = os.path.abspath(directory)
    if d not in _PACKAGES:
        _PACKAGES.append(d)
    impl = _numba("CacheImpl", "_CacheImpl")
    if not any(getattr(c, "_calclab", False) for c in impl._locator_classes):
        user = _numba("UserProvidedCacheLocator", "_UserProvidedCacheLocator")   # NUMBA_CACHE_DIR
        in_tree = _numba("InTreeCacheLocator", "_InTreeCacheLocator")            # __pycache__
        user_wide = _numba("UserWideCacheLocator", "_UserWideCacheLocator")      # ~/.cache (read-only installs)
        impl._locator_classes = [*map(_package_locator, (user, in_tree, user_wide)), *impl._locator_classes]
