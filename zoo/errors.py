"""User-facing errors: one line naming the problem and the fix, printed without a traceback."""

from __future__ import annotations


class ZooError(Exception):
    """An error caused by the user's input or environment.

    The CLI prints ``str(error)`` as a single line and exits with ``exit_code``;
    the message should name what is wrong *and* what to do about it.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(" ".join(message.split()))
        if exit_code is not None:
            self.exit_code = exit_code


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (or its type name), for one-line user errors."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


FULL_DISK_ERRNOS = {28, 122}  # ENOSPC, EDQUOT


def disk_error(exc: OSError, path: object = None, hint: str = "") -> ZooError:
    """A one-line ZooError for an OSError while writing ``path`` (full disk, quota, read-only file system)."""
    import errno

    where = path or exc.filename or "a file"
    if exc.errno in FULL_DISK_ERRNOS:
        problem = f"the disk is full (no space left) while writing {where}"
        fix = "free disk space or write somewhere else"
    elif exc.errno == errno.EROFS:
        problem, fix = f"{where} is on a read-only file system", "write somewhere else"
    else:
        problem, fix = f"cannot write {where} ({exc.strerror or first_line(exc)})", "check the path and its permissions"
    return ZooError(f"{problem}; {fix}{'; ' + hint if hint else ''}.")


class OfflineError(ZooError):
    """A download was needed but the network (or the Hub) cannot be reached."""


class ParityError(ZooError):
    """A converted model disagrees with its source beyond tolerance."""

    exit_code = 3
