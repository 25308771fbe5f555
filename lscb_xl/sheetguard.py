"""Put back the dropdowns and RAG colours a record sheet should carry, if staff lost them.

Pasting over cells in Excel replaces their data validation; clearing formats removes the RAG
conditional formats. Refresh calls :func:`ensure_sheet_rules` on each record sheet: where a
dropdown or the RAG rules are missing it adds them back in the sheet XML (and the RAG fills in
``styles.xml``); where they are present nothing changes, so the sheet part is not rewritten.
"""

from __future__ import annotations

import re

from lxml import etree

from lscb_xl import schema
from lscb_xl.model import col_letter

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#: Worksheet children that come before conditionalFormatting / dataValidations (CT_Worksheet order).
_BEFORE_CF = frozenset({
    "sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData", "sheetCalcPr", "sheetProtection",
    "protectedRanges", "scenarios", "autoFilter", "sortState", "dataConsolidate", "customSheetViews",
    "mergeCells", "phoneticPr", "conditionalFormatting",
})
_BEFORE_DV = _BEFORE_CF | {"conditionalFormatting"}
#: Rows covered by restored rules (the builder's table rows plus its spare rows).
RULE_ROWS = 500


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _cells(sqref: str) -> list[tuple[int, int, int, int]]:
    """sqref "A1:B3 D5" -> [(min_row, min_col, max_row, max_col), ...]."""
    out = []
    for part in sqref.split():
        m = re.fullmatch(r"\$?([A-Z]+)\$?(\d+)(?::\$?([A-Z]+)\$?(\d+))?", part)
        if not m:
            continue
        c1, r1 = _col(m.group(1)), int(m.group(2))
        c2, r2 = (_col(m.group(3)), int(m.group(4))) if m.group(3) else (c1, r1)
        out.append((r1, c1, r2, c2))
    return out


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _covers(sqref: str, row: int, col: int) -> bool:
    return any(r1 <= row <= r2 and c1 <= col <= c2 for r1, c1, r2, c2 in _cells(sqref))


def _insert(root: etree._Element, el: etree._Element, before: frozenset[str]) -> None:
    index = 0
    for i, child in enumerate(root):
        if isinstance(child.tag, str) and etree.QName(child).localname in before:
            index = i + 1
    root.insert(index, el)


def _has_dropdown(root: etree._Element, list_name: str, row: int, col: int) -> bool:
    for dv in root.iter(_q("dataValidation")):
        f1 = dv.find(_q("formula1"))
        if dv.get("type") == "list" and f1 is not None and (f1.text or "").strip() == list_name \
                and _covers(dv.get("sqref", ""), row, col):
            return True
    return False


def _has_rag_rules(root: etree._Element, row: int, col: int) -> bool:
    for cf in root.iter(_q("conditionalFormatting")):
        if _covers(cf.get("sqref", ""), row, col):
            formulas = {(f.text or "").strip() for f in cf.iter(_q("formula"))}
            if all(f'"{code}"' in formulas for code in schema.RAG_CODES):
                return True
    return False


def _cut(sheet_xml: bytes) -> tuple[bytes, int]:
    """The worksheet start tag, and the offset where the cell data ends."""
    start_tag = re.search(rb"<(?:\w+:)?worksheet\b[^>]*>", sheet_xml)
    if start_tag is None:
        raise ValueError("not a worksheet part")
    end = sheet_xml.rfind(b"</sheetData>")
    cut = end + len(b"</sheetData>") if end >= 0 else sheet_xml.find(b"<sheetData/>") + len(b"<sheetData/>")
    return start_tag.group(0), max(cut, start_tag.end())


def sheet_tail(sheet_xml: bytes) -> bytes:
    """The worksheet start tag and everything after the cell data: a small, parseable fragment."""
    start_tag, cut = _cut(sheet_xml)
    return start_tag + sheet_xml[cut:]


def _split(sheet_xml: bytes) -> tuple[bytes, etree._Element]:
    """The sheet up to the end of its cell data, and the rest parsed on its own.

    Rules live after <sheetData>, so only that small tail is parsed: a register sheet with
    100,000 rows is 50 MB of XML we never need to look at.
    """
    start_tag, cut = _cut(sheet_xml)
    return sheet_xml[:cut], etree.fromstring(start_tag + sheet_xml[cut:])


def _join(head: bytes, root: etree._Element) -> bytes:
    """Put a (changed) tail back after the untouched head."""
    text = etree.tostring(root)
    inner = text[re.match(rb"<[^>]*>", text).end():]  # type: ignore[union-attr]
    return head + inner


def rag_dxf_ids(styles_xml: bytes) -> tuple[bytes, dict[str, int]]:
    """dxf indexes for the RAG fills, appending any that styles.xml lacks."""
    root = etree.fromstring(styles_xml)
    dxfs = root.find(_q("dxfs"))
    if dxfs is None:
        dxfs = etree.Element(_q("dxfs"))
        _insert(root, dxfs, frozenset({"numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs",
                                       "cellStyles"}))
    ids: dict[str, int] = {}
    existing = list(dxfs.findall(_q("dxf")))
    for code, _word, _meaning, fill, font in schema.RAG_RATINGS:
        rgb = "FF" + fill.lstrip("#").upper()
        for i, dxf in enumerate(existing):
            if any((c.get("rgb") or "").upper() == rgb for c in dxf.iter(_q("bgColor"))):
                ids[code] = i
                break
        else:
            dxf = etree.SubElement(dxfs, _q("dxf"))
            fnt = etree.SubElement(dxf, _q("font"))
            etree.SubElement(fnt, _q("b"))
            etree.SubElement(fnt, _q("color"), rgb="FF" + font.lstrip("#").upper())
            pattern = etree.SubElement(etree.SubElement(dxf, _q("fill")), _q("patternFill"))
            etree.SubElement(pattern, _q("bgColor"), rgb=rgb)
            existing.append(dxf)
            ids[code] = len(existing) - 1
    dxfs.set("count", str(len(existing)))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True), ids


def missing_rules(tail: bytes, table: schema.Table, origin: tuple[int, int]) -> list[schema.Column]:
    """Columns of ``table`` whose dropdown or RAG rules are missing (``tail``: see :func:`sheet_tail`)."""
    root = etree.fromstring(tail)
    row, col = origin
    out = []
    for j, column in enumerate(table.columns):
        if not column.choices:
            continue
        lk = schema.LOOKUP_BY_NAME[column.choices]
        ok = _has_dropdown(root, lk.list_name, row + 1, col + j)
        if column.choices == "RAG":
            ok = ok and _has_rag_rules(root, row + 1, col + j)
        if not ok:
            out.append(column)
    return out


def ensure_sheet_rules(
    sheet_xml: bytes, table: schema.Table, origin: tuple[int, int], n_rows: int, dxf_ids: dict[str, int]
) -> bytes:
    """The sheet XML with every missing dropdown and RAG rule of ``table`` added back."""
    head, root = _split(sheet_xml)
    row, col = origin
    last = row + max(n_rows, 1) + RULE_ROWS
    for j, column in enumerate(table.columns):
        if not column.choices:
            continue
        letter = col_letter(col + j)
        sqref = f"{letter}{row + 1}:{letter}{last}"
        lk = schema.LOOKUP_BY_NAME[column.choices]
        if not _has_dropdown(root, lk.list_name, row + 1, col + j):
            dvs = root.find(_q("dataValidations"))
            if dvs is None:
                dvs = etree.Element(_q("dataValidations"))
                _insert(root, dvs, _BEFORE_DV)
            dv = etree.SubElement(dvs, _q("dataValidation"), type="list", allowBlank="1", showInputMessage="1",
                                  showErrorMessage="1", errorTitle="Not in the list", sqref=sqref,
                                  error=f"Choose a value from the {lk.name} list on the Lookups sheet.")
            etree.SubElement(dv, _q("formula1")).text = lk.list_name
            dvs.set("count", str(len(dvs)))
        if column.choices == "RAG" and not _has_rag_rules(root, row + 1, col + j):
            cf = etree.Element(_q("conditionalFormatting"), sqref=sqref)
            top = max([int(r.get("priority", "0")) for r in root.iter(_q("cfRule"))] + [0])
            for k, code in enumerate(schema.RAG_CODES):
                rule = etree.SubElement(cf, _q("cfRule"), type="cellIs", dxfId=str(dxf_ids[code]),
                                        priority=str(top + 1 + k), operator="equal")
                etree.SubElement(rule, _q("formula")).text = f'"{code}"'
            _insert(root, cf, _BEFORE_CF)
    return _join(head, root)
