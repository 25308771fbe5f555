"""A minimal [MS-CFB] compound file writer (version 3, 512-byte sectors), and a reader for checks.

Why: ``vbaProject.bin`` is a compound file (a little FAT file system in one file), and nothing
in our dependencies writes one. The writer takes ``{"VBA/dir": b"...", "PROJECT": b"..."}``
(storages are implied by the paths) and lays the file out as:

    header | FAT sectors | DIFAT sectors | directory | mini FAT | mini stream | large streams

Streams under 4096 bytes live in the mini stream (64-byte mini sectors, chained by the mini
FAT, itself stored in the root entry's chain), as the spec requires. The first 109 FAT sector
numbers sit in the header's DIFAT array; more than that spill into DIFAT sectors. Each storage's
children form a red-black tree: a balanced binary search tree ordered the CFB way (shorter names
first, then by upper-cased UTF-16 code units), with only the deepest, partly filled level red,
so every path has the same number of black nodes and no red node has a red child.

The reader (:func:`read_cfb`) exists so ``lscb-xl addin install`` can look inside an installed
xlwings add-in without extra dependencies; tests check both against ``olefile``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["build_cfb", "read_cfb"]

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
HEADER_DIFAT = 109
_IDS_PER_SECTOR = SECTOR // 4

MAXREGSECT = 0xFFFFFFFA
DIFSECT = 0xFFFFFFFC
FATSECT = 0xFFFFFFFD
ENDOFCHAIN = 0xFFFFFFFE
FREESECT = 0xFFFFFFFF
NOSTREAM = 0xFFFFFFFF

_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_STORAGE, _STREAM, _ROOT = 1, 2, 5
_RED, _BLACK = 0, 1
_FORBIDDEN = set("/\\:!")


@dataclass
class _Entry:
    """One directory entry while the file is being laid out."""

    name: str
    kind: int
    data: bytes = b""
    children: dict[str, _Entry] = field(default_factory=dict)
    sid: int = 0
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM
    color: int = _BLACK
    start: int = ENDOFCHAIN


def _sort_key(name: str) -> tuple[int, str]:
    """CFB order: shorter names first, then code unit by code unit, upper-cased."""
    return len(name.encode("utf-16-le")) // 2, name.upper()


def _check_name(name: str) -> None:
    """Refuse names the format cannot hold (31 UTF-16 code units, none of / \\ : !)."""
    if not name or len(name.encode("utf-16-le")) // 2 > 31 or _FORBIDDEN & set(name):
        raise ValueError(f"invalid compound-file entry name {name!r}")


def _tree(streams: Mapping[str, bytes]) -> _Entry:
    """Build the storage tree from slash-separated stream paths."""
    root = _Entry("Root Entry", _ROOT)
    for path, data in streams.items():
        *folders, leaf = path.split("/")
        node = root
        for part in folders:
            _check_name(part)
            node = node.children.setdefault(part.upper(), _Entry(part, _STORAGE))
            if node.kind != _STORAGE:
                raise ValueError(f"{path!r}: {part!r} is a stream, not a storage")
        _check_name(leaf)
        if leaf.upper() in node.children:
            raise ValueError(f"duplicate compound-file entry {path!r} (names are case-insensitive)")
        node.children[leaf.upper()] = _Entry(leaf, _STREAM, bytes(data))
    return root


def _number(root: _Entry) -> list[_Entry]:
    """Give every entry its directory id (breadth-first, root = 0) and return them in id order."""
    order = [root]
    for entry in order:  # the list grows while we walk it
        order.extend(sorted(entry.children.values(), key=lambda e: _sort_key(e.name)))
    for sid, entry in enumerate(order):
        entry.sid = sid
    return order


def _link_siblings(siblings: list[_Entry], depth: int, deepest: int, full: bool) -> int:
    """Make a balanced red-black tree of sorted *siblings*; return the id of its top."""
    if not siblings:
        return NOSTREAM
    mid = len(siblings) // 2
    node = siblings[mid]
    node.color = _RED if depth == deepest and not full else _BLACK
    node.left = _link_siblings(siblings[:mid], depth + 1, deepest, full)
    node.right = _link_siblings(siblings[mid + 1 :], depth + 1, deepest, full)
    return node.sid


def _link(entries: list[_Entry]) -> None:
    """Point each storage at the top of its children's red-black tree."""
    for entry in entries:
        kids = sorted(entry.children.values(), key=lambda e: _sort_key(e.name))
        if kids:
            levels = len(kids).bit_length()  # height of the balanced tree
            full = len(kids) == (1 << levels) - 1
            entry.child = _link_siblings(kids, 0, levels - 1, full)


def _chain(start: int, count: int) -> list[int]:
    """FAT (or mini FAT) entries for *count* consecutive sectors starting at *start*."""
    return [*range(start + 1, start + count), ENDOFCHAIN] if count else []


def _pad(data: bytes, size: int) -> bytes:
    """Pad *data* with zeros to a whole number of *size*-byte sectors."""
    return data + b"\x00" * (-len(data) % size)


def _dir_entry(e: _Entry, size: int) -> bytes:
    """The 128-byte directory entry of *e*; a storage's start and size are 0, as the spec asks."""
    name = (e.name + "\x00").encode("utf-16-le")
    start = 0 if e.kind == _STORAGE else e.start
    return struct.pack(
        "<64sHBBIII16sIQQIQ", name, len(name), e.kind, e.color, e.left, e.right, e.child,
        b"\x00" * 16, 0, 0, 0, start, size,
    )


def _free_entry() -> bytes:
    """An unused directory slot: zeros, with sibling and child ids NOSTREAM as the spec asks."""
    return struct.pack("<64sHBBIII16sIQQIQ", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM, b"", 0, 0, 0, 0, 0)


def _fat_sizes(content: int) -> tuple[int, int]:
    """(FAT sectors, DIFAT sectors) for *content* other sectors: they count themselves too."""
    fat = difat = 0
    while True:
        need_fat = math.ceil((content + fat + difat) / _IDS_PER_SECTOR)
        need_difat = max(0, math.ceil((need_fat - HEADER_DIFAT) / (_IDS_PER_SECTOR - 1)))
        if (need_fat, need_difat) == (fat, difat):
            return fat, difat
        fat, difat = need_fat, need_difat


def _mini_stream(entries: list[_Entry]) -> tuple[bytes, list[int]]:
    """Place the small streams in the mini stream; return it and the mini FAT."""
    mini, minifat = bytearray(), []
    for e in entries:
        if e.kind == _STREAM and 0 < len(e.data) < MINI_CUTOFF:
            e.start = len(mini) // MINI_SECTOR
            count = math.ceil(len(e.data) / MINI_SECTOR)
            minifat += _chain(e.start, count)
            mini += _pad(e.data, MINI_SECTOR)
    return bytes(mini), minifat


def _difat_sectors(fat_ids: list[int], first: int, count: int) -> bytes:
    """DIFAT sectors listing the FAT sectors the header could not: 127 ids and a next pointer each."""
    rest = fat_ids[HEADER_DIFAT:]
    out = bytearray()
    for i in range(count):
        ids = rest[i * 127 : (i + 1) * 127]
        ids += [FREESECT] * (127 - len(ids))
        nxt = first + i + 1 if i + 1 < count else ENDOFCHAIN
        out += struct.pack("<128I", *ids, nxt)
    return bytes(out)


def _header(fat_ids: list[int], dir_start: int, minifat: tuple[int, int], difat: tuple[int, int]) -> bytes:
    """The 512-byte header of a version 3 file."""
    head = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII", _MAGIC, b"\x00" * 16, 0x003E, 0x0003, 0xFFFE, 9, 6, b"\x00" * 6,
        0, len(fat_ids), dir_start, 0, MINI_CUTOFF, minifat[0], minifat[1], difat[0], difat[1],
    )
    ids = fat_ids[:HEADER_DIFAT] + [FREESECT] * (HEADER_DIFAT - min(len(fat_ids), HEADER_DIFAT))
    return head + struct.pack(f"<{HEADER_DIFAT}I", *ids)


def build_cfb(streams: Mapping[str, bytes]) -> bytes:
    """Write a compound file holding *streams* (``"storage/stream"`` paths, case-insensitive names)."""
    entries = _number(_tree(streams))
    _link(entries)
    mini, minifat = _mini_stream(entries)
    large = [e for e in entries if e.kind == _STREAM and len(e.data) >= MINI_CUTOFF]
    n_dir = math.ceil(len(entries) / 4)
    n_minifat = math.ceil(len(minifat) / _IDS_PER_SECTOR)
    n_mini = math.ceil(len(mini) / SECTOR)
    n_large = [math.ceil(len(e.data) / SECTOR) for e in large]
    n_fat, n_difat = _fat_sizes(n_dir + n_minifat + n_mini + sum(n_large))

    fat = [FATSECT] * n_fat + [DIFSECT] * n_difat
    dir_start = len(fat)
    fat += _chain(dir_start, n_dir)
    minifat_start = len(fat) if n_minifat else ENDOFCHAIN
    fat += _chain(len(fat), n_minifat)
    entries[0].start = len(fat) if n_mini else ENDOFCHAIN
    fat += _chain(len(fat), n_mini)
    for e, n in zip(large, n_large, strict=True):
        e.start = len(fat)
        fat += _chain(e.start, n)
    fat += [FREESECT] * (n_fat * _IDS_PER_SECTOR - len(fat))

    sizes = [len(mini), *(len(e.data) if e.kind == _STREAM else 0 for e in entries[1:])]
    directory = b"".join(_dir_entry(e, n) for e, n in zip(entries, sizes, strict=True))
    minifat += [FREESECT] * (n_minifat * _IDS_PER_SECTOR - len(minifat))
    body = [
        struct.pack(f"<{len(fat)}I", *fat),
        _difat_sectors(list(range(n_fat)), n_fat, n_difat),
        directory + _free_entry() * (n_dir * 4 - len(entries)),
        struct.pack(f"<{len(minifat)}I", *minifat),
        _pad(mini, SECTOR),
        *(_pad(e.data, SECTOR) for e in large),
    ]
    difat_start = n_fat if n_difat else ENDOFCHAIN
    head = _header(list(range(n_fat)), dir_start, (minifat_start, n_minifat), (difat_start, n_difat))
    return head + b"".join(body)


# ---------------------------------------------------------------------------------------------
# Reading (enough for vbaProject.bin files Excel or we wrote)
# ---------------------------------------------------------------------------------------------


def _follow(table: list[int], start: int) -> list[int]:
    """The sector chain from *start* in a FAT or mini FAT, refusing loops."""
    chain: list[int] = []
    while start <= MAXREGSECT:
        if len(chain) > len(table):
            raise ValueError("compound file: a sector chain loops")
        chain.append(start)
        start = table[start]
    return chain


def read_cfb(data: bytes) -> dict[str, bytes]:
    """Every stream of a compound file (version 3 or 4), keyed by ``"storage/stream"`` path."""
    if data[:8] != _MAGIC:
        raise ValueError("not a compound file")
    size = 1 << struct.unpack_from("<H", data, 30)[0]
    n_fat, dir_start, _, _, minifat_start, _, difat_start, n_difat = struct.unpack_from("<IIIIIIII", data, 44)
    ids = list(struct.unpack_from(f"<{HEADER_DIFAT}I", data, 76))
    for _ in range(n_difat):
        off = size * (difat_start + 1)
        ids += struct.unpack_from(f"<{size // 4}I", data, off)[:-1]
        difat_start = struct.unpack_from("<I", data, off + size - 4)[0]

    def sectors(chain: list[int]) -> bytes:
        return b"".join(data[size * (s + 1) : size * (s + 2)] for s in chain)

    fat = list(struct.unpack(f"<{n_fat * size // 4}I", sectors(ids[:n_fat])))
    raw_dir = sectors(_follow(fat, dir_start))
    entries = [struct.unpack_from("<64sHBBIII16sIQQIQ", raw_dir, off) for off in range(0, len(raw_dir), 128)]
    root = entries[0]
    mini = sectors(_follow(fat, root[11]))[: root[12]]
    minifat_raw = sectors(_follow(fat, minifat_start))
    minifat = list(struct.unpack(f"<{len(minifat_raw) // 4}I", minifat_raw))

    def stream(e: tuple) -> bytes:
        length = e[12] & 0xFFFFFFFF if size == SECTOR else e[12]
        if length < MINI_CUTOFF:
            return b"".join(mini[s * 64 : s * 64 + 64] for s in _follow(minifat, e[11]))[:length]
        return sectors(_follow(fat, e[11]))[:length]

    out: dict[str, bytes] = {}
    seen: set[int] = set()

    def walk(sid: int, prefix: str) -> None:
        if sid == NOSTREAM or sid in seen:
            return
        seen.add(sid)
        e = entries[sid]
        name = e[0][: e[1]].decode("utf-16-le").rstrip("\x00")
        walk(e[4], prefix)
        walk(e[5], prefix)
        if e[2] == _STREAM:
            out[prefix + name] = stream(e)
        elif e[2] == _STORAGE:
            walk(e[6], f"{prefix}{name}/")

    walk(root[6], "")
    return out
