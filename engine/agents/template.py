"""Command templates: an agent command or a check, split into words, placeholders filled.

Shared by the command agent (`--agent-cmd`, `command:`) and every task's `check:`; never run
through a shell, so a task name with spaces or quotes stays one argument.
"""

from __future__ import annotations

import difflib
import functools
import re
import shlex
from collections.abc import Mapping

from engine.errors import ConfigError

PLACEHOLDERS = ("id", "name", "prompt_file", "cascade_dir", "attempt")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_BRACED = re.compile(r"\{([A-Za-z][A-Za-z_-]*)\}")


def placeholder_values(
    task_id: str, prompt_file: str, name: str = "", cascade_dir: str = "", attempt: int = 1
) -> dict[str, str]:
    """What `{id}`, `{name}`, `{prompt_file}`, `{cascade_dir}` and `{attempt}` stand for."""
    return {
        "id": task_id,
        "name": name,
        "prompt_file": prompt_file,
        "cascade_dir": cascade_dir,
        "attempt": str(attempt),
    }


def command_argv(
    template: str, values: Mapping[str, str], what: str = "agent command"
) -> tuple[str, ...]:
    """Split a command template as a shell would split words, then fill its placeholders.

    Placeholders are filled after splitting, so a task name with spaces or quotes stays one
    argument and can never inject another. `what` names the template in errors.
    """
    fill = lambda m: values[m.group(1)]  # noqa: E731
    words = split_command(template, what)
    return tuple(_PLACEHOLDER.sub(fill, w) if "{" in w else w for w in words)


_EXAMPLES = {
    "agent command": "--agent-cmd 'python3 agent.py {id} {prompt_file}'",
    "check command": "'- check: pytest -q tests/test_{id}.py'",
}


@functools.lru_cache(maxsize=64)
def split_command(template: str, what: str = "agent command") -> tuple[str, ...]:
    """The words of a command template (split once per template, not once per task)."""
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise ConfigError(f"{what} '{template}' cannot be split into words: {exc}.") from None
    if not words:
        raise ConfigError(
            f"the {what} is empty. Give a program to run, like {_EXAMPLES.get(what, '')}."
        )
    for word in words:
        for name in _BRACED.findall(word):
            close = difflib.get_close_matches(name.lower(), PLACEHOLDERS, n=1, cutoff=0.6)
            if name not in PLACEHOLDERS and close:  # `{idd}`: a typo, not a literal
                raise ConfigError(
                    f"{what} '{template}' has the placeholder {{{name}}}, which nova does not "
                    f"fill in. Did you mean {{{close[0]}}}? The placeholders are "
                    f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}."
                )
    return tuple(words)
