"""Hydra's basic sweeper with a cheaper up-front check: ``hydra/sweeper=basic``, the default.

Before launching a batch, Hydra's :class:`BasicSweeper` composes every job's config once in
the sweeping process, only to find a bad override before any job starts; the launcher then
composes each again.  Here a composition takes ~70 ms, so a 32-job sweep spent 2-3 s
checking, with any parallel workers idle.

Whether a composition succeeds depends on which configs are chosen and which keys are set,
not on the plain values they are set to: ``optim.lr=0.01`` and ``optim.lr=0.02`` both
succeed or both fail.  Jobs are therefore grouped by their *structure*, and one job per
group is composed: the structure keeps the whole override where the value matters (a config
group choice such as ``optim=adam``, a deletion ``~key=value``, anything under ``hydra.``,
whose nodes are typed, and list or dict values, which merge into the config) and only the
key, the kind of override (``key=``, ``+key=``, ``++key=``) and the value's type otherwise.
``optim=gd,adam optim.lr=1e-3,1e-2,1e-1`` is checked with two compositions instead of six;
a key that exists only under one of the optimizers is still caught, before any job starts.

Everything else is Hydra's ``BasicSweeper`` (``max_batch_size``, ``params``, the order of
the jobs, ``multirun.yaml``).  :func:`register` (called by ``python -m runner``) puts this
sweeper's config in Hydra's ConfigStore as ``hydra/sweeper/basic`` in place of Hydra's own,
so that presets may still pick another sweeper (the first defaults-list override of a group
wins, so ours could not be an override in ``config.yaml``).  ``hydra.sweeper.check=all``
composes every job, as Hydra does.
"""
from __future__ import annotations

from typing import Dict, Hashable, List, Optional, Sequence, Tuple

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.types import Override
from hydra.plugins.sweeper import Sweeper

from hydra_plugins.calclab_sweeper import precheck


CHECKS = ("structures", "all")


# A plain node, not a dataclass: Hydra's plugin scan executes this module before it is in
# sys.modules, where @dataclass fails.
CONFIG = {"_target_": "hydra_plugins.calclab_sweeper.basic_sweeper.CalclabBasicSweeper",
          "max_batch_size": None, "params": None,
          "check": "structures"}   # structures: one job per structure (see above); all: every job


def register() -> None:
    """``hydra/sweeper=basic`` (Hydra's default sweeper) becomes this one."""
    ConfigStore.instance().store(group="hydra/sweeper", name="basic", node=CONFIG,
                                 provider="calclab")


class CalclabBasicSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 check: str = "structures") -> None:
        if check not in CHECKS:
            raise ValueError(f"hydra.sweeper.check: must be one of {', '.join(CHECKS)}, got {check!r}")
        self.check = check
        # BasicSweeper.__init__'s own body, without its super(BasicSweeper, self): Hydra's plugin
        # scan executes its core plugin modules a second time, which rebinds that name to a
        # class this one may not derive from.
        Sweeper.__init__(self)
        self.overrides = None
        self.batch_index = 0
        self.max_batch_size = max_batch_size
        self.params = params or {}
        self.hydra_context = None
        self.config = None
        self.launcher = None

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Compose one job per structure (see the module docstring) instead of every job;
        then calclab's own check (precheck.py): a config error of every job stops the sweep."""
        firsts = batch if self.check == "all" else representatives(batch, self._is_group)
        super().validate_batch_is_legal(firsts)
        precheck.check_batch(batch, firsts, lambda o: self.hydra_context.config_loader.load_sweep_config(self.config, o))

    def _is_group(self, key: str) -> bool:
        loader = self.hydra_context.config_loader
        repository = getattr(loader, "repository", None)
        # Without a repository to ask, treat every key as a group: every job is then checked.
        return True if repository is None else repository.group_exists(key)


def representatives(batch: Sequence[Sequence[str]], is_group) -> List[Sequence[str]]:
    """The first job of each structure in ``batch``, in batch order."""
    parser = OverridesParser.create()
    first: Dict[Tuple[Hashable, ...], Sequence[str]] = {}
    for overrides in batch:
        key = tuple(structure(o, is_group) for o in parser.parse_overrides(list(overrides)))
        first.setdefault(key, overrides)
    return list(first.values())


def structure(override: Override, is_group) -> Hashable:
    """What of one override can decide whether its job's config composes."""
    value = override.value()
    whole = (override.is_delete() or override.key_or_group.split(".", 1)[0] == "hydra"
             or isinstance(value, (list, dict)) or is_group(override.key_or_group))
    kind = (override.type, override.key_or_group, override.package)
    return (*kind, override.get_value_element_as_str()) if whole else (*kind, type(value).__name__)
