"""What every agent adapter shares: what an agent kind can do, as data the policy reads.

The runner and the failure policy never test an agent kind's name; they ask its
`Capabilities`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an agent kind can do, as far as the runner's policy is concerned."""

    # It can continue a session it started (after a usage limit, a failed check, `continues`,
    # an interruption), so the work done so far is not started again.
    resume: bool = False
    # It takes a `permission-mode` (Claude Code's), recorded in the state.
    permission_modes: bool = False
    # How to log in again, said when an attempt could not authenticate (the run halts).
    login: str = ""
