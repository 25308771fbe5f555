"""The data-protection check: nothing leaves that should not.

Two questions, asked before anything is written for others, attached or sent:

* Does the outgoing text (email bodies, the Word summary, the subject) carry case detail, that
  is text from a column the schema marks ``restricted``, or the text of a workbook comment?
  :func:`check_outgoing` compares runs of words, so a quote is found through re-wrapping, HTML
  escaping and changes of case, even when only part of the cell is quoted.
* Does a file carry things its sender cannot see: hidden or very hidden sheets and comments in
  a workbook (:func:`check_workbook_file`), comments, hidden text or tracked changes in a Word
  document (:func:`check_docx`)?

Every refusal names what it found (sheet, cell, column, part) but never quotes the case detail
itself, so the message is safe to paste into a support ticket.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from lxml import etree

from lscb_xl import schema
from lscb_xl.model import BoardData
from lscb_xl.summary import ReportError

#: Restricted values shorter than this are too trivial to recognise ("n/a", "None").
MIN_CHARS = 12
#: Word-sequence length that counts as a quote of a longer restricted value.
SHINGLE = 8
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_WORD = re.compile(r"\w+")


class LeakFound(ReportError):
    """Outgoing content carries something it must not; the message names what and where."""


# --------------------------------------------------------------------------------------------
# Restricted text in outgoing content
# --------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return _WORD.findall(html.unescape(text).casefold())


def _shingles(words: Sequence[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def _value_text(value: Any) -> str:
    return "" if value is None else re.sub(r"\s+", " ", str(value)).strip()


def _restricted_cells(data: BoardData) -> Iterable[tuple[str, str, list[str]]]:
    """(where, text, the same record's unrestricted texts) for every non-trivial restricted cell."""
    for table in schema.ALL_TABLES:
        public_keys = [c.key for c in table.columns if not c.restricted]
        for col in (c for c in table.columns if c.restricted):
            for i, rec in enumerate(data.records(table)):
                text = _value_text(rec.get(col.key))
                if len(text) >= MIN_CHARS:
                    where = f"{table.sheet}!{data.cell(table, i, col.key)} ({col.header})"
                    yield where, text, [_value_text(rec.get(k)) for k in public_keys]


def restricted_values(data: BoardData) -> list[tuple[str, str]]:
    """(where, text) of every non-trivial restricted cell, e.g. ("Audits!D5 (Findings)", "...")."""
    return [(where, text) for where, text, _public in _restricted_cells(data)]


def _public_texts(data: BoardData) -> Iterable[str]:
    """Every unrestricted value in the workbook: text that may legitimately appear in a summary."""
    for table in schema.ALL_TABLES:
        keys = [c.key for c in table.columns if not c.restricted]
        for rec in data.records(table):
            yield from (_value_text(rec.get(k)) for k in keys)
    for rows in data.lookups.values():
        for rec in rows:
            yield from (_value_text(v) for v in rec.values())
    yield from (_value_text(v) for v in data.settings.values())


class _Public:
    """Phrases a secret may share with the output without leaking anything (they are public anyway)."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.shingles: set[tuple[str, ...]] = set()
        joined = []
        for text in texts:
            words = _words(text)
            self.shingles |= _shingles(words)
            joined.append(" ".join(words))
        self.joined = " | ".join(joined)

    def has_phrase(self, words: Sequence[str]) -> bool:
        return f" {' '.join(words)} " in f" {self.joined} "


def _leaks(secret: str, text_words: Sequence[str], text_shingles: set[tuple[str, ...]], public: _Public) -> bool:
    words = _words(secret)
    if not words:
        return False
    if len(words) < SHINGLE:
        return not public.has_phrase(words) and f" {' '.join(words)} " in f" {' '.join(text_words)} "
    return bool((_shingles(words) & text_shingles) - public.shingles)


def _secrets(data: BoardData, extra: Mapping[str, str] | None) -> list[tuple[str, str, _Public]]:
    """What must not leave, each with the phrases it may share with the output.

    A restricted cell may share phrases with its own record's unrestricted cells (an audit finding
    that restates its task); text copied from it into any other cell is still its text, and is
    refused. A comment may share phrases with any unrestricted cell, since quoting a cell adds
    nothing to what the summary shows anyway.
    """
    found = [(where, text, _Public(public)) for where, text, public in _restricted_cells(data)]
    extra = {k: v for k, v in (extra or {}).items() if len(v.strip()) >= MIN_CHARS}
    if extra:
        everything = _Public(_public_texts(data))
        found += [(where, text, everything) for where, text in extra.items()]
    return found


def find_leaks(texts: Sequence[str], data: BoardData, labels: Sequence[str] | None = None,
               extra: Mapping[str, str] | None = None) -> list[str]:
    """Descriptions of every restricted value (or ``extra`` secret) found in ``texts``; [] when clean."""
    secrets = _secrets(data, extra)
    if not secrets:
        return []
    names = list(labels or []) + [f"outgoing text {i + 1}" for i in range(len(labels or []), len(texts))]
    found = []
    for name, text in zip(names, texts, strict=False):
        words = _words(text)
        shingles = _shingles(words)
        found += [f"{where} in the {name}" for where, secret, public in secrets
                  if _leaks(secret, words, shingles, public)]
    return found


def check_outgoing(texts: list[str], data: BoardData, labels: Sequence[str] | None = None,
                   extra: Mapping[str, str] | None = None) -> None:
    """Raise :class:`LeakFound` naming each restricted cell whose text appears in the outgoing texts.

    ``labels`` names the texts in the message ("HTML body"); ``extra`` adds other secrets, such as
    the text of the source workbook's comments, keyed by where they came from.
    """
    found = find_leaks(texts, data, labels, extra)
    if found:
        shown = "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
        raise LeakFound(f"refused: the outgoing content contains restricted case detail: {shown}.")


def check_workbook_records(data: BoardData) -> list[str]:
    """Restricted cells that hold anything at all: attaching the workbook would send them whole."""
    found = []
    for table in schema.ALL_TABLES:
        for col in (c for c in table.columns if c.restricted):
            cells = [data.cell(table, i, col.key) for i, rec in enumerate(data.records(table))
                     if _value_text(rec.get(col.key))]
            if cells:
                more = f" and {len(cells) - 3} more" if len(cells) > 3 else ""
                found.append(f"case detail in the restricted column {col.header!r} on sheet {table.sheet!r} "
                             f"({', '.join(cells[:3])}{more})")
    return found


# --------------------------------------------------------------------------------------------
# Workbook files: hidden sheets and comments
# --------------------------------------------------------------------------------------------


def _xml(zf: zipfile.ZipFile, name: str) -> etree._Element | None:
    try:
        return etree.fromstring(zf.read(name))
    except (KeyError, etree.XMLSyntaxError):
        return None


def _rels(zf: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """rId -> (type, absolute part name) for one part's relationships."""
    path = PurePosixPath(part)
    root = _xml(zf, str(path.parent / "_rels" / f"{path.name}.rels"))
    out: dict[str, tuple[str, str]] = {}
    for rel in [] if root is None else root.iter(f"{{{PKG_REL_NS}}}Relationship"):
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External":
            continue
        full = target.lstrip("/") if target.startswith("/") else str(path.parent / target)
        parts: list[str] = []
        for piece in full.split("/"):
            if piece == "..":
                parts = parts[:-1]
            elif piece and piece != ".":
                parts.append(piece)
        out[rel.get("Id", "")] = (rel.get("Type", ""), "/".join(parts))
    return out


def _sheets(zf: zipfile.ZipFile) -> list[tuple[str, str, str]]:
    """(name, state, part) of every sheet, in workbook order."""
    root = _xml(zf, "xl/workbook.xml")
    if root is None:
        return []
    rels = _rels(zf, "xl/workbook.xml")
    return [(s.get("name", ""), s.get("state", "visible"), rels.get(s.get(f"{{{REL_NS}}}id", ""), ("", ""))[1])
            for s in root.iter(f"{{{MAIN_NS}}}sheet")]


def _comment_refs(zf: zipfile.ZipFile, part: str) -> list[tuple[str, str]]:
    """(cell, text) of each comment or threaded comment in one comments part."""
    root = _xml(zf, part)
    if root is None:
        return []
    out = []
    for el in root.iter():
        if not isinstance(el.tag, str) or el.get("ref") is None:
            continue
        if etree.QName(el).localname in ("comment", "threadedComment"):
            out.append((el.get("ref", ""), re.sub(r"\s+", " ", "".join(el.itertext())).strip()))
    return out


def workbook_comments(path: Path) -> list[tuple[str, str, str]]:
    """(kind, where, text) of every comment: 'comment' or 'threaded comment', 'Audits!D5', its text."""
    found: list[tuple[str, str, str]] = []
    with zipfile.ZipFile(path) as zf:
        linked: set[str] = set()
        for name, _state, part in _sheets(zf):
            for kind, target in _rels(zf, part).values():
                if kind.endswith("/comments") or kind.endswith("/threadedComment"):
                    linked.add(target)
                    label = "threaded comment" if "threaded" in kind else "comment"
                    found += [(label, f"{name}!{ref}", text) for ref, text in _comment_refs(zf, target)]
        for member in zf.namelist():
            if re.fullmatch(r"xl/(comments[^/]*|threadedComments/[^/]+)\.xml", member) and member not in linked:
                found += [("comment", f"{member} {ref}", text) for ref, text in _comment_refs(zf, member)]
    return found


def check_workbook_file(path: Path) -> list[str]:
    """Hidden and very hidden sheets and comments in a workbook file, each named; [] when none.

    Read from the zip package directly (xl/workbook.xml sheet states, the comments parts each
    sheet links to), so nothing is missed because a reader library skips it.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise LeakFound(f"refused: {path.name} is not an Excel workbook, so it cannot be checked.")
    found = []
    with zipfile.ZipFile(path) as zf:
        for name, state, _part in _sheets(zf):
            if state in ("hidden", "veryHidden"):
                found.append(f"{'very hidden' if state == 'veryHidden' else 'hidden'} sheet {name!r}")
    found += [f"{kind} on {where}" for kind, where, _text in workbook_comments(path)]
    return found


def comment_secrets(path: Path) -> dict[str, str]:
    """Comment texts keyed by where they are, to be checked for in outgoing text like restricted cells."""
    return {f"{kind} on {where}": text for kind, where, text in workbook_comments(path) if text}


# --------------------------------------------------------------------------------------------
# Word documents: text for the check, and things hidden in the file
# --------------------------------------------------------------------------------------------


def docx_texts(docx_bytes: bytes) -> list[str]:
    """All text a .docx carries: each paragraph of every XML part, plus alt text and properties."""
    texts = []
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as zf:
        for name in zf.namelist():
            if not name.endswith(".xml"):
                continue
            root = _xml(zf, name)
            if root is None:
                continue
            paras = list(root.iter(f"{{{W_NS}}}p"))
            texts += ["".join(p.itertext()) for p in paras] if paras else [" ".join(root.itertext())]
            texts += [v for el in root.iter() if isinstance(el.tag, str)
                      for k, v in el.attrib.items() if k in ("descr", "title")]
    return texts


def check_docx(docx_bytes: bytes) -> list[str]:
    """Comments, hidden text and tracked changes in a Word document (a restyled template may bring them)."""
    found = []
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as zf:
        for name in zf.namelist():
            if not re.fullmatch(r"word/[^/]+\.xml", name):
                continue
            root = _xml(zf, name)
            if root is None:
                continue
            local = {etree.QName(el).localname for el in root.iter() if isinstance(el.tag, str)}
            if "comment" in local and "comments" in name:
                found.append(f"Word comments ({name})")
            if "vanish" in local:
                found.append(f"hidden text ({name})")
            if local & {"ins", "del", "delText"}:
                found.append(f"tracked changes ({name})")
    return found
