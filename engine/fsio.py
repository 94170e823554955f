"""Opening the files nova reads and writes, so that none of them lets anything in.

What is under `logs/` and `state/` holds what agents printed, secrets included, so nova makes
its files 0600 and the directories it makes 0700. It writes through no symbolic link: a link
planted in a project (a cloned repository can hold one) would make a run overwrite or grow a
file elsewhere. It reads only regular files, and at most a bound of each: a FIFO, or a link to
/dev/zero, in place of a file must end in an error naming it, never in a hang or a full memory.

Every open of such a file goes through here. Errors are `UnsafeFileError` (an `OSError`, so
code that copes with a full disk copes with it too), whose `strerror` is a clause that names
the file and what it is; callers add the fix that fits them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO for reading, or for writing with no reader, would wait forever.
_CHECKED = _NOFOLLOW | os.O_NONBLOCK

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
}


class UnsafeFileError(OSError):
    """A path nova will not open as it is: a symbolic link where nova writes, or anything but a
    regular file where it reads, or a file larger than nova reads. `str()` is `strerror`."""

    def __str__(self) -> str:
        return str(self.strerror)


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _link_error(path: str | Path) -> UnsafeFileError:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return UnsafeFileError(
        errno.ELOOP,
        f"{path} is a symbolic link (to {target}), and nova opens none of its own files "
        "through a link",
        str(path),
    )


def _not_regular(path: str | Path, mode: int, link: bool) -> UnsafeFileError:
    via = " through a symbolic link" if link else ""
    return UnsafeFileError(
        errno.EINVAL,
        f"{path} is {_kind(mode)}{via}, not a regular file, and nova opens only regular files",
        str(path),
    )


def check_own_file(path: str | Path) -> None:
    """UnsafeFileError if something is at `path` (a file nova writes) that nova would not open:
    a symbolic link, or anything else but a regular file. Nothing there is no error."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise _link_error(path)
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode, False)


def _open_checked(path: str | Path, flags: int) -> int:
    """os.open with O_NOFOLLOW and O_NONBLOCK, refusing what is not a regular file."""
    try:
        fd = os.open(path, flags | _CHECKED, FILE_MODE)
    except OSError as exc:
        # ELOOP: the last component is a link; ENXIO: a FIFO opened to write has no reader.
        if exc.errno == errno.ELOOP and os.path.islink(path):
            raise _link_error(path) from None
        if exc.errno == errno.ENXIO:
            raise _not_regular(path, os.lstat(path).st_mode, False) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st.st_mode, False)
        if flags & (os.O_WRONLY | os.O_RDWR):
            os.set_blocking(fd, True)
            # A file an older nova made 0644 still gets the agents' output: close it to others.
            if st.st_mode & 0o077 and st.st_uid == os.geteuid():
                os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private(path: str | Path, flags: int) -> int:
    """A descriptor of `path` opened with `flags` (O_WRONLY or O_RDWR, maybe O_APPEND), made
    0600 if new and closed to others if not; UnsafeFileError if it is a symbolic link or not a
    regular file (a FIFO is never waited on)."""
    return _open_checked(path, flags | os.O_CREAT)


def open_append(path: str | Path) -> int:
    """A descriptor that appends to `path` (made 0600 if new); UnsafeFileError if `path` is a
    symbolic link or not a regular file. The file's directory must exist."""
    return open_private(path, os.O_WRONLY | os.O_APPEND)


def create_new(path: str | Path) -> int:
    """A descriptor to write a new file `path` (0600); FileExistsError if anything, a link
    included, is there already."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, FILE_MODE)


def write_atomic(path: str | Path, data: bytes) -> None:
    """Replace `path` with a file holding `data`: written to a new temporary file beside it,
    then renamed over it, so that a reader (or a crash) sees the old file or the new one, and
    a link at `path` is replaced, never followed. The directory must exist."""
    path = Path(path)
    while True:
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = create_new(tmp)
        except FileExistsError:  # a name drawn twice, or one planted: draw another
            continue
        break
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_regular(path: str | Path, limit: int, follow: bool = False) -> bytes:
    """The bytes of the regular file `path`, which may hold at most `limit` of them.

    UnsafeFileError if `path` is not a regular file (a FIFO, a device, a directory), is
    larger than `limit`, or (unless `follow`) is a symbolic link; FileNotFoundError as usual.
    Files nova writes itself are read without `follow`: it never makes a link to one.
    """
    fd = _open_to_read(path, follow)
    try:
        chunks = []
        size = os.fstat(fd).st_size
        total = size if size > limit else 0  # too large already: said without reading it
        want = size + 1  # +1: a file that grew past its size is seen
        while total <= limit:
            chunk = os.read(fd, min(want, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            want = 1 << 20  # it grew while read: go on in pieces, not one huge buffer
    finally:
        os.close(fd)
    if total > limit:
        raise UnsafeFileError(
            errno.EFBIG, f"{path} is larger than the {_size(limit)} nova reads of it", str(path)
        )
    return b"".join(chunks)  # one piece, the usual case: no copy


def open_regular(path: str | Path, follow: bool = False) -> BinaryIO:
    """`path` opened to read in binary, if it is a regular file; else as `read_regular`. The
    reader bounds how much it reads."""
    return os.fdopen(_open_to_read(path, follow), "rb")


def _open_to_read(path: str | Path, follow: bool) -> int:
    if not follow:
        return _open_checked(path, os.O_RDONLY)
    # Stat first: opening a device can have effects of its own (a tape rewinds).
    link = os.path.islink(path)
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            return fd
        os.close(fd)  # swapped since the stat
    raise _not_regular(path, mode, link)


def make_private_dir(path: str | Path, link_ok: bool = False) -> None:
    """Make the directory `path`, and those above it that are missing, 0700 each; one that
    exists keeps its mode. UnsafeFileError if `path` is a symbolic link (unless `link_ok`: a
    directory the user named, already checked), NotADirectoryError if it is not a directory.
    """
    path = Path(path)
    missing = []
    here = path
    while not os.path.lexists(here) and here != here.parent:
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile: checked below
            os.mkdir(directory, DIR_MODE)
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        if not link_ok:
            raise _link_error(path)
        mode = os.stat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise NotADirectoryError(errno.ENOTDIR, f"{path} is {_kind(mode)}", str(path))


def _size(n: int) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):g} GiB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):g} MiB"
    return f"{n} bytes"
