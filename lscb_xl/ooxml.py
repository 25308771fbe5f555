"""Surgical access to the OOXML package (.xlsx/.xlsm/.xlam) of a user's workbook.

The master workbook belongs to its users: it carries charts, pictures, shapes, comments, extra
sheets, defined names, VBA (``xl/vbaProject.bin``) and ribbon (``customUI``) parts that
lscb-xl knows nothing about. openpyxl's load + save silently drops several of them (see
``shared/FIELD-NOTES.md``), so this module never round-trips a workbook through a spreadsheet
library. Instead:

* :class:`Package` reads the zip's entries and the few XML parts we need to find our way
  (workbook, relationships, tables, defined names, custom properties);
* :func:`set_cells`, :func:`replace_sheet_rows`, :func:`calc_on_load` and :func:`set_table_ref`
  rewrite the XML of parts we own with lxml, which keeps namespace prefixes (``xml.etree``
  renames them to ``ns0`` and so breaks ``mc:Ignorable``) and leaves every element it was not
  asked to change as it was;
* :func:`write_package` writes a new zip in which the replaced parts get the new bytes and every
  other entry is copied as its raw compressed stream, never decompressed or recompressed, so
  it is bit-identical to the original and the copy of an 8 MB workbook takes milliseconds.

Strings are always written as inline strings (``t="inlineStr"``), so ``sharedStrings.xml`` is
never touched, and text is never turned into a formula, whatever character it starts with.
"""

from __future__ import annotations

import math
import numbers
import os
import posixpath
import re
import struct
import uuid
import zipfile
import zlib
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from lxml import etree

__all__ = [
    "CellValue",
    "Package",
    "Relationship",
    "TableInfo",
    "calc_on_load",
    "column_index",
    "column_letter",
    "replace_sheet_rows",
    "set_cells",
    "set_table_ref",
    "split_ref",
    "write_package",
]

#: A value we can put in a cell. ``None`` empties it. Dates are the caller's business (write a
#: serial number with a date style, or text).
CellValue = int | float | str | bool | None

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
NS_XML = "http://www.w3.org/XML/1998/namespace"
NS_CUSTOM_PROPS = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"

MAX_ROW = 1_048_576
MAX_COL = 16_384
#: Excel refuses (repairs) cells holding more characters than this.
MAX_CELL_CHARS = 32_767

_XML_DECL = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'


# --------------------------------------------------------------------------------------------
# XML helpers
# --------------------------------------------------------------------------------------------


def _parse(data: bytes) -> etree._ElementTree:
    # A parser per call: lxml parsers are not meant to be shared between threads. Entities are
    # never expanded and nothing is fetched from the network. huge_tree lifts libxml2's 10 MB
    # text-node and depth limits, which a big user sheet can legitimately exceed.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    return etree.ElementTree(etree.fromstring(data, parser))


_DECL_RE = re.compile(rb"^(?:\xef\xbb\xbf)?(<\?xml[^?]*\?>\s*)")


def _serialize(tree: etree._ElementTree, original: bytes) -> bytes:
    """Serialise *tree* as UTF-8, keeping the original XML declaration when it was UTF-8."""
    decl = _XML_DECL
    m = _DECL_RE.match(original)
    if m:
        enc = re.search(rb"encoding\s*=\s*[\"']([^\"']+)", m.group(1))
        if enc is None or enc.group(1).lower() in (b"utf-8", b"utf8"):
            decl = m.group(1)
    return decl + etree.tostring(tree, encoding="UTF-8", xml_declaration=False)


def _ns(el: etree._Element) -> str:
    """The namespace of *el* (transitional or strict SpreadsheetML: we follow the document)."""
    return etree.QName(el).namespace or ""


def _local(el: etree._Element) -> str | None:
    if not isinstance(el.tag, str):  # comments and processing instructions
        return None
    return etree.QName(el).localname


def _child(parent: etree._Element, ns: str, name: str) -> etree._Element | None:
    return parent.find(f"{{{ns}}}{name}")


def _new_child(parent: etree._Element, ns: str, name: str, index: int | None = None,
               **attrib: str) -> etree._Element:
    """Create a child in the parent's context (so no stray ``xmlns:ns0`` is declared)."""
    el = etree.SubElement(parent, f"{{{ns}}}{name}", attrib)
    if index is not None:
        parent.insert(index, el)  # moves it from the end
    return el


def _insert_after_last_of(parent: etree._Element, ns: str, before: frozenset[str],
                          el: etree._Element) -> None:
    """Put *el* right after the last child of *parent* whose name is in *before*.

    OOXML parts are XSD sequences, so a new element must go in its schema position. "After the
    last of the elements that precede it" is robust against unknown extension elements (which
    live in other namespaces) and against mc:AlternateContent wrappers of later elements.
    """
    index = 0
    for i, child in enumerate(parent):
        if _local(child) in before and _ns(child) == ns:
            index = i + 1
    parent.insert(index, el)


# Excel's ST_Xstring escaping: characters XML cannot carry are written as _xHHHH_, and a
# literal "_xHHHH_" is protected by escaping its underscore as _x005F_.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_LITERAL_ESCAPE = re.compile("_(?=x[0-9A-Fa-f]{4}_)")
_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")


def _escape_text(text: str) -> str:
    text = _LITERAL_ESCAPE.sub("_x005F_", text)
    return _ILLEGAL_XML.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def _unescape_text(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _clean_attr(text: str) -> str:
    return _ILLEGAL_XML.sub("", text)


# --------------------------------------------------------------------------------------------
# A1 references
# --------------------------------------------------------------------------------------------

_CELL_RE = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")


def column_index(letters: str) -> int:
    """``"A"`` -> 1, ``"XFD"`` -> 16384."""
    n = 0
    for ch in letters.upper():
        if not "A" <= ch <= "Z":
            raise ValueError(f"not a column: {letters!r}")
        n = n * 26 + ord(ch) - 64
    if not 1 <= n <= MAX_COL:
        raise ValueError(f"column out of range: {letters!r}")
    return n


def column_letter(index: int) -> str:
    """1 -> ``"A"``, 16384 -> ``"XFD"``."""
    if not 1 <= index <= MAX_COL:
        raise ValueError(f"column out of range: {index}")
    out = ""
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def split_ref(ref: str) -> tuple[int, int]:
    """``"B3"`` (or ``"$B$3"``) -> ``(column, row)`` = ``(2, 3)``."""
    m = _CELL_RE.match(ref.strip())
    if not m:
        raise ValueError(f"not a cell address: {ref!r}")
    col, row = column_index(m.group(1)), int(m.group(2))
    if not 1 <= row <= MAX_ROW:
        raise ValueError(f"row out of range: {ref!r}")
    return col, row


def _split_range(ref: str) -> tuple[int, int, int, int]:
    """``"A1:C3"`` or ``"B2"`` -> ``(min_col, min_row, max_col, max_row)``."""
    first, _, last = ref.partition(":")
    c1, r1 = split_ref(first)
    c2, r2 = split_ref(last) if last else (c1, r1)
    return min(c1, c2), min(r1, r2), max(c1, c2), max(r1, r2)


def _range_ref(min_col: int, min_row: int, max_col: int, max_row: int) -> str:
    first = f"{column_letter(min_col)}{min_row}"
    if (min_col, min_row) == (max_col, max_row):
        return first
    return f"{first}:{column_letter(max_col)}{max_row}"


def _quote_sheet(name: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
        return name
    return "'" + name.replace("'", "''") + "'"


# --------------------------------------------------------------------------------------------
# The package
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Relationship:
    id: str
    type: str
    #: the resolved part name (no leading slash) or, for external targets, the URI as written
    target: str
    external: bool


@dataclass(frozen=True)
class TableInfo:
    """An Excel table (ListObject): its displayName, sheet, A1 range, header names and part."""

    name: str
    sheet: str
    ref: str
    columns: list[str]
    part: str


def _rels_part(part: str) -> str:
    """``xl/workbook.xml`` -> ``xl/_rels/workbook.xml.rels``; ``""`` (the package) -> ``_rels/.rels``."""
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def _resolve_target(source: str, target: str) -> str:
    if target.startswith("/"):
        resolved = target.lstrip("/")
    else:
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(source), target))
    return resolved


class Package:
    """A read-only view of an OOXML zip: entry names, lazily read parts, and what they mean.

    The file is opened for each read and closed again, so a :class:`Package` never holds the
    workbook open (Windows could not replace a file we hold open). Reading after the file has
    changed on disk raises :class:`RuntimeError` rather than mixing two versions.
    """

    def __init__(self, path: Path, names: Sequence[str], stamp: tuple[int, int]):
        self.path = Path(path)
        #: every zip entry name, in the zip's own order
        self.names: tuple[str, ...] = tuple(names)
        self._stamp = stamp
        self._cache: dict[str, bytes] = {}
        self._names = frozenset(self.names)
        self._lower = {n.lower(): n for n in self.names}

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Package:
        path = Path(path)
        st = path.stat()
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        return cls(path, names, (st.st_size, st.st_mtime_ns))

    # -- raw access ----------------------------------------------------------------------------

    def find(self, part: str) -> str | None:
        """The entry name for *part* (OPC part names are case-insensitive and may be %-encoded)."""
        part = part.lstrip("/")
        for candidate in (part, unquote(part)):
            if candidate in self._names:
                return candidate
            hit = self._lower.get(candidate.lower())
            if hit is not None:
                return hit
        return None

    def __contains__(self, part: object) -> bool:
        return isinstance(part, str) and self.find(part) is not None

    def read(self, part: str) -> bytes:
        """The bytes of *part* (``KeyError`` when the package has no such part)."""
        name = self.find(part)
        if name is None:
            raise KeyError(f"{self.path.name} has no part {part!r}")
        if name not in self._cache:
            st = self.path.stat()
            if (st.st_size, st.st_mtime_ns) != self._stamp:
                raise RuntimeError(f"{self.path} changed on disk since it was opened")
            with zipfile.ZipFile(self.path) as zf:
                self._cache[name] = zf.read(name)
        return self._cache[name]

    def _xml(self, part: str) -> etree._Element:
        return _parse(self.read(part)).getroot()

    def rels(self, part: str) -> list[Relationship]:
        """The relationships of *part* (``""`` for the package's own ``_rels/.rels``)."""
        rels_part = _rels_part(part)
        if rels_part not in self:
            return []
        out = []
        for el in self._xml(rels_part).iter(f"{{{NS_PKG_REL}}}Relationship"):
            target = el.get("Target", "")
            external = el.get("TargetMode") == "External"
            if not external:
                target = _resolve_target(part, target)
                target = self.find(target) or target
            out.append(Relationship(el.get("Id", ""), el.get("Type", ""), target, external))
        return out

    # -- what the parts mean -------------------------------------------------------------------

    @property
    def workbook_part(self) -> str:
        """The workbook part, found through the package's officeDocument relationship."""
        for rel in self.rels(""):
            if rel.type.endswith("/officeDocument") and not rel.external and rel.target in self:
                return rel.target
        fallback = self.find("xl/workbook.xml")
        if fallback is None:
            raise ValueError(f"{self.path.name} has no workbook part: it is not an Excel workbook")
        return fallback

    def _sheets(self) -> list[tuple[str, str]]:
        """``[(sheet name, part)]`` in workbook order."""
        wb_part = self.workbook_part
        root = self._xml(wb_part)
        ns = _ns(root)
        targets = {r.id: r.target for r in self.rels(wb_part) if not r.external}
        out = []
        sheets = _child(root, ns, "sheets")
        for sheet in sheets if sheets is not None else ():
            if _local(sheet) != "sheet":
                continue
            # r:id lives in the (transitional or strict) relationships namespace
            rid = next((v for k, v in sheet.attrib.items()
                        if k.startswith("{") and etree.QName(k).localname == "id"), None)
            if rid in targets:
                out.append((sheet.get("name", ""), targets[rid]))
        return out

    def sheet_parts(self) -> dict[str, str]:
        """Sheet name -> part name (worksheets, chartsheets and the rest), in workbook order."""
        return dict(self._sheets())

    def tables(self) -> dict[str, TableInfo]:
        """Every Excel table, keyed by its displayName (the name formulas use)."""
        out: dict[str, TableInfo] = {}
        for sheet, part in self._sheets():
            for rel in self.rels(part):
                if rel.external or not rel.type.endswith("/table") or rel.target not in self:
                    continue
                root = self._xml(rel.target)
                ns = _ns(root)
                name = root.get("displayName") or root.get("name") or ""
                cols_el = _child(root, ns, "tableColumns")
                columns = [_unescape_text(tc.get("name", ""))
                           for tc in (cols_el if cols_el is not None else ())
                           if _local(tc) == "tableColumn"]
                out[name] = TableInfo(name, sheet, root.get("ref", ""), columns, rel.target)
        return out

    def defined_names(self) -> dict[str, str]:
        """Defined name -> formula text. Sheet-scoped names are keyed ``Sheet!Name``."""
        root = self._xml(self.workbook_part)
        ns = _ns(root)
        sheet_names = [name for name, _ in self._sheets()]
        names_el = _child(root, ns, "definedNames")
        out: dict[str, str] = {}
        for el in names_el if names_el is not None else ():
            if _local(el) != "definedName":
                continue
            key = el.get("name", "")
            local = el.get("localSheetId")
            if local is not None and local.isdigit() and int(local) < len(sheet_names):
                key = f"{_quote_sheet(sheet_names[int(local)])}!{key}"
            out[key] = el.text or ""
        return out

    def custom_properties(self) -> dict[str, str]:
        """File > Properties > Custom: name -> value as text (``{}`` when there are none)."""
        part = next((r.target for r in self.rels("")
                     if r.type.endswith("/custom-properties") and not r.external), None)
        if part is None or part not in self:
            part = "docProps/custom.xml"
            if part not in self:
                return {}
        out: dict[str, str] = {}
        for prop in self._xml(part):
            if _local(prop) != "property":
                continue
            value = next((child for child in prop if isinstance(child.tag, str)), None)
            out[prop.get("name", "")] = "" if value is None else "".join(value.itertext())
        return out

    @property
    def has_vba(self) -> bool:
        """The workbook carries a VBA project (macros)."""
        return any(posixpath.basename(n).lower() == "vbaproject.bin" for n in self.names)

    @property
    def has_custom_ui(self) -> bool:
        """The workbook carries a custom ribbon (customUI part or its relationship)."""
        if any(n.lower().startswith("customui/") for n in self.names):
            return True
        return any(r.type.endswith("/ui/extensibility") for r in self.rels(""))


# --------------------------------------------------------------------------------------------
# Editing worksheet XML
# --------------------------------------------------------------------------------------------


def _check_value(value: object) -> None:
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            raise ValueError(f"a cell holds at most {MAX_CELL_CHARS:,} characters, got {len(value):,}")
        return
    if isinstance(value, numbers.Real):
        if isinstance(value, numbers.Integral):
            return
        if not math.isfinite(float(value)):
            raise ValueError(f"Excel cannot store {value!r}")
        return
    raise TypeError(f"cannot write a {type(value).__name__} to a cell: {value!r}")


def _number_text(value: float) -> str:
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return repr(float(value))


class _Rows:
    """Index of a sheetData's rows by number, creating rows and cells in sorted position."""

    def __init__(self, sheet_data: etree._Element, ns: str):
        self.sheet_data = sheet_data
        self.ns = ns
        self.tag_row = f"{{{ns}}}row"
        self.tag_c = f"{{{ns}}}c"
        self.by_number: dict[int, etree._Element] = {}
        last = 0
        for el in sheet_data.iterchildren(self.tag_row):
            r = el.get("r")
            n = int(r) if r else last + 1
            if not r:  # an implicit row number: make it explicit before we insert rows around it
                el.set("r", str(n))
            self.by_number[n] = el
            last = n
        self.numbers = sorted(self.by_number)

    def row(self, n: int, create: bool) -> etree._Element | None:
        el = self.by_number.get(n)
        if el is not None or not create:
            return el
        i = bisect_left(self.numbers, n)
        if i < len(self.numbers):
            index = self.sheet_data.index(self.by_number[self.numbers[i]])
        elif self.numbers:
            index = self.sheet_data.index(self.by_number[self.numbers[-1]]) + 1
        else:
            index = 0
        el = _new_child(self.sheet_data, self.ns, "row", index, r=str(n))
        self.by_number[n] = el
        self.numbers.insert(i, n)
        return el

    def cell(self, col: int, n: int, create: bool) -> etree._Element | None:
        row = self.row(n, create)
        if row is None:
            return None
        cells = list(row.iterchildren(self.tag_c))
        last = 0
        for c in cells:
            r = c.get("r")
            if r:
                last = split_ref(r)[0]
            else:  # implicit column: pin it down before inserting cells around it
                last += 1
                c.set("r", f"{column_letter(last)}{n}")
            if last == col:
                return c
            if last > col:
                if not create:
                    return None
                return _new_child(row, self.ns, "c", row.index(c), r=f"{column_letter(col)}{n}")
        if not create:
            return None
        index = row.index(cells[-1]) + 1 if cells else 0
        new = _new_child(row, self.ns, "c", index, r=f"{column_letter(col)}{n}")
        spans = row.get("spans")
        if spans:  # an optional hint; keep it covering the row's cells
            bounds = [int(x) for x in re.findall(r"\d+", spans)]
            if bounds:
                row.set("spans", f"{min([*bounds, col])}:{max([*bounds, col])}")
        return new


def _remove(el: etree._Element | None) -> None:
    if el is not None:
        el.getparent().remove(el)


def _write_plain(c: etree._Element, ns: str, value: CellValue) -> None:
    """Make *c* a constant cell holding *value* (style ``s`` and other attributes kept)."""
    for name in ("f", "v", "is"):
        _remove(_child(c, ns, name))
    for attr in ("t", "vm"):  # vm points at rich-value metadata of the old value
        c.attrib.pop(attr, None)
    if value is None:
        return
    if isinstance(value, bool):
        c.set("t", "b")
        _new_child(c, ns, "v", 0).text = "1" if value else "0"
    elif isinstance(value, str):
        c.set("t", "inlineStr")
        is_ = _new_child(c, ns, "is", 0)
        t = _new_child(is_, ns, "t")
        t.set(f"{{{NS_XML}}}space", "preserve")
        t.text = _escape_text(value)
    else:
        _new_child(c, ns, "v", 0).text = _number_text(value)


def _write_cached(c: etree._Element, f: etree._Element, ns: str, value: CellValue) -> None:
    """Keep a formula cell's formula; set its cached result."""
    _remove(_child(c, ns, "is"))
    v = _child(c, ns, "v")
    if value is None:
        _remove(v)
        c.attrib.pop("t", None)
        return
    if v is None:
        v = _new_child(c, ns, "v", c.index(f) + 1)
    if isinstance(value, bool):
        c.set("t", "b")
        v.text = "1" if value else "0"
    elif isinstance(value, str):
        c.set("t", "str")
        v.text = _escape_text(value)
    else:
        c.attrib.pop("t", None)
        v.text = _number_text(value)


def _worksheet(tree: etree._ElementTree) -> tuple[etree._Element, str, etree._Element]:
    root = tree.getroot()
    ns = _ns(root)
    sheet_data = _child(root, ns, "sheetData")
    if _local(root) != "worksheet" or sheet_data is None:
        raise ValueError("not a worksheet part (no <sheetData>)")
    return root, ns, sheet_data


def _set_dimension(root: etree._Element, ns: str, ref: str) -> None:
    dim = _child(root, ns, "dimension")
    if dim is None:
        dim = etree.SubElement(root, f"{{{ns}}}dimension")
        _insert_after_last_of(root, ns, frozenset({"sheetPr"}), dim)
    dim.set("ref", ref)


def _used_bounds(sheet_data: etree._Element, ns: str) -> tuple[int, int, int, int] | None:
    tag_c = f"{{{ns}}}c"
    min_col = min_row = 10**9
    max_col = max_row = 0
    for row in sheet_data.iterchildren(f"{{{ns}}}row"):
        cells = [c for c in row.iterchildren(tag_c) if c.get("r")]
        if not cells:
            continue
        first, last = split_ref(cells[0].get("r")), split_ref(cells[-1].get("r"))
        min_col, max_col = min(min_col, first[0], last[0]), max(max_col, first[0], last[0])
        min_row, max_row = min(min_row, first[1]), max(max_row, last[1])
    if not max_row:
        return None
    return min_col, min_row, max_col, max_row


# -- a byte-level view of <sheetData> ---------------------------------------------------------
#
# A big sheet is tens of megabytes of XML. Parsing all of it with lxml, serialising it and
# freeing the tree costs seconds even when one row changes. When the sheetData is plain (no
# comments, CDATA or processing instructions; every row numbered, in ascending order: what
# Excel, LibreOffice, openpyxl and XlsxWriter write), its rows can be found exactly by a byte
# scan, because inside such a region every "<" starts a tag. Then only the rows we touch are
# parsed and every other row is copied as bytes. Anything unusual falls back to editing the
# whole parsed tree, which gives the same result, only slower.

_SHEETDATA_RE = re.compile(rb"<(?:([A-Za-z_][\w.\-]*):)?sheetData(?=[\s/>])[^>]*>")
_ROW_R_RE = re.compile(rb"""\sr\s*=\s*["'](\d+)["']""")


@dataclass
class _SheetBytes:
    start: int  # just after <sheetData>
    end: int  # where </sheetData> starts
    prefix: bytes  # b"" or b"x:"
    rows: list[tuple[int, int, int]]  # (row number, start, end); a row's bytes include its tail


def _scan_sheet(data: bytes) -> _SheetBytes | None:
    """Locate each ``<row>`` of the sheetData in *data*, or None when that is not certain."""
    found = []
    i = data.find(b"sheetData")
    while i >= 0:  # bytes.find is much faster than a regex over tens of megabytes
        lt = data.rfind(b"<", max(0, i - 64), i)
        m = _SHEETDATA_RE.match(data, lt) if lt >= 0 else None
        if m is not None and m.start(0) == lt and m.group(0).find(b"sheetData") == i - lt:
            found.append(m)
        i = data.find(b"sheetData", i + 9)
    if len(found) != 1 or found[0].group(0).endswith(b"/>"):
        return None
    m = found[0]
    prefix = m.group(1) + b":" if m.group(1) else b""
    close = b"</" + prefix + b"sheetData>"
    start, end = m.end(), data.find(close, m.end())
    if end < 0 or data.find(close, end + 1) >= 0:
        return None
    if data.find(b"<!", start, end) >= 0 or data.find(b"<?", start, end) >= 0:
        return None  # a comment, CDATA or processing instruction could hide "<row"
    row_open = re.compile(rb"<" + re.escape(prefix) + rb"row(?=[\s/>])[^>]*>")
    row_close = b"</" + prefix + b"row>"
    tags = [(t.start(), t.group(0)) for t in row_open.finditer(data, start, end)]
    if data[start:tags[0][0] if tags else end].strip():
        return None  # something other than rows
    rows: list[tuple[int, int, int]] = []
    last = 0
    for i, (s, tag) in enumerate(tags):
        e = tags[i + 1][0] if i + 1 < len(tags) else end
        r = _ROW_R_RE.search(tag)
        if r is None or int(r.group(1)) <= last:
            return None
        last = int(r.group(1))
        # the row must end here: "</row>" (or its self-closing tag) followed by white space only
        k = data.rfind(row_close, s, e)
        stop = k + len(row_close) if k >= 0 else (s + len(tag) if tag.endswith(b"/>") else -1)
        if stop < 0 or data[stop:e].strip():
            return None
        rows.append((last, s, e))
    return _SheetBytes(start, end, prefix, rows)


def _set_cells_tree(tree: etree._ElementTree, targets: list[tuple[int, int, CellValue]]) -> None:
    root, ns, sheet_data = _worksheet(tree)
    rows = _Rows(sheet_data, ns)
    created: list[tuple[int, int]] = []
    for col, row, value in targets:
        c = rows.cell(col, row, create=False)
        if c is None:
            if value is None:
                continue
            c = rows.cell(col, row, create=True)
            created.append((col, row))
        f = _child(c, ns, "f")
        if f is not None:
            _write_cached(c, f, ns, value)
        else:
            _write_plain(c, ns, value)
    dim = _child(root, ns, "dimension")
    if created and dim is not None:
        bounds = list(created)
        try:
            c1, r1, c2, r2 = _split_range(dim.get("ref", ""))
            bounds += [(c1, r1), (c2, r2)]
        except ValueError:
            pass
        cols = [c for c, _ in bounds]
        rws = [r for _, r in bounds]
        dim.set("ref", _range_ref(min(cols), min(rws), max(cols), max(rws)))


def _set_cells_fast(data: bytes, scan: _SheetBytes,
                    targets: list[tuple[int, int, CellValue]]) -> bytes | None:
    touched = {row for _, row, _ in targets}
    old = [n for n, _, _ in scan.rows]
    kept = [(n, s, e) for n, s, e in scan.rows if n in touched]
    if not kept and all(value is None for _, _, value in targets):
        return data  # emptying cells that do not exist: nothing to do
    reduced = data[:scan.start] + b"".join(data[s:e] for _, s, e in kept) + data[scan.end:]
    tree = _parse(reduced)
    _set_cells_tree(tree, targets)
    edited = _serialize(tree, reduced)
    scan2 = _scan_sheet(edited)
    if scan2 is None:
        return None
    new_rows = {n: edited[s:e] for n, s, e in scan2.rows}
    created = sorted(set(new_rows) - set(old))
    if set(new_rows) != {n for n, _, _ in kept} | set(created):
        return None
    first = scan.rows[0][1] if scan.rows else scan.end
    pieces = [edited[:scan2.start], data[scan.start:first]]
    i = 0
    for n, s, e in scan.rows:
        while i < len(created) and created[i] < n:
            pieces.append(new_rows[created[i]])
            i += 1
        pieces.append(new_rows[n] if n in touched else data[s:e])
    pieces.extend(new_rows[n] for n in created[i:])
    pieces.append(edited[scan2.end:])
    return b"".join(pieces)


def set_cells(sheet_xml: bytes, cells: Mapping[str, CellValue]) -> bytes:
    """Write *cells* (A1 address -> value) into a worksheet part and return the new XML.

    * A cell with a formula keeps it; only its cached result ``<v>`` changes (``t="str"`` for
      text, ``t="b"`` for booleans, no ``t`` for numbers; ``None`` removes the cached value).
    * Any other cell gets the constant: strings as inline strings (``sharedStrings.xml`` is
      never touched) that are never read as formulas, whatever they start with.
    * The style ``s`` stays. Missing rows and cells are created in sorted position, and
      ``<dimension>`` grows to cover them. Nothing else in the sheet changes; rows that are not
      touched keep their exact bytes.
    """
    targets = []
    for address, value in cells.items():
        _check_value(value)
        targets.append((*split_ref(address), value))
    scan = _scan_sheet(sheet_xml)
    if scan is not None:
        out = _set_cells_fast(sheet_xml, scan, targets)
        if out is not None:
            return out
    tree = _parse(sheet_xml)
    _set_cells_tree(tree, targets)
    return _serialize(tree, sheet_xml)


def _xml_text(text: str) -> str:
    text = _escape_text(text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _rows_xml(first_row: int, rows: Sequence[Sequence[CellValue]], styles: Sequence[int | None],
              prefix: str) -> tuple[bytes, tuple[int, int, int, int] | None]:
    """The XML of new rows (built as text: 10x faster than lxml elements) and their bounds."""
    p = f"{prefix}:" if prefix else ""
    width = max([len(styles), *(len(r) for r in rows)], default=0)
    letters = [column_letter(j + 1) for j in range(width)]
    style_attr = [f' s="{s}"' if s is not None else "" for s in styles]
    style_attr += [""] * (width - len(style_attr))
    out: list[str] = []
    min_col, max_col, min_row, max_row = MAX_COL + 1, 0, 0, 0
    for i, values in enumerate(rows):
        n = first_row + i
        cells: list[str] = []
        for j in range(max(len(values), len(styles))):
            value = values[j] if j < len(values) else None
            s = style_attr[j]
            if value is None and not s:
                continue
            ref = f"{letters[j]}{n}"
            if value is None:
                cells.append(f'<{p}c r="{ref}"{s}/>')
            elif isinstance(value, bool):
                cells.append(f'<{p}c r="{ref}"{s} t="b"><{p}v>{int(value)}</{p}v></{p}c>')
            elif isinstance(value, str):
                cells.append(f'<{p}c r="{ref}"{s} t="inlineStr"><{p}is><{p}t xml:space="preserve">'
                             f"{_xml_text(value)}</{p}t></{p}is></{p}c>")
            else:
                cells.append(f'<{p}c r="{ref}"{s}><{p}v>{_number_text(value)}</{p}v></{p}c>')
            min_col, max_col = min(min_col, j + 1), max(max_col, j + 1)
        if cells:
            out.append(f'<{p}row r="{n}">{"".join(cells)}</{p}row>')
            min_row, max_row = min_row or n, n
    bounds = (min_col, min_row, max_col, max_row) if max_row else None
    return "".join(out).encode("utf-8"), bounds


_BEFORE_HYPERLINKS = frozenset({
    "sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData", "sheetCalcPr",
    "sheetProtection", "protectedRanges", "scenarios", "autoFilter", "sortState",
    "dataConsolidate", "customSheetViews", "mergeCells", "phoneticPr", "conditionalFormatting",
    "dataValidations",
})


def replace_sheet_rows(
    sheet_xml: bytes,
    first_row: int,
    rows: Sequence[Sequence[CellValue]],
    styles: Sequence[int | None] | None = None,
    hyperlinks: Sequence[tuple[str, str, str]] = (),
) -> bytes:
    """Replace everything from row *first_row* down with *rows*; return the new sheet XML.

    * Every ``<row>`` numbered ``>= first_row`` is deleted; ``rows[i]`` is written to row
      ``first_row + i`` from column A. Strings are inline strings (never formulas), numbers and
      booleans are constants, ``None`` leaves the cell out.
    * ``styles[j]`` (a cellXfs index) styles column ``j``; a styled column gets a styled cell
      even where the value is ``None`` (or the row is shorter), like Excel's formatted blanks.
    * ``<dimension ref>`` is set to the used range.
    * *hyperlinks* are internal links ``(ref, location, display)``, e.g.
      ``("G5", "'Action Plan'!G5", "Go to action 5")``; they need no relationship. Existing
      hyperlinks that touch rows ``>= first_row`` are dropped (they belonged to the replaced
      rows); those wholly above *first_row* (say in a header) are kept. ``<hyperlinks>`` is
      created in its schema position or removed when nothing is left in it.
    """
    if not 1 <= first_row <= MAX_ROW or first_row + len(rows) - 1 > MAX_ROW:
        raise ValueError(f"rows {first_row}..{first_row + len(rows) - 1} do not fit in a sheet")
    styles = list(styles or ())
    for row in rows:
        if len(row) > MAX_COL:
            raise ValueError(f"a row has {len(row)} values; a sheet has {MAX_COL} columns")
        for value in row:
            _check_value(value)
    if len(styles) > MAX_COL:
        raise ValueError(f"{len(styles)} styles given; a sheet has {MAX_COL} columns")
    for style in styles:
        if style is not None and (isinstance(style, bool) or not isinstance(style, int) or style < 0):
            raise ValueError(f"not a style index: {style!r}")
    links = [(_split_range(ref), location, display) for ref, location, display in hyperlinks]

    scan = _scan_sheet(sheet_xml)
    if scan is not None:  # parse only the rows we keep
        kept = [(s, e) for n, s, e in scan.rows if n < first_row]
        first = scan.rows[0][1] if scan.rows else scan.end
        sheet_xml_kept = (sheet_xml[:first] + b"".join(sheet_xml[s:e] for s, e in kept)
                          + sheet_xml[scan.end:])
    else:
        sheet_xml_kept = sheet_xml
    tree = _parse(sheet_xml_kept)
    root, ns, sheet_data = _worksheet(tree)
    for n, el in _Rows(sheet_data, ns).by_number.items():
        if n >= first_row:
            sheet_data.remove(el)

    body, new_bounds = _rows_xml(first_row, rows, styles, sheet_data.prefix or "")
    marker = etree.ProcessingInstruction(f"lscb-rows-{uuid.uuid4().hex}")
    token = etree.tostring(marker)
    sheet_data.append(marker)

    old_bounds = _used_bounds(sheet_data, ns)
    both = [b for b in (old_bounds, new_bounds) if b]
    if both:
        ref = _range_ref(min(b[0] for b in both), min(b[1] for b in both),
                         max(b[2] for b in both), max(b[3] for b in both))
    else:
        ref = "A1"
    _set_dimension(root, ns, ref)

    container = _child(root, ns, "hyperlinks")
    if container is not None:
        for link in list(container):
            ref = link.get("ref", "") if _local(link) == "hyperlink" else ""
            try:
                bottom = _split_range(ref)[3]
            except ValueError:
                continue
            if bottom >= first_row:
                container.remove(link)
    if links and container is None:
        container = etree.SubElement(root, f"{{{ns}}}hyperlinks")
        _insert_after_last_of(root, ns, _BEFORE_HYPERLINKS, container)
    for (c1, r1, c2, r2), location, display in links:
        link = _new_child(container, ns, "hyperlink", ref=_range_ref(c1, r1, c2, r2))
        link.set("location", _clean_attr(location))
        if display:
            link.set("display", _clean_attr(display))
    if container is not None and not any(_local(el) == "hyperlink" for el in container):
        root.remove(container)  # an empty <hyperlinks/> is invalid

    out = _serialize(tree, sheet_xml)
    if out.count(token) != 1:
        raise RuntimeError("could not place the new rows in the sheet")
    return out.replace(token, body)


_BEFORE_CALCPR = frozenset({
    "fileVersion", "fileSharing", "workbookPr", "workbookProtection", "bookViews", "sheets",
    "functionGroups", "externalReferences", "definedNames",
})


def calc_on_load(workbook_xml: bytes) -> bytes:
    """Set ``<calcPr fullCalcOnLoad="1"/>`` so Excel and LibreOffice recalculate on open."""
    tree = _parse(workbook_xml)
    root = tree.getroot()
    ns = _ns(root)
    calc = _child(root, ns, "calcPr")
    if calc is None:
        calc = etree.SubElement(root, f"{{{ns}}}calcPr")
        _insert_after_last_of(root, ns, _BEFORE_CALCPR, calc)
    calc.set("fullCalcOnLoad", "1")
    return _serialize(tree, workbook_xml)


def set_table_ref(table_xml: bytes, ref: str) -> bytes:
    """Point a table part (and its autoFilter) at a new range, e.g. after its rows changed.

    The columns stay as they are: only the number of rows may change.
    """
    c1, r1, c2, r2 = _split_range(ref)
    tree = _parse(table_xml)
    root = tree.getroot()
    ns = _ns(root)
    old = _split_range(root.get("ref", ""))
    if (old[0], old[2]) != (c1, c2):
        raise ValueError(f"table columns would change from {root.get('ref')} to {ref}")
    new_ref = _range_ref(c1, r1, c2, r2)
    root.set("ref", new_ref)
    auto = _child(root, ns, "autoFilter")
    if auto is not None:
        totals = int(root.get("totalsRowCount", "0") or 0)
        auto.set("ref", _range_ref(c1, r1, c2, r2 - totals))
    return _serialize(tree, table_xml)


# --------------------------------------------------------------------------------------------
# Writing the zip
# --------------------------------------------------------------------------------------------

_LOCAL_HEADER = struct.Struct("<4sHHHHHLLLHH")  # 30 bytes
_CENTRAL_HEADER = struct.Struct("<4sBBBBHHHHLLLHHHHHLL")  # 46 bytes
_END_RECORD = struct.Struct("<4sHHHHLLH")  # 22 bytes
_ZIP64_LIMIT = 0xFFFFFFFF
_FLAG_DATA_DESCRIPTOR = 0x08
_FLAG_UTF8 = 0x800
_CHUNK = 1 << 20


def _strip_zip64_extra(extra: bytes) -> bytes:
    """Drop the zip64 extra field (we write plain zip32 headers); keep every other field."""
    out = bytearray()
    i = 0
    while i + 4 <= len(extra):
        header_id, size = struct.unpack_from("<HH", extra, i)
        if i + 4 + size > len(extra):
            return bytes(out)  # a malformed tail: drop it
        if header_id != 0x0001:
            out += extra[i:i + 4 + size]
        i += 4 + size
    return bytes(out)


def _dos_datetime(date_time: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    y, mo, d, h, mi, s = date_time
    return (h << 11) | (mi << 5) | (s // 2), ((max(y, 1980) - 1980) << 9) | (mo << 5) | d


def _deflate(data: bytes) -> bytes:
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    return co.compress(data) + co.flush()


@dataclass
class _Entry:
    name: bytes
    flags: int
    method: int
    dos_time: int
    dos_date: int
    crc: int
    csize: int
    usize: int
    local_extra: bytes
    central_extra: bytes
    comment: bytes
    create_version: int
    create_system: int
    extract_version: int
    internal_attr: int
    external_attr: int
    offset: int = 0


def write_package(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    replacements: Mapping[str, bytes],
    *,
    new_parts: Mapping[str, bytes] | None = None,
) -> None:
    """Write the package *src* to *dst* with the parts in *replacements* swapped for new bytes.

    Every entry keeps its place in the zip. Replaced parts are deflated afresh; every other
    entry is copied as its raw compressed stream (same bytes, same CRC, never decompressed), so
    everything we do not own survives bit for bit. *new_parts* (optional) are appended at the
    end; adding their content types and relationships is the caller's job.

    Naming a part in *replacements* that *src* lacks raises ``KeyError`` (a typo would otherwise
    silently lose the update). On any error the partial *dst* is removed.
    """
    src, dst = Path(src), Path(dst)
    new_parts = dict(new_parts or {})
    if dst.exists() and os.path.samefile(src, dst):
        raise ValueError("write_package cannot write a package over itself; write to a temp file")
    for data in (*replacements.values(), *new_parts.values()):
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("part contents must be bytes")

    with zipfile.ZipFile(src) as zf:
        infos = zf.infolist()
        archive_comment = zf.comment
    names = [i.filename for i in infos]
    lowered = [n.lower() for n in names]
    if len(set(lowered)) != len(lowered):
        raise ValueError(f"{src.name} holds two parts with the same name: not a valid package")
    missing = sorted(set(replacements) - set(names))
    if missing:
        raise KeyError(f"{src.name} has no part(s) {', '.join(missing)} to replace")
    clash = sorted(n for n in new_parts if n.lower() in set(lowered))
    if clash:
        raise ValueError(f"{src.name} already has part(s) {', '.join(clash)}")
    if len(infos) + len(new_parts) >= 0xFFFF:
        raise ValueError("too many parts for a workbook")

    entries: list[_Entry] = []
    try:
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            for info in infos:
                fin.seek(info.header_offset)
                header = fin.read(_LOCAL_HEADER.size)
                if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
                    raise zipfile.BadZipFile(f"bad local header for {info.filename} in {src.name}")
                fields = _LOCAL_HEADER.unpack(header)
                name_len, extra_len = fields[9], fields[10]
                raw_name = fin.read(name_len)
                local_extra = fin.read(extra_len)
                encoding = "utf-8" if info.flag_bits & _FLAG_UTF8 else "cp437"
                if raw_name.decode(encoding, "replace") != info.orig_filename:
                    raise zipfile.BadZipFile(f"{info.filename}: local and central names differ")
                data_offset = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
                dos_time, dos_date = _dos_datetime(info.date_time)
                entry = _Entry(
                    name=raw_name, flags=info.flag_bits & ~_FLAG_DATA_DESCRIPTOR,
                    method=info.compress_type, dos_time=dos_time, dos_date=dos_date,
                    crc=info.CRC, csize=info.compress_size, usize=info.file_size,
                    local_extra=_strip_zip64_extra(local_extra),
                    central_extra=_strip_zip64_extra(info.extra), comment=info.comment,
                    create_version=info.create_version, create_system=info.create_system,
                    extract_version=info.extract_version, internal_attr=info.internal_attr,
                    external_attr=info.external_attr,
                )
                new = replacements.get(info.filename)
                if new is not None:
                    data = _deflate(bytes(new))
                    entry.flags = info.flag_bits & _FLAG_UTF8
                    entry.method = zipfile.ZIP_DEFLATED
                    entry.crc, entry.csize, entry.usize = zlib.crc32(new), len(data), len(new)
                    entry.extract_version = max(20, info.extract_version)
                    _write_entry(fout, entry, [data])
                else:
                    _write_entry(fout, entry, _copy_stream(fin, data_offset, info.compress_size))
                entries.append(entry)
            for name, data_in in new_parts.items():
                data = _deflate(bytes(data_in))
                raw_name = name.encode("utf-8")
                ascii_name = raw_name.isascii()
                dos_time, dos_date = _dos_datetime((1980, 1, 1, 0, 0, 0))
                entry = _Entry(
                    name=raw_name, flags=0 if ascii_name else _FLAG_UTF8,
                    method=zipfile.ZIP_DEFLATED, dos_time=dos_time, dos_date=dos_date,
                    crc=zlib.crc32(data_in), csize=len(data), usize=len(data_in),
                    local_extra=b"", central_extra=b"", comment=b"", create_version=20,
                    create_system=0, extract_version=20, internal_attr=0, external_attr=0,
                )
                _write_entry(fout, entry, [data])
                entries.append(entry)
            _write_central_directory(fout, entries, archive_comment)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise


def _copy_stream(fin, offset: int, size: int) -> Iterable[bytes]:
    fin.seek(offset)
    left = size
    while left:
        chunk = fin.read(min(_CHUNK, left))
        if not chunk:
            raise zipfile.BadZipFile("the zip file is truncated")
        left -= len(chunk)
        yield chunk


def _write_entry(fout, entry: _Entry, chunks: Iterable[bytes]) -> None:
    entry.offset = fout.tell()
    if max(entry.offset, entry.csize, entry.usize) >= _ZIP64_LIMIT:
        raise ValueError("the workbook is larger than 4 GB, which Excel cannot open either")
    fout.write(_LOCAL_HEADER.pack(
        b"PK\x03\x04", entry.extract_version, entry.flags, entry.method, entry.dos_time,
        entry.dos_date, entry.crc, entry.csize, entry.usize, len(entry.name), len(entry.local_extra),
    ))
    fout.write(entry.name)
    fout.write(entry.local_extra)
    written = 0
    for chunk in chunks:
        fout.write(chunk)
        written += len(chunk)
    if written != entry.csize:
        raise zipfile.BadZipFile(f"{entry.name!r}: wrote {written} bytes, expected {entry.csize}")


def _write_central_directory(fout, entries: list[_Entry], comment: bytes) -> None:
    start = fout.tell()
    for e in entries:
        fout.write(_CENTRAL_HEADER.pack(
            b"PK\x01\x02", e.create_version, e.create_system, e.extract_version, 0, e.flags,
            e.method, e.dos_time, e.dos_date, e.crc, e.csize, e.usize, len(e.name),
            len(e.central_extra), len(e.comment), 0, e.internal_attr, e.external_attr, e.offset,
        ))
        fout.write(e.name)
        fout.write(e.central_extra)
        fout.write(e.comment)
    end = fout.tell()
    if end >= _ZIP64_LIMIT:
        raise ValueError("the workbook is larger than 4 GB, which Excel cannot open either")
    fout.write(_END_RECORD.pack(
        b"PK\x05\x06", 0, 0, len(entries), len(entries), end - start, start, len(comment)
    ))
    fout.write(comment)


def _raw_stream(fin: BinaryIO, info: zipfile.ZipInfo) -> bytes:
    """The compressed bytes of one entry, read straight from the file (no inflating)."""
    fin.seek(info.header_offset)
    header = fin.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    fields = _LOCAL_HEADER.unpack(header)
    fin.seek(info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10])
    return fin.read(info.compress_size)


def verify_package(src: str | os.PathLike[str], dst: str | os.PathLike[str], replaced: Iterable[str]) -> None:
    """Check that *dst* is *src* with only *replaced* parts changed, before it replaces *src*.

    Replaced parts are inflated and CRC-checked; every other entry's raw compressed bytes must
    equal the original's (a byte comparison: as strong as a CRC check of the copy, without
    inflating a 50 MB sheet we never touched). Raises ``zipfile.BadZipFile`` on any difference.
    """
    replaced = set(replaced)
    with zipfile.ZipFile(src) as za, zipfile.ZipFile(dst) as zb:
        a, b = {i.filename: i for i in za.infolist()}, {i.filename: i for i in zb.infolist()}
        if set(a) != set(b):
            raise zipfile.BadZipFile(f"parts differ: {sorted(set(a) ^ set(b))[:5]}")
        with open(src, "rb") as fa, open(dst, "rb") as fb:
            for name, info in b.items():
                if name in replaced:
                    zb.read(name)  # inflates and checks the CRC
                elif (info.CRC, info.compress_size) != (a[name].CRC, a[name].compress_size) or \
                        _raw_stream(fa, a[name]) != _raw_stream(fb, info):
                    raise zipfile.BadZipFile(f"{name} changed in the copy")
