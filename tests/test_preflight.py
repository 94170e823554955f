"""Preflight (engine.run.preflight): what makes a run refuse to start, said before any agent
runs: workdirs outside the project or missing, log and state directories that cannot hold
nova's files or hold planted links, and worktrees without git, a repository or a commit.

(The agent checks are the agent adapters' and are tested with them.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.plan.cascade import parse_cascade
from engine.plan.settings import Settings
from engine.run.preflight import (
    Places,
    check_default_dir,
    check_logs_dir,
    check_own_dirs,
    check_workdirs,
    find_repo,
    resolve_settings,
)

TABLE = "| Task ID | Task Name | What Changes | Depends On |\n|---|---|---|---|\n"


def _plan(tmp_path: Path, body: str) -> tuple[Path, str]:
    path = tmp_path / "CASCADE.md"
    text = f"# P\n\n## L1: App\n\n{body}"
    path.write_text(text)
    return path, text


def _checked(tmp_path: Path, body: str, overrides: Settings | None = None) -> None:
    path, text = _plan(tmp_path, body)
    cascade = parse_cascade(text, str(path))
    settings = resolve_settings(cascade, overrides or Settings())
    check_workdirs(cascade, settings, Places(path, tmp_path / "state"))


def test_a_workdir_inside_the_project_that_exists_passes(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _checked(tmp_path, f"- workdir: sub\n\n{TABLE}| A | a | x | - |\n")


def test_a_workdir_outside_the_project_is_refused_unless_allowed(tmp_path: Path) -> None:
    """`..` resolved: outside the folder of CASCADE.md needs `workdir-outside: yes`."""
    project = tmp_path / "project"
    project.mkdir()
    with pytest.raises(ConfigError, match=r"task 'A' works in .*outside the project"):
        _checked(project, f"- workdir: ..\n\n{TABLE}| A | a | x | - |\n")
    _checked(project, f"- workdir: ..\n- workdir-outside: yes\n\n{TABLE}| A | a | x | - |\n")


def test_a_missing_workdir_names_the_file_line_and_task(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"CASCADE.md:\d+: task 'A': workdir .* does not exist"):
        _checked(tmp_path, f"- workdir: nowhere\n\n{TABLE}| A | a | x | - |\n")


def test_the_logs_dir_is_made_with_its_raw_folder(tmp_path: Path) -> None:
    check_logs_dir(tmp_path / "logs")
    assert (tmp_path / "logs" / "raw").is_dir()


def test_a_planted_link_as_a_tasks_log_is_refused(tmp_path: Path) -> None:
    """A log that is a link would make the run append to a file elsewhere."""
    logs = tmp_path / "logs"
    check_logs_dir(logs)
    (tmp_path / "elsewhere").write_text("")
    (logs / "A.log").symlink_to(tmp_path / "elsewhere")
    check_logs_dir(logs, {"B"})  # not a log of this plan's tasks: not nova's to judge
    with pytest.raises(ConfigError, match=r"rm .*A\.log"):
        check_logs_dir(logs, {"A"})


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_logs_dir_nova_cannot_write_is_refused(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "raw").mkdir(parents=True)
    logs.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot write task logs"):
            check_logs_dir(logs)
    finally:
        logs.chmod(0o700)


def test_a_link_where_nova_makes_its_own_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "prompts").symlink_to(tmp_path / "target")
    check_own_dirs(tmp_path / "worktrees")  # absent: fine
    with pytest.raises(ConfigError, match="is a symbolic link"):
        check_own_dirs(tmp_path / "worktrees", tmp_path / "prompts")


def test_a_default_dir_linked_out_of_the_project_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside the current directory a link is fine; out of it, the user must name it."""
    project = tmp_path / "project"
    (project / "inside").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    monkeypatch.chdir(project)
    (project / "state").symlink_to(project / "inside")
    check_default_dir(project / "state", "--state-dir", "state")
    (project / "logs").symlink_to(tmp_path / "outside")
    with pytest.raises(ConfigError, match=r"name the directory: --logs-dir .*outside"):
        check_default_dir(project / "logs", "--logs-dir", "logs")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def _repo_settings(tmp_path: Path) -> tuple[dict[str, Settings], Places]:
    path, text = _plan(tmp_path, f"- worktree: on\n\n{TABLE}| A | a | x | - |\n")
    cascade = parse_cascade(text, str(path))
    return resolve_settings(cascade, Settings()), Places(path, tmp_path / "state")


def test_no_task_with_worktrees_needs_no_repository(tmp_path: Path) -> None:
    path, text = _plan(tmp_path, f"{TABLE}| A | a | x | - |\n")
    settings = resolve_settings(parse_cascade(text, str(path)), Settings())
    assert find_repo(settings, Places(path, tmp_path / "state"), tmp_path / "wt") is None


def test_worktrees_need_a_repository_and_a_first_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings, places = _repo_settings(tmp_path)
    with pytest.raises(ConfigError, match="is not in a git repository"):
        find_repo(settings, places, tmp_path / "wt")
    _git(tmp_path, "init", "-q")
    with pytest.raises(ConfigError, match="has no commit yet"):
        find_repo(settings, places, tmp_path / "wt")


def test_a_repository_with_a_commit_gives_its_root_and_an_ignored_worktrees_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _git(tmp_path, "init", "-q")
    _git(
        tmp_path,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "s",
    )
    settings, places = _repo_settings(tmp_path)
    repo = find_repo(settings, places, tmp_path / "wt")
    assert repo is not None
    assert Path(repo.root).resolve() == tmp_path.resolve()
    assert (tmp_path / "wt" / ".gitignore").read_text() == "*\n"
