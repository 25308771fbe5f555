"""Build ``vbaProject.bin`` from VBA source text, following [MS-OVBA].

What goes in, and why (section numbers are [MS-OVBA]'s):

- ``VBA/_VBA_PROJECT`` (2.3.4.1): seven bytes with version 0xFFFF and no performance cache. The
  spec tells writers to do exactly this; Office then compiles the project from source. The
  undefined last two bytes are 01 00, as in the spec's example 3.1.1 and in the project inside
  xlwings' own ribbon add-in.
- ``VBA/dir`` (2.3.4.2, compressed): project information (Win32, LCID 0x409, code page 1252,
  name, empty doc string/help file/constants), references to stdole and the Office library
  (``IRibbonControl`` lives there), then one MODULE record per module with text offset 0.
- ``VBA/<module>``: each module's source, CRLF line endings, code page 1252, compressed. With
  text offset 0 the stream is nothing but the compressed source.
- ``PROJECT`` (2.3.1): the text the VBA editor reads: ID, Document=/Module= lines, name, and the
  CMG/DPB/GC values of an unprotected, visible project, obfuscated per 2.4.3.2.
- ``PROJECTwm`` (2.3.3): module names in MBCS and UTF-16.

Excel workbooks always carry document modules for the workbook and each sheet, so
:func:`build_vba_project` adds ``ThisWorkbook`` and ``Sheet1`` (type 0x0022, with the
``VB_Base`` attributes Excel writes) unless the caller supplies their bodies.
"""

from __future__ import annotations

import hashlib
import re
import struct
import uuid
from collections.abc import Iterable

from lscb_xl.vba import ovba
from lscb_xl.vba.cfb import build_cfb, read_cfb

__all__ = [
    "DOCUMENT_MODULES", "build_vba_project", "decrypt", "decrypt_parts", "encrypt", "normalise_source", "project_id",
    "read_modules",
]

CODEPAGE = 1252
ENCODING = "cp1252"
LCID = 0x0409

#: Document modules an Excel workbook has, with the class each one's ``VB_Base`` names.
DOCUMENT_MODULES: dict[str, str] = {
    "ThisWorkbook": "0{00020819-0000-0000-C000-000000000046}",  # Excel.Workbook
    "Sheet1": "0{00020820-0000-0000-C000-000000000046}",  # Excel.Worksheet
}

#: (name, LIBID) of the type libraries every Excel project references (2.1.1.8 LibidReference).
REFERENCES: tuple[tuple[str, str], ...] = (
    ("stdole", r"*\G{00020430-0000-0000-C000-000000000046}#2.0#0#C:\Windows\System32\stdole2.tlb#OLE Automation"),
    (
        "Office",
        r"*\G{2DF8D04C-5BFA-101B-BDE5-00AA0044DE52}#2.0#0#C:\Program Files\Common Files\Microsoft Shared"
        r"\OFFICE16\MSO.DLL#Microsoft Office 16.0 Object Library",
    ),
)

_VBA_PROJECT = bytes.fromhex("CC61FFFF000100")
_VISIBLE = b"\xff"  # ProjectVisibilityState: the project shows in the VBA editor
_HOST_EXTENDER = "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000"
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,30}$")
_PROCEDURAL, _DOCUMENT = 0x0021, 0x0022


# ---------------------------------------------------------------------------------------------
# Source text
# ---------------------------------------------------------------------------------------------


def normalise_source(text: str) -> str:
    """CRLF line endings and a final line break: how the VBA editor stores every module."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text and not text.endswith("\n"):
        text += "\n"
    return text.replace("\n", "\r\n")


def _procedural_source(name: str, text: str) -> str:
    """A standard module's stored source: ``Attribute VB_Name`` first, as an exported .bas has it."""
    text = normalise_source(text)
    header = f'Attribute VB_Name = "{name}"'
    first = text.split("\r\n", 1)[0]
    if first.replace(" ", "").lower().startswith("attributevb_name="):
        if first.split("=", 1)[1].strip().strip('"') != name:
            raise ValueError(f"module {name!r} says it is {first.split('=', 1)[1].strip()} in its VB_Name line")
        return text
    return f"{header}\r\n{text}"


def _document_source(name: str, base: str, body: str) -> str:
    """A document module's stored source: the attribute block Excel writes, then the body."""
    attributes = [
        f'Attribute VB_Name = "{name}"',
        f'Attribute VB_Base = "{base}"',
        "Attribute VB_GlobalNameSpace = False",
        "Attribute VB_Creatable = False",
        "Attribute VB_PredeclaredId = True",
        "Attribute VB_Exposed = True",
        "Attribute VB_TemplateDerived = False",
        "Attribute VB_Customizable = True",
    ]
    return "\r\n".join(attributes) + "\r\n" + normalise_source(body)


def _encode(text: str, what: str) -> bytes:
    """Encode in the project's code page, refusing (not mangling) characters it cannot hold."""
    try:
        return text.encode(ENCODING)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start]
        raise ValueError(f"{what} has a character code page {CODEPAGE} cannot hold: {bad!r}") from None


# ---------------------------------------------------------------------------------------------
# PROJECT stream obfuscation (2.4.3)
# ---------------------------------------------------------------------------------------------


def _project_key(project_id: str) -> int:
    """ProjKey: the byte sum of the project's ``{GUID}`` text."""
    return sum(project_id.encode("ascii")) & 0xFF


def encrypt(project_id: str, data: bytes, seed: int, ignored: bytes = b"") -> str:
    """Data Encryption (2.4.3.2) of *data* as the hex text CMG/DPB/GC hold.

    *seed* and the *ignored* filler bytes are free choices (Office picks them at random); we
    derive them from the project ID so a build is reproducible. ``len(ignored)`` must equal
    ``(seed & 6) // 2``, which is how a reader knows how many to skip.
    """
    if len(ignored) != (seed & 6) // 2:
        raise ValueError("the number of ignored bytes must be (seed & 6) / 2")
    key = _project_key(project_id)
    version_enc, key_enc = seed ^ 2, seed ^ key
    out = bytearray([seed, version_enc, key_enc])
    unenc1, enc1, enc2 = key, key_enc, version_enc
    for byte in ignored + struct.pack("<I", len(data)) + data:
        byte_enc = byte ^ ((enc2 + unenc1) & 0xFF)
        out.append(byte_enc)
        enc2, enc1, unenc1 = enc1, byte_enc, byte
    return out.hex().upper()


def decrypt(project_id: str, text: str) -> bytes:
    """Data Decryption (2.4.3.3): the inverse of :func:`encrypt`, checking version and key."""
    return decrypt_parts(project_id, text)[2]


def decrypt_parts(project_id: str, text: str) -> tuple[int, bytes, bytes]:
    """(seed, ignored filler, data) of an encrypted PROJECT value: what :func:`encrypt` took."""
    raw = bytes.fromhex(text)
    seed, version_enc, key_enc = raw[:3]
    if seed ^ version_enc != 2 or seed ^ key_enc != _project_key(project_id):
        raise ValueError("not encrypted for this project (bad version or project key)")
    unenc1, enc1, enc2 = seed ^ key_enc, key_enc, version_enc
    plain = bytearray()
    for byte_enc in raw[3:]:
        byte = byte_enc ^ ((enc2 + unenc1) & 0xFF)
        plain.append(byte)
        enc2, enc1, unenc1 = enc1, byte_enc, byte
    skip = (seed & 6) // 2
    length = struct.unpack_from("<I", plain, skip)[0]
    data = bytes(plain[skip + 4 :])
    if len(data) != length:
        raise ValueError("encrypted length does not match")
    return seed, bytes(plain[:skip]), data


def _encrypt_field(project_id: str, label: str, data: bytes) -> str:
    """Encrypt one PROJECT field with a seed and filler derived from the ID: reproducible output."""
    digest = hashlib.sha256(f"{project_id}:{label}".encode()).digest()
    seed = digest[0]
    return encrypt(project_id, data, seed, digest[1 : 1 + (seed & 6) // 2])


# ---------------------------------------------------------------------------------------------
# dir stream (2.3.4.2)
# ---------------------------------------------------------------------------------------------


def _rec(rec_id: int, payload: bytes) -> bytes:
    """A record: 2-byte id, 4-byte size, payload."""
    return struct.pack("<HI", rec_id, len(payload)) + payload


def _u32(rec_id: int, value: int) -> bytes:
    return _rec(rec_id, struct.pack("<I", value))


def _u16(rec_id: int, value: int) -> bytes:
    return _rec(rec_id, struct.pack("<H", value))


def _text_pair(rec_id: int, reserved: int, text: str) -> bytes:
    """A record holding *text* in MBCS, then (after a reserved id) in UTF-16, as 2.3.4.2 has many."""
    return _rec(rec_id, _encode(text, "a project string")) + _rec(reserved, text.encode("utf-16-le"))


def _information(project_name: str) -> bytes:
    """PROJECTINFORMATION (2.3.4.2.1)."""
    return b"".join([
        _u32(0x0001, 0x00000001),  # SYSKIND: Win32 (Office of any bitness recompiles)
        _u32(0x0002, LCID),
        _u32(0x0014, LCID),  # LCIDINVOKE
        _u16(0x0003, CODEPAGE),
        _rec(0x0004, _encode(project_name, "the project name")),
        _text_pair(0x0005, 0x0040, ""),  # DOCSTRING
        _text_pair(0x0006, 0x003D, ""),  # HELPFILEPATH: HelpFile1 then HelpFile2
        _u32(0x0007, 0),  # HELPCONTEXT
        _u32(0x0008, 0),  # LIBFLAGS
        struct.pack("<HIIH", 0x0009, 4, 1, 0),  # VERSION: its "size" is the constant 4, the payload 6 bytes
        _text_pair(0x000C, 0x003C, ""),  # CONSTANTS
    ])


def _references() -> bytes:
    """PROJECTREFERENCES (2.3.4.2.2): a REFERENCENAME then a REFERENCEREGISTERED for each library."""
    out = b""
    for name, libid in REFERENCES:
        lib = _encode(libid, "a reference")
        out += _text_pair(0x0016, 0x003E, name)
        out += _rec(0x000D, struct.pack("<I", len(lib)) + lib + struct.pack("<IH", 0, 0))
    return out


def _module_record(name: str, kind: int) -> bytes:
    """One MODULE record (2.3.4.2.3.2), its text at offset 0 (no performance cache)."""
    return b"".join([
        _rec(0x0019, _encode(name, "a module name")),
        _rec(0x0047, name.encode("utf-16-le")),  # MODULENAMEUNICODE
        _text_pair(0x001A, 0x0032, name),  # MODULESTREAMNAME
        _text_pair(0x001C, 0x0048, ""),  # MODULEDOCSTRING
        _u32(0x0031, 0),  # MODULEOFFSET
        _u32(0x001E, 0),  # MODULEHELPCONTEXT
        _u16(0x002C, 0xFFFF),  # MODULECOOKIE
        struct.pack("<HI", kind, 0),  # MODULETYPE: procedural 0x21 or document 0x22
        struct.pack("<HI", 0x002B, 0),  # terminator
    ])


def _dir_stream(project_name: str, modules: list[tuple[str, int]]) -> bytes:
    """The decompressed ``dir`` stream."""
    head = struct.pack("<HIH", 0x000F, 2, len(modules)) + _u16(0x0013, 0xFFFF)  # PROJECTMODULES, COOKIE
    body = b"".join(_module_record(name, kind) for name, kind in modules)
    return _information(project_name) + _references() + head + body + struct.pack("<HI", 0x0010, 0)


# ---------------------------------------------------------------------------------------------
# PROJECT and PROJECTwm
# ---------------------------------------------------------------------------------------------


def project_id(project_name: str) -> str:
    """A stable ``{GUID}`` for the project, so the same source always builds the same bytes."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:lscb-xl:vba:{project_name}")).upper() + "}"


def _project_text(project_name: str, pid: str, modules: list[tuple[str, int]]) -> bytes:
    """The PROJECT stream (2.3.1) for an unprotected, visible project."""
    lines = [f'ID="{pid}"']
    lines += [f"Document={n}/&H00000000" if k == _DOCUMENT else f"Module={n}" for n, k in modules]
    lines += [
        f'Name="{project_name}"',
        'HelpContextID="0"',
        'VersionCompatible32="393222000"',
        f'CMG="{_encrypt_field(pid, "CMG", bytes(4))}"',  # protection state: none
        f'DPB="{_encrypt_field(pid, "DPB", bytes(1))}"',  # password: none
        f'GC="{_encrypt_field(pid, "GC", _VISIBLE)}"',  # visibility: visible
        "",
        "[Host Extender Info]",
        _HOST_EXTENDER,
        "",
        "[Workspace]",
        *(f"{n}=0, 0, 0, 0, C" for n, _ in modules),
    ]
    return _encode("\r\n".join(lines) + "\r\n", "the PROJECT stream")


def _name_map(names: Iterable[str]) -> bytes:
    """PROJECTwm (2.3.3): each name in MBCS and UTF-16, null-terminated, then a final 0x0000."""
    return b"".join(_encode(n, "a module name") + b"\x00" + n.encode("utf-16-le") + b"\x00\x00" for n in names) + (
        b"\x00\x00"
    )


def build_vba_project(modules: dict[str, str], project_name: str = "LSCBAddin") -> bytes:
    """Return the bytes of a ``vbaProject.bin`` holding *modules* (name -> VBA source text).

    Standard modules may start with their ``Attribute VB_Name`` line (as an exported .bas does)
    or not; it is added when missing. A name in :data:`DOCUMENT_MODULES` supplies that document
    module's body instead; the document modules not given are added empty. The project's name
    must differ from every module's: the VBA editor refuses a module named like its project
    ("Name conflicts with existing module, project, or object library"), which is why the
    default is ``LSCBAddin`` beside the ``LSCB`` module.
    """
    for name in [project_name, *modules]:
        if not _IDENTIFIER.match(name):
            raise ValueError(f"{name!r} is not a valid VBA name (a letter, then letters, digits or _, at most 31)")
    documents = {d.upper(): d for d in DOCUMENT_MODULES}
    upper = [n.upper() for n in modules]
    if len(set(upper)) != len(upper) or any(documents.get(n.upper(), n) != n for n in modules):
        raise ValueError("module names must differ from each other, ignoring case")
    if project_name.upper() in {*upper, *documents}:
        raise ValueError(f"the project name {project_name!r} must differ from every module's name")
    sources: dict[str, str] = {n: _document_source(n, base, modules.get(n, "")) for n, base in DOCUMENT_MODULES.items()}
    sources |= {n: _procedural_source(n, text) for n, text in modules.items() if n not in DOCUMENT_MODULES}
    kinds = [(n, _DOCUMENT if n in DOCUMENT_MODULES else _PROCEDURAL) for n in sources]
    pid = project_id(project_name)
    streams = {
        "PROJECT": _project_text(project_name, pid, kinds),
        "PROJECTwm": _name_map(sources),
        "VBA/_VBA_PROJECT": _VBA_PROJECT,
        "VBA/dir": ovba.compress(_dir_stream(project_name, kinds)),
    }
    streams |= {f"VBA/{n}": ovba.compress(_encode(src, f"module {n}")) for n, src in sources.items()}
    return build_cfb(streams)


# ---------------------------------------------------------------------------------------------
# Reading module source back (used to see which xlwings add-in version is installed)
# ---------------------------------------------------------------------------------------------


def _records(dir_data: bytes) -> Iterable[tuple[int, bytes]]:
    """(id, payload) of each ``dir`` record; PROJECTVERSION's 4 in its size field means 6 bytes."""
    pos = 0
    while pos + 6 <= len(dir_data):
        rec_id, size = struct.unpack_from("<HI", dir_data, pos)
        size = 6 if rec_id == 0x0009 else size
        yield rec_id, dir_data[pos + 6 : pos + 6 + size]
        pos += 6 + size


def read_modules(vba_bin: bytes) -> dict[str, str]:
    """Module name -> source text of a ``vbaProject.bin`` (ours or Excel's, cached p-code skipped)."""
    streams = {k.upper(): v for k, v in read_cfb(vba_bin).items()}
    sources: dict[str, str] = {}
    stream_name, offset = "", 0
    for rec_id, payload in _records(ovba.decompress(streams["VBA/DIR"])):
        if rec_id == 0x001A:
            stream_name = payload.decode(ENCODING)
        elif rec_id == 0x0031:
            offset = struct.unpack("<I", payload)[0]
        elif rec_id == 0x002B and stream_name:
            data = streams.get(f"VBA/{stream_name}".upper(), b"")
            sources[stream_name] = ovba.decompress(data[offset:]).decode(ENCODING)
            stream_name, offset = "", 0
    return sources
