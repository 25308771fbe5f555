"""Saving the user's workbook without ever leaving it half-written, locked-out or lost.

The rules, in the order :func:`atomic_write` applies them:

1. :func:`check_writable` refuses, with a message a business manager understands, when the
   workbook is missing, open in Excel or LibreOffice (their lock files sit beside it), read-only,
   in a folder we cannot write to, or not an Excel workbook at all.
2. :func:`backup` copies the workbook into ``lscb-xl-backups/`` beside it (the newest few are
   kept), so even a correct refresh that the user did not want can be undone by hand.
3. The new workbook is written to a temporary file in the *same* folder, checked (a complete,
   readable zip with content types), given the original's permission bits and only then moved
   over the original with ``os.replace``, which is atomic on one file system. Any failure
   before that removes the temporary file and leaves the original exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from lscb_xl.errors import RefusedError

__all__ = ["BACKUP_FOLDER", "RefusedError", "atomic_write", "backup", "check_writable"]

#: The folder, beside the workbook, that holds its backups.
BACKUP_FOLDER = "lscb-xl-backups"

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # password-protected OOXML and old .xls files


def _lock_files(path: Path) -> list[tuple[Path, str]]:
    folder, name = path.parent, path.name
    return [
        (folder / f"~${name}", "Excel"),
        (folder / f".~lock.{name}#", "LibreOffice"),
    ]


def _check_not_open(path: Path) -> None:
    for lock, app in _lock_files(path):
        if lock.exists():
            raise RefusedError(
                f"{path.name} is open in {app} (lock file {lock.name}). Close it and try again. "
                f"If {app} is not running, the lock file was left behind by a crash: delete "
                f"{lock} and try again.",
                path,
            )


def _writable(p: Path) -> bool:
    """Writable for us *and* not marked read-only (root passes os.access for anything)."""
    return os.access(p, os.W_OK) and bool(p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def check_writable(path: Path) -> None:
    """Raise :class:`RefusedError` unless lscb-xl may safely rewrite the workbook at *path*."""
    path = Path(path)
    name = path.name
    if not path.exists():
        raise RefusedError(f"Cannot find the workbook {path}. Check the file name and folder.", path)
    if path.is_dir():
        raise RefusedError(f"{path} is a folder, not a workbook. Give the path of the .xlsx or .xlsm file.",
                           path)
    _check_not_open(path)
    real = path.resolve()
    if real != path.absolute():
        _check_not_open(real)  # a link: Excel may have opened the file under its real name
    if not _writable(real):
        raise RefusedError(
            f"{name} is read-only, so it cannot be updated. Clear 'Read-only' in the file's "
            f"properties (or ask whoever owns it for write access) and try again.",
            path,
        )
    if not _writable(real.parent):
        raise RefusedError(
            f"The folder {real.parent} does not let you save files, so {name} cannot be updated "
            f"safely. Ask for write access to the folder, or copy the workbook to a folder you "
            f"can save in.",
            path,
        )
    try:
        with open(real, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise RefusedError(f"{name} cannot be read ({exc.strerror}). Check you have access to it.",
                           path) from exc
    if head == _OLE_MAGIC:
        raise RefusedError(
            f"{name} is protected with a password to open, or is an old-style .xls file. Remove "
            f"the password (or save it as .xlsx or .xlsm) in Excel and try again.",
            path,
        )
    not_workbook = RefusedError(
        f"{name} is not an Excel workbook (.xlsx or .xlsm), so it was left alone. Check you chose "
        f"the right file.",
        path,
    )
    if not zipfile.is_zipfile(real):
        raise not_workbook
    try:
        with zipfile.ZipFile(real) as zf:
            names = {n.lower() for n in zf.namelist()}
    except (zipfile.BadZipFile, OSError) as exc:
        raise not_workbook from exc
    if "xl/workbook.bin" in names:
        raise RefusedError(
            f"{name} is saved as an Excel Binary Workbook (.xlsb), which lscb-xl cannot update. "
            f"Save it as .xlsx or .xlsm in Excel and try again.",
            path,
        )
    if "[content_types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise not_workbook


def _backup_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(re.escape(path.stem) + r"\.(\d{8}-\d{6}-\d{6})" + re.escape(path.suffix) + "$")


def backup(path: Path, keep: int = 5) -> Path:
    """Copy *path* to ``lscb-xl-backups/<stem>.<YYYYmmdd-HHMMSS-ffffff><suffix>`` beside it.

    Only the newest *keep* backups of this workbook are kept; other workbooks' backups in the
    same folder are left alone. Returns the new backup's path.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    path = Path(path)
    folder = path.parent / BACKUP_FOLDER
    folder.mkdir(exist_ok=True)
    while True:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
        if not target.exists():
            break
    # Copy under a temporary name first, so a half-copied file never looks like a backup.
    fd, tmp_name = tempfile.mkstemp(prefix=".~lscb-backup-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        shutil.copy2(path, tmp_name)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    pattern = _backup_pattern(path)
    ours = sorted((m.group(1), p) for p in folder.iterdir() if (m := pattern.match(p.name)))
    for _, old in ours[:-keep]:
        with contextlib.suppress(FileNotFoundError):  # another run may have removed it
            old.unlink()
    return target


def _verify_workbook_zip(tmp: Path, name: str, verify: Callable[[Path], None] | None = None) -> None:
    """Every entry CRC-checked (``zipfile.testzip``), or the caller's own check of the copy."""
    bad = RefusedError(
        f"The updated copy of {name} did not check out as a complete workbook, so the original "
        f"was left unchanged. Please report this problem.",
    )
    if not tmp.is_file() or tmp.stat().st_size == 0:
        raise bad
    try:
        with zipfile.ZipFile(tmp) as zf:
            if "[Content_Types].xml" not in zf.namelist():
                raise bad
            if verify is None and zf.testzip() is not None:
                raise bad
        if verify is not None:
            verify(tmp)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise bad from exc


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], object], keep_backups: int = 5,
                 verify: Callable[[Path], None] | None = None) -> Path | None:
    """Replace the workbook at *path* with what ``write(tmp)`` writes, or leave it untouched.

    ``write`` receives a temporary path in the workbook's own folder and must write the whole
    new workbook there. ``verify`` (optional) replaces the default full CRC check of the copy,
    e.g. with :func:`lscb_xl.ooxml.verify_package`, which compares untouched parts byte for byte.
    Returns the backup's path (``None`` when ``keep_backups`` is 0).
    Raises :class:`RefusedError` when the workbook may not be written; any exception from
    ``write`` propagates after the temporary file is removed.
    """
    path = Path(path)
    check_writable(path)
    real = path.resolve()
    original = real.stat()
    backup_path = backup(real, keep_backups) if keep_backups > 0 else None
    fd, tmp_name = tempfile.mkstemp(prefix=f".~lscb-{real.name}.", suffix=".tmp", dir=real.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        _verify_workbook_zip(tmp, path.name, verify)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, stat.S_IMODE(original.st_mode))
        if hasattr(os, "chown") and (original.st_uid, original.st_gid) != (os.getuid(), os.getgid()):
            with contextlib.suppress(OSError):  # only root may give a file away; best effort
                os.chown(tmp, original.st_uid, original.st_gid)
        _check_not_open(path)  # it may have been opened while we were writing
        if path != real:
            _check_not_open(real)
        try:
            os.replace(tmp, real)
        except PermissionError as exc:
            raise RefusedError(
                f"{path.name} could not be replaced, probably because another program has it "
                f"open. Close it everywhere and try again; the original is unchanged.",
                path,
            ) from exc
        _fsync_dir(real.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return backup_path
