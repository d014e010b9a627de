"""Writing a file so that a crash leaves either the old content or the new, never a torn one."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644, durable: bool = False) -> None:
    """Writes `data` to a temporary file beside `path` and renames it over `path`.

    `durable` also flushes it to disk before the rename: for state that must survive a power
    cut (a validator's progress), not for caches. `mode` applies from creation, so a secret is
    never readable by others, even for a moment.
    """
    raw = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
