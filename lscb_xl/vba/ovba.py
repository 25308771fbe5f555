"""[MS-OVBA] 2.4.1 compression and decompression ("CompressedContainer").

A container is the signature byte 0x01 followed by chunks. Each chunk holds up to 4096 bytes of
the original data and starts with a 2-byte little-endian header: bits 0-11 are the chunk's size
in bytes minus 3, bits 12-14 the signature 0b011, bit 15 set when the chunk is compressed. A
compressed chunk is a run of token sequences: one flag byte, then up to eight tokens, where flag
bit *i* says whether token *i* is a literal byte (0) or a 2-byte copy token (1). A copy token
packs (offset - 1) in its high bits and (length - 3) in its low bits, and where the split lies
depends on how far into the chunk the copy starts: the further in, the more bits the offset
needs and the shorter the longest copy. Copies never reach back before the chunk's start and may
overlap the bytes they produce (``aaaa...`` is one literal and one copy).

The compressor follows the spec's pseudocode exactly (the longest match wins; among equally long
matches the nearest one), so it reproduces the spec's own examples byte for byte. It finds
candidates through an index of 3-byte prefixes rather than by scanning every earlier byte,
which gives the same answer far faster. A chunk whose compressed form would not fit in 4098
bytes is stored raw; the spec pads a raw chunk to 4096 bytes with zeros, so only an
incompressible *last* chunk of 3641-4095 bytes gains trailing zeros (text never does that).
"""

from __future__ import annotations

__all__ = ["compress", "decompress"]

SIGNATURE = 0x01
CHUNK = 4096
_HEADER_COMPRESSED = 0xB000  # flag 1, signature 0b011
_HEADER_RAW = 0x3000 | (CHUNK - 1)  # flag 0, signature 0b011, size 4098 - 3


def _bit_count(difference: int) -> int:
    """Bits of a copy token used for the offset, at *difference* bytes into the chunk (spec's CopyTokenHelp)."""
    return max((difference - 1).bit_length(), 4)


def _max_length(difference: int) -> int:
    """The longest copy a token can express at *difference* bytes into the chunk."""
    return (0xFFFF >> _bit_count(difference)) + 3


def _match_length(data: bytes, cand: int, pos: int, limit: int) -> int:
    """Length of the common prefix of ``data[cand:]`` and ``data[pos:]``, at most *limit*.

    Galloping then bisecting over slice comparisons keeps the byte work in C; overlap (a match
    running into the bytes being encoded) needs no special case because the input is all known.
    """
    step = 8
    lo = 0
    while step < limit and data[cand : cand + step] == data[pos : pos + step]:
        lo, step = step, step * 2
    hi = min(step, limit)
    if data[cand : cand + hi] == data[pos : pos + hi]:
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if data[cand : cand + mid] == data[pos : pos + mid]:
            lo = mid
        else:
            hi = mid
    return lo


def _best_match(data: bytes, pos: int, end: int, candidates: list[int]) -> tuple[int, int]:
    """(length, candidate) of the spec's best match at *pos*: longest wins, nearest breaks ties.

    Lengths run to the chunk's end, not the token's maximum, exactly as the spec's "Matching"
    pseudocode measures them; the caller clips afterwards.
    """
    limit = end - pos
    best_len, best = 0, 0
    for cand in reversed(candidates):
        # A candidate can only beat best_len if it also matches the byte at best_len.
        if best_len and data[cand + best_len] != data[pos + best_len]:
            continue
        n = _match_length(data, cand, pos, limit)
        if n > best_len:
            best_len, best = n, cand
            if n == limit:
                break
    return best_len, best


def _compress_tokens(data: bytes, start: int, end: int) -> bytes:
    """The token sequences of one chunk (``data[start:end]``), without the header."""
    out = bytearray()
    index: dict[bytes, list[int]] = {}
    indexed = start
    pos = start
    while pos < end:
        flag_at = len(out)
        out.append(0)
        flags = 0
        for bit in range(8):
            if pos >= end:
                break
            while indexed < pos and indexed + 3 <= end:
                index.setdefault(data[indexed : indexed + 3], []).append(indexed)
                indexed += 1
            length = 0
            candidates = index.get(data[pos : pos + 3]) if pos + 3 <= end else None
            if candidates:
                best_len, best = _best_match(data, pos, end, candidates)
                length = min(best_len, _max_length(pos - start))
            if length >= 3:
                bits = _bit_count(pos - start)
                token = ((pos - best - 1) << (16 - bits)) | (length - 3)
                out += token.to_bytes(2, "little")
                flags |= 1 << bit
                pos += length
            else:
                out.append(data[pos])
                pos += 1
        out[flag_at] = flags
    return bytes(out)


def _compress_chunk(data: bytes, start: int, end: int) -> bytes:
    """One chunk with its header: compressed when that fits in 4098 bytes, else raw and padded."""
    tokens = _compress_tokens(data, start, end)
    if len(tokens) <= CHUNK:
        header = _HEADER_COMPRESSED | (len(tokens) + 2 - 3)
        return header.to_bytes(2, "little") + tokens
    raw = data[start:end].ljust(CHUNK, b"\x00")
    return _HEADER_RAW.to_bytes(2, "little") + raw


def compress(data: bytes) -> bytes:
    """Compress *data* into an [MS-OVBA] CompressedContainer (signature byte, then chunks)."""
    data = bytes(data)
    out = bytearray([SIGNATURE])
    for start in range(0, len(data), CHUNK):
        out += _compress_chunk(data, start, min(start + CHUNK, len(data)))
    return bytes(out)


def _copy(out: bytearray, offset: int, length: int) -> None:
    """Append *length* bytes copied from *offset* bytes back, where the copy may overlap itself."""
    src = len(out) - offset
    if offset >= length:
        out += out[src : src + length]
    else:
        pattern = bytes(out[src:])
        out += (pattern * (length // offset + 1))[:length]


def _decompress_chunk(data: bytes, pos: int, end: int, out: bytearray) -> None:
    """Decode the token sequences in ``data[pos:end]`` onto *out*."""
    chunk_start = len(out)
    while pos < end:
        flags = data[pos]
        pos += 1
        for bit in range(8):
            if pos >= end:
                break
            if not flags & (1 << bit):
                out.append(data[pos])
                pos += 1
                continue
            if pos + 2 > end:
                raise ValueError("truncated copy token")
            token = int.from_bytes(data[pos : pos + 2], "little")
            pos += 2
            difference = len(out) - chunk_start
            if difference == 0:
                raise ValueError("copy token at the start of a chunk")
            bits = _bit_count(difference)
            offset = (token >> (16 - bits)) + 1
            if offset > difference:
                raise ValueError("copy token reaches before the chunk")
            _copy(out, offset, (token & (0xFFFF >> bits)) + 3)


def decompress(data: bytes) -> bytes:
    """Decompress an [MS-OVBA] CompressedContainer; raises ValueError on malformed input."""
    if not data or data[0] != SIGNATURE:
        raise ValueError("not an MS-OVBA compressed container (signature byte is not 0x01)")
    out = bytearray()
    pos = 1
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("truncated chunk header")
        header = int.from_bytes(data[pos : pos + 2], "little")
        if (header >> 12) & 0b111 != 0b011:
            raise ValueError(f"bad chunk signature in header 0x{header:04X}")
        end = min(pos + (header & 0x0FFF) + 3, len(data))
        if header & 0x8000:
            _decompress_chunk(data, pos + 2, end, out)
        else:
            out += data[pos + 2 : pos + 2 + CHUNK]
            end = pos + 2 + CHUNK
        pos = end
    return bytes(out)
