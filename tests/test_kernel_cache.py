"""numba's on-disk cache is checked against the whole kernels package (kernels/_cache.py): a
cached kernel that inlines a helper from another file is recompiled when that file changes,
where numba alone would keep running the old helper."""
import os
import subprocess
import sys
import time

import pytest

HELPER = """
from numba import njit

@njit(cache=True, inline="always")
def helper(x):
    return x + {value}
"""
CALLER = """
from numba import njit
from {pkg}.helpers import helper

@njit(cache=True)
def caller(x):
    return helper(x)
"""
INIT_REGISTERED = "import os\nfrom kernels import _cache\n_cache.register(os.path.dirname(__file__))\n"


def _package(root, name, registered):
    pkg = root / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(INIT_REGISTERED if registered else "")
    (pkg / "helpers.py").write_text(HELPER.format(value=1.0))
    (pkg / "callers.py").write_text(CALLER.format(pkg=name))
    return pkg


def _call(root, name):
    code = f"from {name}.callers import caller; print(caller(1.0)); print(sum(caller.stats.cache_hits.values()))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.getcwd()])}
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.returncode == 0, out.stderr
    value, hits = out.stdout.split()
    return float(value), int(hits)


@pytest.mark.parametrize("registered", [True, False])
def test_a_changed_helper_in_another_file_recompiles_its_cached_callers(tmp_path, registered):
    name = "pkg_registered" if registered else "pkg_plain"
    pkg = _package(tmp_path, name, registered)
    assert _call(tmp_path, name)[0] == 2.0
    assert _call(tmp_path, name) == (2.0, 1)       # loaded from the cache
    time.sleep(0.01)
    (pkg / "helpers.py").write_text(HELPER.format(value=100.0))
    value, _ = _call(tmp_path, name)
    if registered:
        assert value == 101.0
    else:   # numba's own behaviour, which the package stamp exists to fix: the old helper, silently
        assert value == 2.0


def test_the_kernels_package_is_registered():
    import kernels
    from kernels import _cache, descent

    locator = descent.descend._cache._impl.locator
    assert type(locator).__name__.startswith("Package")
    assert locator.get_source_stamp() == _cache.package_stamp(os.path.dirname(kernels.__file__))
