"""`worktree: on`: each task works in a git worktree of its own, on branch nova/<ID>, made from
its dependencies' branches; nova commits what the agent changed. Real git, real `nova`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.agents.harness import read_state, run_nova

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

# Each agent writes <ID>.txt and overwrites shared.txt, then lists what its checkout holds.
AGENT = "sh -c 'echo {id} > {id}.txt; echo by {id} > shared.txt; ls > seen-by-{id}'"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def plan(repo: Path, rows: str, settings: str = "") -> None:
    (repo / "CASCADE.md").write_text(
        f"# WT\n\n- agent: command\n- command: {AGENT}\n- worktree: on\n{settings}\n"
        "## L1: Work\n\n| Task ID | Task Name | What Changes | Depends On |\n|---|---|---|---|\n"
        f"{rows}",
        encoding="utf-8",
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    git(
        tmp_path,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "start",
    )
    return tmp_path


def test_parallel_tasks_work_apart_and_a_dependent_builds_on_its_dependency(repo: Path) -> None:
    """A and B run at once in their own worktrees and both write shared.txt without touching
    each other or the main checkout; C starts from A's branch: it sees A's file, not B's."""
    plan(repo, "| A | a | x | - |\n| B | b | x | - |\n| C | c | x | A |\n")

    done = run_nova(repo, "run", "-j", "2")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "nova/B nova/C hold(s) all of it (git merge nova/B nova/C)" in done.stdout
    assert not (repo / "shared.txt").exists()
    assert not (repo / "A.txt").exists()
    assert git(repo, "status", "--porcelain", "--untracked-files=all").count("worktrees") == 0
    assert git(repo, "show", "nova/A:shared.txt") == "by A\n"
    assert git(repo, "show", "nova/B:shared.txt") == "by B\n"
    seen_by_c = git(repo, "show", "nova/C:seen-by-C").split()
    assert "A.txt" in seen_by_c
    assert "B.txt" not in seen_by_c
    assert git(repo, "log", "--format=%s", "nova/C").splitlines() == [
        "nova: C c",
        "nova: A a",
        "start",
    ]
    task = read_state(repo)["tasks"]["C"]
    assert task["workdir"] == str(repo / "state" / "worktrees" / "C")


def test_dependencies_whose_branches_conflict_fail_the_task_naming_the_file(repo: Path) -> None:
    """D builds on A and B, which both changed shared.txt: D fails before its agent runs, the
    merge is left for the user; once resolved and committed, the next run does D."""
    plan(repo, "| A | a | x | - |\n| B | b | x | - |\n| D | d | x | A, B |\n")

    failed = run_nova(repo, "run")

    assert failed.returncode == 1, failed.stdout + failed.stderr
    d = read_state(repo)["tasks"]["D"]
    where = repo / "state" / "worktrees" / "D"
    assert (d["status"], d["failure"], d["attempts"]) == ("failed", "permanent", 0)
    assert d["reason"] == (
        f"the branches it builds on (nova/A, nova/B) conflict in shared.txt. Resolve that in "
        f"{where} and commit there, then run nova again."
    )
    (where / "shared.txt").write_text("by A and B\n")
    git(where, "add", "shared.txt")
    git(where, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--no-edit")

    again = run_nova(repo, "run")

    assert again.returncode == 0, again.stdout + again.stderr
    assert git(repo, "show", "nova/D:shared.txt") == "by D\n"
    assert {"A.txt", "B.txt"} <= set(git(repo, "show", "nova/D:seen-by-D").split())


def test_a_plan_outside_a_git_repository_is_refused_before_anything_runs(tmp_path: Path) -> None:
    plan(tmp_path, "| A | a | x | - |\n")

    done = run_nova(tmp_path, "run")

    assert done.returncode == 2
    assert done.stderr == (
        f"Error: task 'A' has worktree: on, but its workdir {tmp_path} is not in a git "
        "repository. Run 'git init' and commit there, or turn worktree off.\n"
    )
    assert not (tmp_path / "A.txt").exists()


def test_a_worktree_planted_as_a_link_to_another_checkout_is_refused(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """state/worktrees/A linked to a checkout elsewhere: refused (exit 2), nothing done there."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    git(elsewhere, "init", "-q")
    plan(repo, "| A | Alpha | a | - |\n")
    (repo / "state" / "worktrees").mkdir(parents=True)
    (repo / "state" / "worktrees" / "A").symlink_to(elsewhere)

    done = run_nova(repo, "run")

    assert done.returncode == 2, done.stderr
    assert "state/worktrees/A is a symbolic link" in done.stderr
    assert "rm state/worktrees/A" in done.stderr
    assert sorted(p.name for p in elsewhere.iterdir()) == [".git"]
