"""Nothing let in: the real `nova` writes through no planted link, makes its files private, and
never hangs on a FIFO or a device where it expects a file.

Each test plants something in a temporary project (a link from a file nova writes to a file
outside, a FIFO, a link to /dev/zero), runs the real command with command agents, and checks
that the outside file is as it was and that nova either refused at once (exit 2, a message
naming the file and the fix) or wrote a file of its own in place of the link. Every nova here
runs with a bound on its memory and a deadline, so a hang or a runaway read fails the test
instead of the machine.
"""

from __future__ import annotations

import os
import resource
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.agents.harness import run_nova, write_cascade

DEADLINE = 60.0  # for a whole run on a loaded machine; a hang takes it all
REFUSAL = 30.0  # for nova to refuse its input, with nothing started
MEMORY = 2 << 30  # address space of nova: a runaway read of /dev/zero dies at it, not the machine
OUTSIDE = b"outside the project: nova must not touch this\n"
# Prints its prompt (to stdout) and a line to stderr, so both raw logs are written.
AGENT = "sh -c 'cat {prompt_file}; echo progress >&2'"


def _limits() -> None:
    os.umask(0o022)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def nova(cwd: Path, *args: str, deadline: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    """`nova ARGS` in cwd under umask 022 and a memory bound; TimeoutExpired if it hangs."""
    return run_nova(cwd, *args, timeout=deadline, preexec_fn=_limits)


def project(tmp_path: Path) -> tuple[Path, Path]:
    """A project with one task A whose agent reads its prompt file, and a file outside it."""
    proj = tmp_path / "proj"
    proj.mkdir()
    write_cascade(proj, [("A", "-")], settings={"agent": "command", "command": AGENT})
    outside = tmp_path / "outside.txt"
    outside.write_bytes(OUTSIDE)
    return proj, outside


def plant(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def assert_refused(done: subprocess.CompletedProcess[str], *named: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("Error: "), done.stderr
    for text in named:
        assert text in done.stderr, done.stderr


# --------------------------------------------------------------------------
# links planted where nova writes


@pytest.mark.parametrize(
    ("planted", "fix"),
    [
        ("state/run.lock", "rm state/run.lock"),
        ("logs/.run.lock", "rm logs/.run.lock"),
        ("logs/A.log", "rm logs/A.log"),
        ("logs/raw/A-1.stdout", "rm logs/raw/A-1.stdout"),
        ("state/state.json", "mv state/state.json state/state.json.bad"),
    ],
)
def test_a_link_planted_where_nova_writes_is_refused_and_its_target_kept(
    tmp_path: Path, planted: str, fix: str
) -> None:
    """A link from a lock, a log, a raw log or the state to a file outside: refused, exit 2."""
    proj, outside = project(tmp_path)
    plant(proj / planted, outside)

    done = nova(proj, "run")

    assert_refused(done, f"{planted} is a symbolic link (to {outside})", fix)
    assert outside.read_bytes() == OUTSIDE


def test_a_link_planted_as_the_prompt_file_is_replaced_by_nova_s_own_file(tmp_path: Path) -> None:
    """state/prompts/A.md linked outside: nova writes its own prompt file; the target is kept."""
    proj, outside = project(tmp_path)
    prompt = proj / "state" / "prompts" / "A.md"
    plant(prompt, outside)

    done = nova(proj, "run")

    assert done.returncode == 0, done.stderr
    assert outside.read_bytes() == OUTSIDE
    assert not prompt.is_symlink()
    assert "change A" in prompt.read_text()
    assert "change A" in (proj / "logs" / "raw" / "A-1.stdout").read_text()


def test_a_link_planted_as_the_space_reserve_is_replaced_not_grown(tmp_path: Path) -> None:
    """state/.space-reserve linked outside: the outside file is not grown to 1 MiB."""
    proj, outside = project(tmp_path)
    plant(proj / "state" / ".space-reserve", outside)

    done = nova(proj, "run")

    assert done.returncode == 0, done.stderr
    assert outside.read_bytes() == OUTSIDE


@pytest.mark.parametrize("planted", ["state", "logs"])
def test_a_project_s_state_or_logs_dir_that_links_outside_is_refused(
    tmp_path: Path, planted: str
) -> None:
    """`state/` or `logs/` in the project that is a link to a directory outside: refused."""
    proj, _ = project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plant(proj / planted, elsewhere)

    done = nova(proj, "run")

    assert_refused(done, f"{planted} is a symbolic link to {elsewhere}", f"--{planted}-dir")
    assert list(elsewhere.iterdir()) == []


def test_a_state_dir_named_on_purpose_may_be_a_link(tmp_path: Path) -> None:
    """--state-dir naming a link is the user's choice: the run uses it."""
    proj, _ = project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plant(proj / "state", elsewhere)

    done = nova(proj, "run", "--state-dir", "state")

    assert done.returncode == 0, done.stderr
    assert (elsewhere / "state.json").is_file()


@pytest.mark.parametrize("planted", ["logs/raw", "state/prompts", "state/worktrees"])
def test_a_directory_nova_makes_that_is_a_link_is_refused(tmp_path: Path, planted: str) -> None:
    """logs/raw, state/prompts or state/worktrees linked to a directory outside: refused."""
    proj, _ = project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plant(proj / planted, elsewhere)

    done = nova(proj, "run")

    assert_refused(done, planted, "symbolic link", f"rm {planted}")
    assert list(elsewhere.iterdir()) == []


# --------------------------------------------------------------------------
# modes


def _modes(root: Path) -> dict[str, str]:
    found = {}
    for where, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(where, name)
            found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    found["."] = oct(stat.S_IMODE(root.stat().st_mode))
    return found


def test_every_file_nova_makes_is_0600_in_0700_directories_under_umask_022(
    tmp_path: Path,
) -> None:
    """After a run (a retry, so two attempts), everything under logs/ and state/ is private."""
    proj, _ = project(tmp_path)
    write_cascade(
        proj,
        [("A", "-")],
        settings={
            "agent": "command",
            "command": "sh -c 'cat {prompt_file}; echo progress >&2; exit 1'",
            "retries": "1",
            "retry-delay": "0.05s",
        },
    )

    done = nova(proj, "run")

    assert done.returncode == 1, done.stderr
    for root in ("logs", "state"):
        modes = _modes(proj / root)
        for name, mode in modes.items():
            wanted = "0o700" if (proj / root / name).is_dir() else "0o600"
            assert mode == wanted, f"{root}/{name} is {mode}: {modes}"
    assert (proj / "logs" / "raw" / "A-2.stderr").exists()  # both attempts were written
    assert (proj / "state" / "prompts" / "A.md").exists()


def test_a_log_left_readable_by_others_is_closed_to_them(tmp_path: Path) -> None:
    """logs/A.log that an older nova made 0644 is 0600 once the run appends to it."""
    proj, _ = project(tmp_path)
    log = proj / "logs" / "A.log"
    log.parent.mkdir()
    log.write_text("an older run\n")
    log.chmod(0o644)

    done = nova(proj, "run")

    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert log.read_text().startswith("an older run\n")


# --------------------------------------------------------------------------
# what is not a regular file never hangs nova


def _fifo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)


def _link_to(device: str) -> Callable[[Path], None]:
    return lambda path: plant(path, Path(device))


NOT_FILES = {
    "fifo": (_fifo, "a FIFO"),
    "zero": (_link_to("/dev/zero"), "a character device through a symbolic link"),
    "urandom": (_link_to("/dev/urandom"), "a character device through a symbolic link"),
}


@pytest.mark.parametrize("kind", ["fifo", "zero", "urandom"])
@pytest.mark.parametrize("command", ["status", "run"])
def test_a_state_file_that_is_not_a_file_ends_nova_with_exit_2(
    tmp_path: Path, kind: str, command: str
) -> None:
    """state/state.json as a FIFO or a link to /dev/zero or /dev/urandom: exit 2, at once."""
    proj, _ = project(tmp_path)
    make, _ = NOT_FILES[kind]
    make(proj / "state" / "state.json")

    done = nova(proj, command, deadline=REFUSAL)

    what = "a FIFO" if kind == "fifo" else "a symbolic link"
    assert_refused(done, "state/state.json is", what, "mv state/state.json state/state.json.bad")


@pytest.mark.parametrize("kind", ["fifo", "zero", "urandom"])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_plan_that_is_not_a_file_ends_nova_with_exit_2(
    tmp_path: Path, kind: str, command: str
) -> None:
    """A FIFO, or a link to /dev/zero or /dev/urandom, given as the plan: exit 2, at once."""
    proj, _ = project(tmp_path)
    make, what = NOT_FILES[kind]
    make(proj / "plan.md")

    done = nova(proj, command, "plan.md", deadline=REFUSAL)

    assert_refused(done, "plan.md: cannot be read", what, "not a regular file")


def test_the_plan_may_be_a_link_to_a_file(tmp_path: Path) -> None:
    """A plan that is a link to a real CASCADE.md is read as usual."""
    proj, _ = project(tmp_path)
    plant(proj / "plan.md", proj / "CASCADE.md")

    done = nova(proj, "validate", "plan.md")

    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_task_log_that_is_not_a_file_ends_nova_logs_with_exit_2(
    tmp_path: Path, kind: str
) -> None:
    """`nova logs A` when logs/A.log is a FIFO or a link to /dev/zero: exit 2, at once."""
    proj, _ = project(tmp_path)
    make, _ = NOT_FILES[kind]
    make(proj / "logs" / "A.log")

    done = nova(proj, "logs", "A", deadline=REFUSAL)

    what = "a FIFO" if kind == "fifo" else "a symbolic link"
    assert_refused(done, "logs/A.log is", what, "rm logs/A.log")


def test_a_fifo_planted_as_a_task_log_does_not_hang_the_run(tmp_path: Path) -> None:
    """logs/A.log as a FIFO (nothing reads it): the run refuses it at once, exit 2."""
    proj, _ = project(tmp_path)
    _fifo(proj / "logs" / "A.log")

    done = nova(proj, "run", deadline=REFUSAL)

    assert_refused(done, "logs/A.log is a FIFO", "rm logs/A.log")
