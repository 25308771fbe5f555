"""lscb_xl.safesave: the user's workbook is replaced whole or not at all, never while it is open."""

from __future__ import annotations

import os
import re
import stat
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from lscb_xl.ooxml import Package, set_cells, write_package
from lscb_xl.safesave import BACKUP_FOLDER, RefusedError, atomic_write, backup, check_writable


@pytest.fixture
def book(tmp_path: Path) -> Path:
    path = tmp_path / "Board Plan.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Plan")
    ws.write_row("A1", ["Ref", "RAG"])
    ws.write_row("A2", ["1.1", "G"])
    wb.close()
    return path


def refresh(src: Path, value: str = "A"):
    """A write callback that does what a refresh does: rewrite one sheet part into tmp."""

    def write(tmp: Path) -> None:
        pkg = Package.open(src)
        part = pkg.sheet_parts()["Plan"]
        write_package(src, tmp, {part: set_cells(pkg.read(part), {"B2": value})})

    return write


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((".~lscb", "~$", ".~lock")))


def refused(path: Path) -> str:
    with pytest.raises(RefusedError) as info:
        check_writable(path)
    message = str(info.value)
    assert "\n" not in message and message  # printed as one line on stderr
    return message


# --------------------------------------------------------------------------------------------
# check_writable
# --------------------------------------------------------------------------------------------


def test_a_normal_workbook_is_writable(book):
    check_writable(book)


def test_missing_file(tmp_path):
    assert "Cannot find the workbook" in refused(tmp_path / "nope.xlsx")


def test_a_folder_is_not_a_workbook(tmp_path):
    assert "is a folder" in refused(tmp_path)


def test_open_in_excel(book):
    lock = book.parent / f"~${book.name}"
    lock.write_bytes(b"\x0bJane Smith")
    message = refused(book)
    assert "is open in Excel" in message and "~$Board Plan.xlsx" in message
    assert "Close it and try again" in message


def test_open_in_libreoffice(book):
    (book.parent / f".~lock.{book.name}#").write_text("Jane,host,1,2024;")
    message = refused(book)
    assert "is open in LibreOffice" in message and ".~lock.Board Plan.xlsx#" in message


def test_another_workbooks_lock_does_not_matter(book):
    (book.parent / "~$Other.xlsx").write_bytes(b"x")
    check_writable(book)


def test_read_only_file(book):
    before = book.read_bytes()
    book.chmod(0o444)  # tests run as root, where os.access says yes: the mode bits decide
    try:
        assert "read-only" in refused(book)
        with pytest.raises(RefusedError):
            atomic_write(book, refresh(book))
        assert book.read_bytes() == before
        assert not (book.parent / BACKUP_FOLDER).exists()
    finally:
        book.chmod(0o644)


def test_read_only_folder(book):
    folder = book.parent
    folder.chmod(0o555)
    try:
        message = refused(book)
        assert "folder" in message and "does not let you save" in message
    finally:
        folder.chmod(0o755)


def test_not_a_zip(tmp_path):
    path = tmp_path / "plan.xlsx"
    path.write_text("Ref,RAG\n1.1,G\n")
    assert "is not an Excel workbook" in refused(path)
    with pytest.raises(RefusedError):
        atomic_write(path, lambda tmp: pytest.fail("must not be called"))
    assert path.read_text() == "Ref,RAG\n1.1,G\n"
    assert leftovers(tmp_path) == []


def test_a_zip_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "plan.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert "is not an Excel workbook" in refused(path)


def test_password_protected_workbook(tmp_path):
    path = tmp_path / "secret.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    assert "password" in refused(path)


def test_binary_workbook(tmp_path):
    path = tmp_path / "plan.xlsb"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.bin", b"\x83\x01\x00")
    assert ".xlsb" in refused(path)


def test_refused_error_is_one_line():
    assert str(RefusedError("first line\nsecond   line")) == "first line second line"


# --------------------------------------------------------------------------------------------
# backup
# --------------------------------------------------------------------------------------------


def test_backup_copies_into_the_backup_folder(book):
    copy = backup(book)
    assert copy.parent == book.parent / BACKUP_FOLDER
    assert re.fullmatch(r"Board Plan\.\d{8}-\d{6}-\d{6}\.xlsx", copy.name)
    assert copy.read_bytes() == book.read_bytes()
    assert leftovers(copy.parent) == []


def test_backups_are_rotated(book, tmp_path):
    folder = book.parent / BACKUP_FOLDER
    folder.mkdir()
    others = [folder / "Other.20200101-000000-000000.xlsx",
              folder / "Board Plan v2.20200101-000000-000000.xlsx",
              folder / "Board Plan.20200101-000000-000000.xlsm",
              folder / "notes.txt"]
    for p in others:
        p.write_bytes(b"not ours")
    made = [backup(book, keep=3) for _ in range(7)]
    ours = sorted(p for p in folder.iterdir() if p.name.startswith("Board Plan.") and p.suffix == ".xlsx")
    assert ours == sorted(made[-3:])  # the newest three
    assert all(p.exists() for p in others)
    with pytest.raises(ValueError):
        backup(book, keep=0)


# --------------------------------------------------------------------------------------------
# atomic_write
# --------------------------------------------------------------------------------------------


def test_atomic_write_replaces_the_workbook(book):
    original = book.read_bytes()
    book.chmod(0o640)
    saved = atomic_write(book, refresh(book, "R"))
    assert saved is not None and saved.read_bytes() == original
    assert openpyxl.load_workbook(book)["Plan"]["B2"].value == "R"
    assert stat.S_IMODE(book.stat().st_mode) == 0o640
    assert leftovers(book.parent) == []


def test_atomic_write_keeps_n_backups(book):
    for i in range(4):
        atomic_write(book, refresh(book, f"v{i}"), keep_backups=2)
    assert len(list((book.parent / BACKUP_FOLDER).iterdir())) == 2
    assert openpyxl.load_workbook(book)["Plan"]["B2"].value == "v3"


def test_atomic_write_without_backups(book):
    assert atomic_write(book, refresh(book), keep_backups=0) is None
    assert not (book.parent / BACKUP_FOLDER).exists()


def test_a_failing_write_leaves_the_original_untouched(book):
    before = book.read_bytes()
    seen: list[Path] = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        assert tmp.parent == book.parent  # same folder, so os.replace is atomic
        tmp.write_bytes(b"half a workbook")
        raise ValueError("the refresh went wrong")

    with pytest.raises(ValueError, match="went wrong"):
        atomic_write(book, write)
    assert book.read_bytes() == before
    assert not seen[0].exists() and leftovers(book.parent) == []


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not really a zip", b"plain text"])
def test_a_broken_result_is_refused(book, content):
    before = book.read_bytes()
    with pytest.raises(RefusedError, match="did not check out"):
        atomic_write(book, lambda tmp: tmp.write_bytes(content))
    assert book.read_bytes() == before
    assert leftovers(book.parent) == []


def test_a_write_that_writes_nothing_is_refused(book):
    before = book.read_bytes()

    def write(tmp: Path) -> None:
        tmp.unlink()

    with pytest.raises(RefusedError):
        atomic_write(book, write)
    assert book.read_bytes() == before


def test_opened_in_excel_while_writing(book):
    before = book.read_bytes()

    def write(tmp: Path) -> None:
        refresh(book)(tmp)
        (book.parent / f"~${book.name}").write_bytes(b"x")  # the user opened it meanwhile

    with pytest.raises(RefusedError, match="open in Excel"):
        atomic_write(book, write)
    assert book.read_bytes() == before
    assert leftovers(book.parent) == [f"~${book.name}"]


def test_refused_before_anything_happens(book):
    (book.parent / f"~${book.name}").write_bytes(b"x")
    with pytest.raises(RefusedError):
        atomic_write(book, lambda tmp: pytest.fail("must not be called"))
    assert not (book.parent / BACKUP_FOLDER).exists()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_a_linked_workbook_is_written_through_the_link(book, tmp_path):
    link = tmp_path / "link.xlsx"
    link.symlink_to(book)
    atomic_write(link, refresh(book, "B"))
    assert link.is_symlink()
    assert openpyxl.load_workbook(book)["Plan"]["B2"].value == "B"
