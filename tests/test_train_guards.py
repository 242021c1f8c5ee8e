"""task=train refuses impossible data before any work and stops a run whose loss explodes."""
import pytest

from runner import app
from runner.errors import ConfigError
from runner.result import DIVERGED
from runner.train.data import DATA_SCHEMAS, available_memory
from tests.conftest import compose


@pytest.mark.parametrize("override,key", [("data.d=0", "data.d"), ("data.d=-3", "data.d"),
                                          ("data.n=10000000000", "data.n")])
def test_impossible_data_is_refused_before_any_work(tmp_path, override, key):
    cfg = compose(["task=train", "data=linear", override, "tracking=none", "quiet=true"])
    with pytest.raises(ConfigError) as err:
        app.execute(cfg, tmp_path / "run")
    assert err.value.key == key and not (tmp_path / "run").exists()


def test_the_memory_refusal_names_the_bytes_needed_against_what_is_available():
    available = available_memory()
    assert available is not None and available > 0
    rows = available // (3 * 8 * 3) + 1                # 2 features + the target, 3 copies: just too many
    with pytest.raises(ConfigError) as err:
        DATA_SCHEMAS["linear"](n=rows, d=2).check()
    assert err.value.key == "n" and f"{3 * 8 * rows * 3:,} bytes" in err.value.problem
    DATA_SCHEMAS["linear"](n=available // (3 * 8 * 3) // 4, d=2).check()    # a quarter of that fits


def test_a_training_loss_that_explodes_is_diverged(tmp_path):
    """Adam with lr=1000 on moons: the loss grows from ~0.7 by orders of magnitude."""
    cfg = compose(["task=train", "optim=adam", "optim.lr=1000", "tracking=none", "quiet=true"])
    result = app.execute(cfg, tmp_path / "run")
    assert result.status == DIVERGED and "diverged" in result.message
    assert app.EXIT_CODES[result.status] == 3
