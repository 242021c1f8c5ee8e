"""Errors a user can act on.  Each is printed as one line, without a traceback."""

CONFIG_ERROR_EXIT = 2      # bad input, found before any work
TRACKING_FAILED_EXIT = 4   # the results are on disk, their MLflow record is not: not a success


class CalclabError(Exception):
    """Base class: the message is shown to the user as one line."""


class ConfigError(CalclabError):
    """Bad input found before any work: a typo'd key, a wrong type, an impossible value,
    an unsafe expression, a missing file.  The message names the key, e.g.
    ``optim.lr: must be > 0, got -0.1``."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}" if key else problem)
