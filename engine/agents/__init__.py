"""Agent adapters: the only code that knows an agent CLI's flags and output.

An agent kind is one `Agent` (see `engine.agents.base`), registered here by its name. The
built-in kinds are Claude Code (the default) and any command; another kind (a test's, a
plugin's) is one `register` call away, with no change to the runner.
"""

from __future__ import annotations

from engine.agents.base import Agent, Capabilities
from engine.agents.claude import ClaudeAgent
from engine.agents.command import CommandAgent
from engine.errors import ConfigError
from engine.plan.settings import suggest

DEFAULT = "claude"  # the kind of a task whose settings name none
_REGISTRY: dict[str, Agent] = {}


def register(agent: Agent) -> None:
    """Make `agent` the adapter of its kind (a kind registered again is replaced)."""
    _REGISTRY[agent.kind] = agent


def unregister(kind: str) -> None:
    """Forget the adapter of `kind` (a test's, once the test is over)."""
    _REGISTRY.pop(kind, None)


def kinds() -> tuple[str, ...]:
    """The registered kinds, in the order they were registered."""
    return tuple(_REGISTRY)


def get(kind: str | None) -> Agent:
    """The adapter of `kind` (the default for None); ConfigError for a kind not registered."""
    agent = _REGISTRY.get(kind or DEFAULT)
    if agent is None:
        known = kinds()
        raise ConfigError(
            f"agent '{kind}' is not one of {', '.join(known)}.{suggest(kind or '', known)}"
        )
    return agent


def capabilities(kind: str | None) -> Capabilities:
    """What the agent kind `kind` can do (nothing special for a kind it does not know)."""
    agent = _REGISTRY.get(kind or DEFAULT)
    return agent.capabilities if agent is not None else Capabilities()


register(ClaudeAgent())
register(CommandAgent())
