"""Shell completion for ``python -m runner`` as for ``calclab`` (bash).

Hydra's own bash completion recognises ``python script.py`` and an installed command, not
``python -m runner``, and completes a config group's files but not those in its subfolders
(``+experiment=seed/...``).  ``python -m runner -sc install=bash`` prints a completion
function bound to ``calclab``, ``python`` and ``python3`` (a ``python`` line that is not
``python -m runner`` falls back to the shell's default completion); a query names the
program ``calclab`` for Hydra, and a value of a group with subfolders is completed here.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Optional

PROGRAM = re.compile(r"^\s*\S*python[0-9.]*\s+-m\s+runner(?=\s|$)")

BASH = r'''_calclab_completion()
{
    local words=($COMP_LINE) helper
    if [ "${words[0]}" == "calclab" ]; then
        helper="calclab"
    elif [ "${words[1]}" == "-m" ] && [ "${words[2]}" == "runner" ]; then
        helper="${words[0]} -m runner"
    else
        return
    fi
    local word="${COMP_LINE##* }"
    local choices=$(COMP_POINT=$COMP_POINT COMP_LINE="$COMP_LINE" $helper -sc query=bash 2>/dev/null)
    COMPREPLY=($(compgen -o nospace -o default -W "$choices" -- "$word"))
}
COMP_WORDBREAKS=${COMP_WORDBREAKS//=}
COMP_WORDBREAKS=$COMP_WORDBREAKS complete -o nospace -o default -F _calclab_completion calclab python python3'''


def conf_root() -> Path:
    import conf

    return Path(conf.__file__).parent


def nested_options(word: str, root: Optional[Path] = None) -> Optional[List[str]]:
    """Completions of ``[+~]GROUP=PARTIAL`` for a group with subfolders (every config file
    below it, as ``sub/name``); None when Hydra's own completion applies."""
    match = re.match(r"^([+~]?)([\w/]+)=(.*)$", word)
    if not match:
        return None
    prefix, group, partial = match.groups()
    folder = (root or conf_root()) / group
    if not folder.is_dir() or not any(p.is_dir() and not p.name.startswith("_") for p in folder.iterdir()):
        return None
    names = sorted(str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.yaml"))
    return [f"{prefix}{group}={n}" for n in names if n.startswith(partial)]


def handle(argv: List[str]) -> bool:
    """Serve ``-sc install=bash`` and a bash query here (True), or leave it to Hydra (False,
    with the query's line rewritten so that Hydra sees ``calclab``)."""
    if len(argv) != 2 or argv[0] not in ("-sc", "--shell-completion"):
        return False
    if argv[1] == "install=bash":
        print(BASH)
        return True
    if not argv[1].startswith("query="):
        return False
    line = PROGRAM.sub("calclab", os.environ.get("COMP_LINE", ""))
    os.environ["COMP_LINE"] = line
    options = nested_options(line.split(" ")[-1])
    if options is None:
        return False
    print(" ".join(options))
    return True
