"""Agent adapters: the only code that knows an agent CLI's flags and output."""

from __future__ import annotations

from engine.agents.base import Capabilities

_CAPABILITIES = {
    "claude": Capabilities(
        resume=True,
        permission_modes=True,
        login="Log in with 'claude /login' or set ANTHROPIC_API_KEY",
    )
}


def capabilities(kind: str | None) -> Capabilities:
    """What the agent kind `kind` can do (nothing special for a kind it does not know)."""
    return _CAPABILITIES.get(kind or "", Capabilities())
