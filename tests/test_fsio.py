"""engine.fsio: the one place nova opens its files, so that none lets anything in."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine import fsio

SECRET = b"the file outside\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    path.write_bytes(SECRET)
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_open_append_refuses_a_link_and_leaves_its_target(tmp_path: Path, outside: Path) -> None:
    """Appending to a path that is a link (dangling or not) raises; the target is untouched."""
    (tmp_path / "log").symlink_to(outside)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for name in ("log", "dangling"):
        with pytest.raises(fsio.UnsafeFileError, match=f"{name} is a symbolic link"):
            fsio.open_append(tmp_path / name)
    assert outside.read_bytes() == SECRET
    assert not (tmp_path / "nowhere").exists()


def test_open_append_refuses_a_fifo_without_waiting_for_a_reader(tmp_path: Path) -> None:
    """A FIFO where a log goes: an error at once, not a wait for a reader."""
    os.mkfifo(tmp_path / "log")
    with pytest.raises(fsio.UnsafeFileError, match="is a FIFO"):
        fsio.open_append(tmp_path / "log")


def test_open_append_makes_a_new_file_0600_and_closes_an_old_one(tmp_path: Path) -> None:
    fsio.make_private_dir(tmp_path / "logs")
    fd = fsio.open_append(tmp_path / "logs" / "new")
    os.close(fd)
    old = tmp_path / "logs" / "old"
    old.write_bytes(b"kept\n")
    old.chmod(0o644)
    fd = fsio.open_append(old)
    os.write(fd, b"more\n")
    os.close(fd)
    assert _mode(tmp_path / "logs" / "new") == 0o600
    assert _mode(old) == 0o600
    assert old.read_bytes() == b"kept\nmore\n"


def test_write_atomic_replaces_a_link_and_draws_past_a_planted_temp_name(
    tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link at the path is replaced, never written through; a temporary name taken by a
    planted link is passed over for another one."""
    target = tmp_path / "state.json"
    target.symlink_to(outside)
    draws = iter([b"\x01" * 6, b"\x02" * 6])
    monkeypatch.setattr(os, "urandom", lambda n: next(draws))
    planted = tmp_path / f".state.json.{'01' * 6}.tmp"
    planted.symlink_to(outside)

    fsio.write_atomic(target, b"{}")

    assert outside.read_bytes() == SECRET
    assert not target.is_symlink()
    assert target.read_bytes() == b"{}"
    assert _mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["outside", "state.json", planted.name]
    )


def test_read_regular_reads_up_to_the_bound_and_refuses_more(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert fsio.read_regular(path, 100) == b"x" * 100
    with pytest.raises(fsio.UnsafeFileError, match="larger than the 99 bytes nova reads"):
        fsio.read_regular(path, 99)


def test_read_regular_refuses_a_file_already_too_large_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sparse file of 4 GiB as the state: refused at once, no gigabyte read into memory."""
    path = tmp_path / "state.json"
    with open(path, "wb") as handle:
        handle.truncate(4 << 30)
    reads: list[int] = []
    real = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real(fd, n))
    with pytest.raises(fsio.UnsafeFileError, match="larger than the 1 GiB nova reads"):
        fsio.read_regular(path, 1 << 30)
    assert reads == []


@pytest.mark.timeout(20)
@pytest.mark.parametrize("follow", [False, True])
def test_read_regular_refuses_fifos_devices_and_directories(tmp_path: Path, follow: bool) -> None:
    """Nothing but a regular file is read; a FIFO or /dev/zero neither hangs nor fills memory."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "dir").mkdir()
    expected = {
        "fifo": "is a FIFO",
        "zero": "a character device through a symbolic link" if follow else "a symbolic link",
        "dir": "is a directory",
    }
    for name, what in expected.items():
        with pytest.raises(fsio.UnsafeFileError, match=what):
            fsio.read_regular(tmp_path / name, 1 << 30, follow=follow)


def test_read_regular_follows_a_link_to_a_file_only_when_asked(
    tmp_path: Path, outside: Path
) -> None:
    (tmp_path / "plan").symlink_to(outside)
    assert fsio.read_regular(tmp_path / "plan", 100, follow=True) == SECRET
    with pytest.raises(fsio.UnsafeFileError, match="symbolic link"):
        fsio.read_regular(tmp_path / "plan", 100)


def test_make_private_dir_makes_each_missing_level_0700(tmp_path: Path) -> None:
    fsio.make_private_dir(tmp_path / "state" / "prompts")
    assert _mode(tmp_path / "state") == 0o700
    assert _mode(tmp_path / "state" / "prompts") == 0o700


def test_make_private_dir_refuses_a_link_unless_told_it_is_chosen(
    tmp_path: Path,
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(fsio.UnsafeFileError, match="link is a symbolic link"):
        fsio.make_private_dir(tmp_path / "link")
    fsio.make_private_dir(tmp_path / "link", link_ok=True)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        fsio.make_private_dir(tmp_path / "file")
