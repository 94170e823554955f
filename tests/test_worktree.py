"""The pure rules of per-task worktrees (engine.run.worktree) and the `worktree` setting."""

from __future__ import annotations

import pytest

from engine.plan.settings import SettingError, parse_setting
from engine.run import worktree


def test_branch_names_git_would_refuse_are_found_before_the_run() -> None:
    assert worktree.branch_problem("F1") is None
    assert worktree.branch_problem("api.v1-x_2") is None
    for bad in ("a..b", "x.", "x.lock"):
        assert f"cannot name its git branch (nova/{bad})" in (worktree.branch_problem(bad) or "")


def test_the_workdir_keeps_its_place_relative_to_the_repository() -> None:
    repo = worktree.Repo("/src/app", "abc")
    assert worktree.workdir_in(repo, "/s/wt/F1", "/src/app") == "/s/wt/F1"
    assert worktree.workdir_in(repo, "/s/wt/F1", "/src/app/web/ui") == "/s/wt/F1/web/ui"


def test_sources_are_the_dependencies_with_worktrees_in_plan_order() -> None:
    uses = {"A": True, "B": False, "C": True}
    assert worktree.sources(("C", "B", "A"), uses) == ["nova/C", "nova/A"]
    assert worktree.sources((), uses) == []


def test_leaves_are_branches_no_other_done_branch_builds_on() -> None:
    dependents = {"A": ("B", "C"), "B": ("D",), "C": (), "D": ()}
    assert worktree.leaves(["A", "B", "C"], dependents) == ["nova/B", "nova/C"]
    assert worktree.leaves(["A"], dependents) == ["nova/A"]  # B and C are not done


def test_worktree_setting_is_on_or_off() -> None:
    assert parse_setting("worktree", "on") == ("worktree", True)
    assert parse_setting("Worktree", "No") == ("worktree", False)
    with pytest.raises(SettingError, match="worktree 'maybe' is not on or off"):
        parse_setting("worktree", "maybe")


def test_every_git_command_line_runs_in_its_directory_with_the_identity_before_it() -> None:
    """`git -c … -C <where> <args>`: the `-c` options must come before the subcommand."""
    repo = worktree.Repo("/r", "abc", worktree.IDENTITY)
    assert worktree.git("/w", "status") == ["git", "-C", "/w", "status"]
    assert worktree.merge_command(repo, "/w", ["nova/A"]) == [
        "git",
        *worktree.IDENTITY,
        "-C",
        "/w",
        "merge",
        "--quiet",
        "--no-edit",
        "nova/A",
    ]
    assert worktree.add_command(repo, "B", "/wt/B", False, "abc") == [
        "git",
        "-C",
        "/r",
        "worktree",
        "add",
        "--quiet",
        "-b",
        "nova/B",
        "/wt/B",
        "abc",
    ]
