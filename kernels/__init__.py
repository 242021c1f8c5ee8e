"""calclab kernels: pure numba functions on float64 arrays. No config, no I/O, no runner imports."""
import os as _os

from kernels import _cache

# numba's cache checks a function against its own file; kernels inline helpers across files, so
# every cached kernel here is checked against the whole package (see kernels/_cache.py)
_cache.register(_os.path.dirname(__file__))
