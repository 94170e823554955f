"""`nova run` killed with SIGKILL at the worst moments, again and again, then run to the end:
no finished task runs again, no attempt number is given out twice, and every raw log holds
what one agent printed (all of it if the attempt finished, a prefix if it was killed).

The agents are tests/e2e/agents/steady.py: each prints its pid first, keeps a copy of all it
prints, and records its start and its end in files of the test's own.
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.e2e.agents.harness import (
    Nova,
    agent_cmd,
    out_dir,
    read_state,
    run_nova,
    status_json,
    wait_until,
    write_cascade,
)

ROUNDS = 12
CHAIN = [f"T{i:02d}" for i in range(ROUNDS + 2)]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_sigkill_as_one_agent_ends_and_the_next_starts_redoes_nothing_and_reuses_no_number(
    tmp_path: Path,
) -> None:
    """A chain T00 → T01 → …: each round nova is SIGKILLed the moment T(r+1)'s agent starts,
    just after T(r)'s ended. `nova status` then shows T(r) done; the last run finishes. Every
    task's agent finished exactly once, each raw log holds one process's output, and a
    finished attempt's raw log is byte for byte what its agent printed."""
    out = out_dir(tmp_path)
    rows = [(t, CHAIN[i - 1] if i else "-") for i, t in enumerate(CHAIN)]
    write_cascade(
        tmp_path,
        rows,
        settings={
            "agent": "command",
            "command": agent_cmd("steady.py", str(out), "{id}"),
            "retries": "0",
        },
    )
    for r in range(ROUNDS):
        ended, starting = CHAIN[r], CHAIN[r + 1]
        (out / "trigger").write_text(starting)
        nova = Nova(tmp_path, "run", "-j", "2", "--grace", "1", name=f"nova{r}")
        try:
            flag = out / f"{starting}.triggered"
            wait_until(
                lambda: flag.exists() or nova.proc.poll() is not None,  # noqa: B023  # awaited here
                f"{starting}'s agent to start (round {r})",
            )
            nova.proc.send_signal(signal.SIGKILL)
            assert nova.wait() == -signal.SIGKILL, nova.stderr()
        finally:
            nova.kill()
        tasks = status_json(tmp_path)["tasks"]
        assert tasks[ended]["status"] == "done", (r, tasks[ended])
        assert tasks[starting]["status"] == "running", (r, tasks[starting])
    (out / "trigger").unlink()
    last = run_nova(tmp_path, "run", "-j", "2")
    assert last.returncode == 0, last.stdout[-2000:] + last.stderr[-2000:]

    tasks = read_state(tmp_path)["tasks"]
    assert {t: s["status"] for t, s in tasks.items()} == {t: "done" for t in CHAIN}
    redone = {t: n for t in CHAIN if (n := len(_lines(out / f"{t}.done"))) != 1}
    assert redone == {}, "tasks whose agent finished more or less than once"
    raw = tmp_path / "logs" / "raw"
    seen_pids: dict[str, str] = {}
    for t in CHAIN:
        attempts = tasks[t]["attempts"]
        # The killed ones ran twice (attempt 1 killed, attempt 2 finished); the others once.
        assert attempts == len(_lines(out / f"{t}.runs")), (t, attempts)
        for n in range(1, attempts + 1):
            data = (raw / f"{t}-{n}.stdout").read_bytes()
            pids = [line for line in data.decode().splitlines() if line.startswith("pid ")]
            assert len(pids) <= 1, f"{t}-{n}.stdout holds the output of {len(pids)} processes"
            if not pids:  # killed before nova read a byte of it
                assert data == b"", (t, n, data)
                assert n < attempts, (t, n, data)
                continue
            pid = pids[0].split()[1]
            assert pid not in seen_pids, (t, n, seen_pids[pid])
            seen_pids[pid] = f"{t}-{n}"
            printed = (out / f"{t}.{pid}.out").read_bytes()
            if n == attempts:
                assert data == printed, f"{t}-{n}.stdout is not what its agent printed"
            else:
                assert printed.startswith(data), f"{t}-{n}.stdout is not a prefix of the output"
