"""Folders published as a unit: a folder is built beside its final place, given a SHA256SUMS file, and swapped in
with one rename, so a reader (or a kill at any moment) sees it wholly old or wholly new."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import shutil
from pathlib import Path

SUMS_NAME = "SHA256SUMS"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_sha256sums(folder: Path) -> dict[str, str]:
    """Write folder/SHA256SUMS (the format `sha256sum -c` reads) over every other file below it, sorted by path."""
    sums = {
        path.relative_to(folder).as_posix(): sha256_of(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != SUMS_NAME
    }
    (folder / SUMS_NAME).write_text("".join(f"{digest}  {name}\n" for name, digest in sums.items()), encoding="utf-8")
    return sums


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def publish_folder(staged: Path, final: Path) -> None:
    """Put the finished folder `staged` in place of `final` in one rename; the old folder is then removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if not final.exists():
        os.replace(staged, final)
        return
    if _exchange(staged, final):
        shutil.rmtree(staged)  # now holds the old folder
        return
    # No atomic exchange on this system: move the old folder aside, then the new one in (a kill between the two
    # renames leaves the quarter missing, never mixed; the next run puts it back).
    aside = final.with_name(f".{final.name}.old-{os.getpid()}")
    os.replace(final, aside)
    os.replace(staged, final)
    shutil.rmtree(aside)
