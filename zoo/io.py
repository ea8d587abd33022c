"""Atomic file writes: a reader never sees a half-written file, and a failure leaves nothing behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it onto ``target``.

    The caller may write a file or a directory at the temporary path. An existing directory
    at ``target`` is refused, never replaced: an output path must not remove what a user made.
    On any exception the temporary is removed and the target is untouched.
    """
    target = Path(target)
    if target.is_dir():
        from zoo.errors import ZooError

        raise ZooError(f"{target} is an existing directory; give a file path to write to (nothing was changed).")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # callers create a file or a directory at this path themselves
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        if target.is_dir():  # made while we were writing: still never replace it
            from zoo.errors import ZooError

            raise ZooError(f"{target} is an existing directory; give a file path to write to (nothing was changed).")
        if tmp.is_file() and not tmp.is_symlink():
            os.chmod(tmp, 0o666 & ~_UMASK)  # the mode of a plain new file (mkstemp makes 0600)
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def _read_umask() -> int:
    mask = os.umask(0o022)  # read once at import (os.umask can only be read by setting it)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_text(target: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_json(target: str | os.PathLike[str], obj: Any) -> Path:
    return write_text(target, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_yaml(target: str | os.PathLike[str], obj: Any) -> Path:
    import yaml

    return write_text(target, yaml.safe_dump(json.loads(json.dumps(obj, default=_json_default)), sort_keys=False))


def parse_json_object(text: str | bytes, what: str, fix: str) -> dict[str, Any]:
    """A JSON object from ``text``; a ZooError (one line naming ``what`` and ``fix``) for anything else:
    bytes that are not UTF-8, invalid JSON, or a JSON value that is not an object."""
    from zoo.errors import ZooError

    try:
        doc = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except UnicodeDecodeError:
        raise ZooError(f"{what} is not UTF-8 text; {fix}.") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ZooError(f"{what} is not valid JSON ({str(exc)[:120]}); {fix}.") from None
    if not isinstance(doc, dict):
        raise ZooError(f"{what} holds a JSON {type(doc).__name__}, not an object; {fix}.")
    return doc


def read_json_object(path: str | os.PathLike[str], fix: str) -> dict[str, Any]:
    """:func:`parse_json_object` of the file at ``path`` (a missing or unreadable file is a ZooError too)."""
    from zoo.errors import ZooError

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ZooError(f"cannot read {path} ({exc.strerror or exc}); {fix}.") from None
    return parse_json_object(data, str(path), fix)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
