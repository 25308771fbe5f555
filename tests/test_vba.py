"""The VBA project writer: [MS-OVBA] compression, the [MS-CFB] container, and vbaProject.bin.

Checked against things we did not write: the spec's own worked examples (byte for byte),
olefile (the compound file), oletools' olevba (the VBA project), and projects Excel saved
(the ones shipped inside the xlwings package).
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
from pathlib import Path

import pytest
import xlwings
from lo import need

from lscb_xl.vba import build_vba_project, cfb, ovba
from lscb_xl.vba.project import (
    DOCUMENT_MODULES,
    decrypt,
    decrypt_parts,
    encrypt,
    normalise_source,
    project_id,
    read_modules,
)

XLWINGS_DIR = Path(xlwings.__file__).parent
EXCEL_MADE = [XLWINGS_DIR / "addin" / "xlwings.xlam", XLWINGS_DIR / "quickstart.xlsm",
              XLWINGS_DIR / "quickstart_addin_ribbon.xlam"]




def unhex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))


# ---------------------------------------------------------------------------------------------
# [MS-OVBA] 2.4.1 compression: the spec's examples (section 3.2)
# ---------------------------------------------------------------------------------------------

NO_COMPRESSION = ("abcdefghijklmnopqrstuv.", "01 19 B0 00 61 62 63 64 65 66 67 68 00 69 6A 6B 6C 6D 6E 6F 70 00 71 72 "
                  "73 74 75 76 2E")
NORMAL = ("#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa",
          "01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C 00 20 6D 6E 6F 70 06 71 "
          "02 70 04 00 72 73 74 75 76 10 77 78 79 7A 00 2C")
MAXIMUM = ("a" * 73, "01 03 B0 02 61 45 00")
# The spec's older (PDF) edition printed other, equally valid copy tokens for the normal example.
NORMAL_OLD_EDITION = ("01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C 00 30 6D 6E 6F "
                      "70 06 71 02 70 04 10 72 73 74 75 76 10 77 78 79 7A 00 3C")


@pytest.mark.parametrize(("text", "compressed"), [NO_COMPRESSION, NORMAL, MAXIMUM], ids=["none", "normal", "maximum"])
def test_spec_examples_compress_byte_for_byte(text: str, compressed: str) -> None:
    assert ovba.compress(text.encode("ascii")) == unhex(compressed)


@pytest.mark.parametrize("compressed", [NO_COMPRESSION[1], NORMAL[1], MAXIMUM[1], NORMAL_OLD_EDITION])
def test_spec_examples_decompress(compressed: str) -> None:
    expected = {NO_COMPRESSION[1]: NO_COMPRESSION[0], MAXIMUM[1]: MAXIMUM[0]}.get(compressed, NORMAL[0])
    assert ovba.decompress(unhex(compressed)) == expected.encode("ascii")


# ---------------------------------------------------------------------------------------------
# Round trips across chunk boundaries and copy-token bit splits
# ---------------------------------------------------------------------------------------------

SIZES = [0, 1, 2, 3, 8, 9, 17, 675, 676, 3640, 3641, 4095, 4096, 4097, 8191, 8192, 8193, 45 * 1024]


def _text(n: int) -> bytes:
    source = (XLWINGS_DIR / "addin" / "WebHelpers.bas").read_bytes()
    return (source * (n // len(source) + 1))[:n]


def _generators() -> dict[str, object]:
    rnd = random.Random(20240601)
    return {
        "random": rnd.randbytes,
        "same-byte": lambda n: b"a" * n,
        "two-byte": lambda n: (b"ab" * n)[:n],
        "period-100": lambda n: (bytes(range(100)) * (n // 100 + 1))[:n],
        "small-alphabet": lambda n: bytes(rnd.choice(b"abc ") for _ in range(n)),
        "vba-text": _text,
    }


@pytest.mark.parametrize("kind", list(_generators()))
def test_round_trip(kind: str) -> None:
    make = _generators()[kind]
    for n in SIZES:
        data = make(n)
        packed = ovba.compress(data)
        out = ovba.decompress(packed)
        if kind == "random" and len(data) % ovba.CHUNK > 3640:
            # An incompressible last chunk is stored raw, which the spec pads to 4096 bytes with zeros.
            assert out == data.ljust(len(data) + (-len(data) % ovba.CHUNK), b"\x00"), n
        else:
            assert out == data, (kind, n)


def test_repetitive_text_compresses_well() -> None:
    data = _text(45 * 1024)
    assert len(ovba.compress(data)) < len(data) // 2
    assert len(ovba.compress(b"a" * 45 * 1024)) < 200


def test_incompressible_chunks_are_stored_raw() -> None:
    data = random.Random(7).randbytes(2 * ovba.CHUNK + 100)
    packed = ovba.compress(data)
    first = struct.unpack_from("<H", packed, 1)[0]
    second = struct.unpack_from("<H", packed, 1 + 2 + ovba.CHUNK)[0]
    assert first == second == 0x3FFF  # flag 0 (raw), signature 0b011, size 4098 - 3
    assert packed[3 : 3 + ovba.CHUNK] == data[: ovba.CHUNK]
    last = struct.unpack_from("<H", packed, 1 + 2 * (2 + ovba.CHUNK))[0]
    assert last & 0x8000 and (last >> 12) & 0b111 == 0b011  # 100 random bytes still fit compressed
    assert ovba.decompress(packed) == data


def test_chunks_start_with_a_fresh_window() -> None:
    """A copy never reaches into the previous chunk, even when the same bytes are there."""
    block = random.Random(3).randbytes(ovba.CHUNK)
    packed = ovba.compress(block + block[:1000])
    assert ovba.decompress(packed) == block + block[:1000]
    second = packed[1 + 2 + ovba.CHUNK :]
    assert struct.unpack_from("<H", second)[0] & 0x8000  # compressed, yet...
    assert len(second) > 1000  # ...its 1000 bytes could only be literals


def test_long_copy_far_into_a_chunk_uses_short_length_field() -> None:
    """At 3000 bytes in, an offset needs 12 bits, leaving 4 for the length (at most 18 per token)."""
    head = random.Random(5).randbytes(3000)
    data = head + head[:600]
    packed = ovba.compress(data)
    assert ovba.decompress(packed) == data
    tokens = len(packed) - 1 - 2 - 3000 - 3000 // 8 - 1
    assert tokens >= 2 * (600 // 18)  # each copy token is 2 bytes and carries at most 18 bytes


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "signature"), (b"\x02\x00\x00", "signature"), (b"\x01\x03\x00", "chunk signature"),
     (b"\x01\x03\xb0\x01\x00\x00", "start of a chunk"), (b"\x01\x05\xb0\x02\x61\xff\xff", "before the chunk"),
     (b"\x01\x03", "truncated")],
)
def test_malformed_containers_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ovba.decompress(data)


@pytest.mark.parametrize("path", EXCEL_MADE, ids=lambda p: p.name)
def test_decompresses_what_excel_wrote_like_olevba(path: Path) -> None:
    olevba = need("oletools.olevba")
    ours = read_modules(zipfile.ZipFile(path).read("xl/vbaProject.bin"))
    theirs = {Path(name).stem: code for _, _, name, code in olevba.VBA_Parser(str(path)).extract_macros()}
    assert ours.keys() == theirs.keys()
    for name, code in ours.items():
        assert code.replace("\r\n", "\n") == theirs[name].replace("\r\n", "\n"), name


def test_recompressing_excel_modules_round_trips() -> None:
    for code in read_modules(zipfile.ZipFile(EXCEL_MADE[0]).read("xl/vbaProject.bin")).values():
        raw = code.encode("cp1252")
        assert ovba.decompress(ovba.compress(raw)) == raw


# ---------------------------------------------------------------------------------------------
# [MS-CFB] writer, read back by olefile
# ---------------------------------------------------------------------------------------------


def _open(data: bytes):  # -> olefile.OleFileIO
    olefile = need("olefile")
    return olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)


def test_olefile_reads_every_stream_and_storage_exactly() -> None:
    rnd = random.Random(11)
    streams = {
        "PROJECT": b"ID=...", "PROJECTwm": b"", "VBA/dir": rnd.randbytes(1278), "VBA/_VBA_PROJECT": b"\xcc\x61",
        "VBA/Big": rnd.randbytes(5000), "VBA/Exactly4096": rnd.randbytes(4096), "VBA/Just4095": rnd.randbytes(4095),
        "VBA/Sixty4": rnd.randbytes(64), "A/B/C/deep": b"nested storages", "A/other": rnd.randbytes(9000),
    }
    ole = _open(cfb.build_cfb(streams))
    listed = {"/".join(p): ole.get_type("/".join(p)) for p in ole.listdir(streams=True, storages=True)}
    assert {k for k, kind in listed.items() if kind == 1} == {"VBA", "A", "A/B", "A/B/C"}
    assert {k for k, kind in listed.items() if kind == 2} == set(streams)
    for path, data in streams.items():
        assert ole.openstream(path).read() == data, path
        assert ole.get_size(path) == len(data)


def test_small_streams_live_in_the_mini_stream() -> None:
    ole = _open(cfb.build_cfb({"small": b"x" * 4095, "large": b"y" * 4096}))
    sizes = {e.name: (e.size, e.isectStart) for e in ole.direntries if e is not None}
    assert ole.minisectorcutoff == 4096
    assert sizes["Root Entry"][0] == 4096  # the mini stream: 4095 rounded up to 64-byte mini sectors
    assert ole.openstream("small").read() == b"x" * 4095
    assert ole.openstream("large").read() == b"y" * 4096


def test_large_file_needs_difat_sectors() -> None:
    big = bytes(range(256)) * (8 * 1024 * 1024 // 256)  # > 109 FAT sectors' worth
    data = cfb.build_cfb({"big": big, "VBA/small": b"tiny"})
    n_fat, _, _, _, _, _, difat_start, n_difat = struct.unpack_from("<IIIIIIII", data, 44)
    assert n_fat > 109 and n_difat >= 1 and difat_start != cfb.ENDOFCHAIN
    ole = _open(data)
    assert ole.openstream("big").read() == big
    assert ole.openstream("VBA/small").read() == b"tiny"


def _black_height(entries: dict[int, object], sid: int, parent_red: bool = False) -> int:
    if sid == cfb.NOSTREAM:
        return 1
    e = entries[sid]
    red = e.color == 0
    assert not (red and parent_red), "two red nodes in a row"
    left = _black_height(entries, e.sid_left, red)
    assert left == _black_height(entries, e.sid_right, red), "black heights differ"
    return left + (0 if red else 1)


def _in_order(entries: dict[int, object], sid: int) -> list[str]:
    if sid == cfb.NOSTREAM:
        return []
    e = entries[sid]
    return [*_in_order(entries, e.sid_left), e.name, *_in_order(entries, e.sid_right)]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 31, 33, 64, 100])
def test_siblings_form_a_valid_red_black_tree(count: int) -> None:
    rnd = random.Random(count)
    names = {"".join(rnd.choice("abcXYZ_0") for _ in range(rnd.randint(1, 12))) for _ in range(count * 2)}
    unique = {n.upper(): n for n in names}
    streams = {f"S/{n}": n.encode() for n in list(unique.values())[:count]}
    ole = _open(cfb.build_cfb(streams))
    entries = {e.sid: e for e in ole.direntries if e is not None}
    top = entries[next(e for e in entries.values() if e.name == "S").sid_child]
    assert top.color == 1, "the top of a tree is black"
    _black_height(entries, top.sid)
    order = _in_order(entries, top.sid)
    assert order == sorted(order, key=lambda n: (len(n), n.upper())), "CFB order: length, then upper case"
    assert len(order) == len(streams)


def test_names_the_format_cannot_hold_are_refused() -> None:
    for bad in ("x" * 32, "a/b!", "", "c:d"):
        with pytest.raises(ValueError):
            cfb.build_cfb({f"S/{bad}" if "/" not in bad else bad: b""})
    with pytest.raises(ValueError, match="duplicate"):
        cfb.build_cfb({"VBA/dir": b"1", "vba/DIR": b"2"})


@pytest.mark.parametrize("path", EXCEL_MADE, ids=lambda p: p.name)
def test_our_reader_agrees_with_olefile_on_excel_files(path: Path) -> None:
    data = zipfile.ZipFile(path).read("xl/vbaProject.bin")
    ole = _open(data)
    expected = {"/".join(p): ole.openstream(p).read() for p in ole.listdir()}
    assert cfb.read_cfb(data) == expected


# ---------------------------------------------------------------------------------------------
# vbaProject.bin
# ---------------------------------------------------------------------------------------------

MODULE = 'Attribute VB_Name = "Tools"\nOption Explicit\n\nPublic Sub Hello()\n    MsgBox "Hi £5"\nEnd Sub\n'


def test_project_streams_follow_the_spec() -> None:
    streams = cfb.read_cfb(build_vba_project({"Tools": MODULE}, "Demo"))
    assert set(streams) == {"PROJECT", "PROJECTwm", "VBA/_VBA_PROJECT", "VBA/dir", "VBA/ThisWorkbook", "VBA/Sheet1",
                            "VBA/Tools"}
    assert streams["VBA/_VBA_PROJECT"] == bytes.fromhex("CC61FFFF000100")  # version 0xFFFF, no performance cache
    assert ovba.decompress(streams["VBA/Tools"]).decode("cp1252") == normalise_source(MODULE)
    assert streams["PROJECTwm"].endswith(b"Tools\x00T\x00o\x00o\x00l\x00s\x00\x00\x00\x00\x00")
    text = streams["PROJECT"].decode("cp1252")
    lines = text.split("\r\n")
    pid = project_id("Demo")
    assert lines[:5] == [f'ID="{pid}"', "Document=ThisWorkbook/&H00000000", "Document=Sheet1/&H00000000",
                         "Module=Tools", 'Name="Demo"']
    values = dict(line.split("=", 1) for line in lines if line[:4] in ("CMG=", "DPB=", "GC=\""))
    assert decrypt(pid, values["CMG"].strip('"')) == bytes(4)  # not protected
    assert decrypt(pid, values["DPB"].strip('"')) == b"\x00"  # no password
    assert decrypt(pid, values["GC"].strip('"')) == b"\xff"  # visible
    assert "[Host Extender Info]" in lines and "Tools=0, 0, 0, 0, C" in lines


def test_dir_stream_records() -> None:
    raw = ovba.decompress(cfb.read_cfb(build_vba_project({"Tools": MODULE}, "Demo"))["VBA/dir"])
    assert raw.startswith(struct.pack("<HII", 0x0001, 4, 1))  # SYSKIND Win32
    assert struct.pack("<HII", 0x0002, 4, 0x409) in raw and struct.pack("<HII", 0x0014, 4, 0x409) in raw
    assert struct.pack("<HIH", 0x0003, 2, 1252) in raw
    assert struct.pack("<HI", 0x0004, 4) + b"Demo" in raw
    assert b"stdole2.tlb#OLE Automation" in raw and b"MSO.DLL#Microsoft Office 16.0 Object Library" in raw
    assert struct.pack("<HIH", 0x000F, 2, 3) in raw  # three modules
    assert raw.count(struct.pack("<HII", 0x0031, 4, 0)) == 3  # every text offset is 0
    assert raw.count(struct.pack("<HI", 0x0022, 0)) == 2 and raw.count(struct.pack("<HI", 0x0021, 0)) == 1
    assert raw.endswith(struct.pack("<HI", 0x002B, 0) + struct.pack("<HI", 0x0010, 0))


def test_olevba_reads_the_project() -> None:
    olevba = need("oletools.olevba")
    data = build_vba_project({"Tools": MODULE}, "Demo")
    parser = olevba.VBA_Parser("vbaProject.bin", data=data)
    code = {Path(name).stem: text for _, _, name, text in parser.extract_macros()}
    assert set(code) == {"ThisWorkbook", "Sheet1", "Tools"}
    assert code["Tools"].replace("\r\n", "\n") == MODULE
    base = DOCUMENT_MODULES["ThisWorkbook"]
    assert code["ThisWorkbook"].startswith(f'Attribute VB_Name = "ThisWorkbook"\r\nAttribute VB_Base = "{base}"')


def test_builds_are_reproducible_and_names_get_their_attribute_line() -> None:
    a = build_vba_project({"Tools": MODULE.split("\n", 1)[1]}, "Demo")
    assert a == build_vba_project({"Tools": MODULE}, "Demo")
    assert read_modules(a)["Tools"] == normalise_source(MODULE)


@pytest.mark.parametrize(
    ("modules", "project", "message"),
    [({"LSCB": ""}, "LSCB", "project name"), ({"1st": ""}, "P", "valid VBA name"), ({"A": "", "a": ""}, "P", "differ"),
     ({"thisworkbook": ""}, "P", "differ"), ({"Tools": "' ok\n' 漢字"}, "P", "code page 1252"),
     ({"Tools": 'Attribute VB_Name = "Other"\n'}, "P", "VB_Name")],
)
def test_bad_projects_are_refused(modules: dict[str, str], project: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_vba_project(modules, project)


def test_encryption_matches_the_spec_example() -> None:
    """[MS-OVBA] 3.1.6's PROJECT stream: decrypt its CMG/DPB/GC and re-encrypt them identically."""
    pid = "{917DED54-440B-4FD1-A5C1-74ACF261E600}"
    for text, plain in [("0705D8E3D8EDDBF1DBF1DBF1DBF1", bytes(4)), ("0E0CD1ECDFF4E7F5E7F5E7", b"\x00"),
                        ("1517CAF1D6F9D7F9D706", b"\xff")]:
        seed, ignored, data = decrypt_parts(pid, text)
        assert data == plain
        assert encrypt(pid, data, seed, ignored) == text
    with pytest.raises(ValueError, match="project key"):
        decrypt("{00000000-0000-0000-0000-000000000000}", "0705D8E3D8EDDBF1DBF1DBF1DBF1")


def test_encryption_matches_excel() -> None:
    """The CMG/DPB/GC Excel wrote into the xlwings ribbon add-in decrypt to an open, visible project."""
    text = cfb.read_cfb(zipfile.ZipFile(EXCEL_MADE[2]).read("xl/vbaProject.bin"))["PROJECT"].decode("cp1252")
    fields = dict(line.split("=", 1) for line in text.split("\r\n") if "=" in line)
    pid = fields["ID"].strip('"')
    assert decrypt(pid, fields["CMG"].strip('"')) == bytes(4)
    assert decrypt(pid, fields["DPB"].strip('"')) == b"\x00"
    assert decrypt(pid, fields["GC"].strip('"')) == b"\xff"
