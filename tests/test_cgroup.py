"""The run's cgroup (engine.executors.cgroup): finding cgroup v2 from the kernel's own files,
falling back quietly where it cannot be used, and, where it can, holding every process forked inside
until it is killed and removed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.executors import cgroup

HYBRID = """\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
UNIFIED = "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
V1_ONLY = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"


def test_the_v2_mount_is_found_where_hybrid_and_unified_machines_put_it() -> None:
    """cgroup2 at .../unified next to v1 controllers, or alone at /sys/fs/cgroup."""
    assert cgroup.v2_mount(HYBRID) == ("/sys/fs/cgroup/unified", "/")
    assert cgroup.v2_mount(UNIFIED) == ("/sys/fs/cgroup", "/")
    assert cgroup.v2_mount(V1_ONLY) is None


def test_the_own_cgroup_is_the_0_line_under_the_mount_and_none_outside_it() -> None:
    """/proc/self/cgroup's `0::` path, under the mount point (less a namespaced mount's root);
    a path above what is mounted cannot be reached."""
    own = "4:memory:/x\n0::/user.slice/session-1.scope\n"
    assert cgroup.own_dir(HYBRID, own) == Path("/sys/fs/cgroup/unified/user.slice/session-1.scope")
    assert cgroup.own_dir(UNIFIED, "0::/\n") == Path("/sys/fs/cgroup")
    bound = "40 31 0:38 /box /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    assert cgroup.own_dir(bound, "0::/box/job\n") == Path("/sys/fs/cgroup/job")
    assert cgroup.own_dir(bound, "0::/elsewhere\n") is None
    assert cgroup.own_dir(V1_ONLY, own) is None
    assert cgroup.own_dir(HYBRID, "4:memory:/x\n") is None


def test_escaped_characters_in_a_mount_point_are_decoded() -> None:
    line = "41 31 0:38 / /mnt/cgroup\\040two rw - cgroup2 cgroup2 rw\n"
    assert cgroup.v2_mount(line) == ("/mnt/cgroup two", "/")


def test_nova_cgroup_0_turns_cgroups_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cgroup.DISABLE_VAR, "0")
    assert cgroup.create("r1", tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_a_parent_that_is_no_cgroup_or_cannot_be_written_gives_none_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quiet fallback: a plain directory (no cgroup.procs appears in what is made), a
    directory that cannot be made in; no exception, no leftover."""
    monkeypatch.delenv(cgroup.DISABLE_VAR, raising=False)
    assert cgroup.create("r1", tmp_path) is None
    assert list(tmp_path.iterdir()) == []
    assert cgroup.create("r1", tmp_path / "missing") is None
    assert cgroup.create("r1", None) is None


def test_a_path_from_a_record_is_a_run_cgroup_only_on_the_cgroup_file_system(
    tmp_path: Path,
) -> None:
    """A record edited to name any directory with a `cgroup.procs` file ends nothing."""
    fake = tmp_path / "nova.r1"
    fake.mkdir()
    (fake / "cgroup.procs").write_text("1\n")
    assert not cgroup.is_run_cgroup(fake)
    here = cgroup.current()
    if here is not None:
        assert not cgroup.is_run_cgroup(here)  # not named nova.*


@pytest.fixture
def group(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real cgroup below this process's, removed after the test (skips where there is no
    writable cgroup v2)."""
    monkeypatch.delenv(cgroup.DISABLE_VAR, raising=False)
    made = cgroup.create(f"test-{os.getpid()}", cgroup.current())
    if made is None:
        pytest.skip("no writable cgroup v2 here (run as root to test it)")
    yield made
    cgroup.kill(made)
    cgroup.remove(made, 10.0)


def test_a_process_moved_in_takes_what_it_forks_along_and_all_is_killed_and_removed(
    group: Path,
) -> None:
    """What a member forks is a member whatever it does (here, a new session); `kill` ends
    them all; `remove` removes the emptied cgroup."""
    shell = subprocess.Popen(
        ["sh", "-c", "read go; setsid sleep 30 & echo $!; wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert cgroup.is_run_cgroup(group)
        assert cgroup.join(group, shell.pid)
        assert shell.stdin is not None
        assert shell.stdout is not None
        shell.stdin.write("go\n")
        shell.stdin.flush()
        sleep = int(shell.stdout.readline())
        assert sorted(cgroup.members(group)) == sorted([shell.pid, sleep])
        cgroup.kill(group)
        assert shell.wait(timeout=10) == -9
        assert cgroup.remove(group, 10.0)
        assert not group.exists()
    finally:
        shell.kill()
        shell.wait()
        shell.stdin.close()  # type: ignore[union-attr]
        shell.stdout.close()  # type: ignore[union-attr]
