#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into Fuzz/Corpus/<target>/ (committed).

Small valid inputs built from the byte layouts of docs/FORMAT.md (and docs/RAFT.md §1 for the
Raft records), each prefixed with the harness's option bytes (see the comment at the top of
each Sources/FuzzSupport/fuzz_<target>.c). Deterministic: running it again rewrites the same
files. zstd containers are compressed with the system's libzstd (ctypes), level 1 as the writer.

    python3 Fuzz/gen_corpus.py
"""
import ctypes
import ctypes.util
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "Corpus")

# ---- CRC32C (Castagnoli, reflected), masked as in LevelDB ----
_TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    _TABLE.append(c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def mask(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


u16 = lambda v: struct.pack("<H", v)
u32 = lambda v: struct.pack("<I", v)
u64 = lambda v: struct.pack("<Q", v)

# ---- zstd through libzstd ----
_zstd = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
_zstd.ZSTD_compressBound.restype = ctypes.c_size_t
_zstd.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
_zstd.ZSTD_compress.restype = ctypes.c_size_t
_zstd.ZSTD_compress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
_zstd.ZSTD_isError.argtypes = [ctypes.c_size_t]


def zstd_compress(data, level=1):
    cap = _zstd.ZSTD_compressBound(len(data))
    buf = ctypes.create_string_buffer(cap)
    n = _zstd.ZSTD_compress(buf, cap, data, len(data), level)
    assert not _zstd.ZSTD_isError(n)
    return buf.raw[:n]


# ---- records, frames, segments (FORMAT.md §2-§4) ----
def record(rtype, key=b"", value=b"", flags=0):
    body = bytes([rtype, flags]) + u16(len(key)) + u32(len(value)) + key + value
    return u32(mask(crc32c(body))) + body


def container(records):
    """A zstd container record holding `records` (encoded), as make_container builds it."""
    plain = b"".join(records)
    z = zstd_compress(plain)
    assert 20 + len(z) < len(plain), "container must shrink"
    return record(0xFF, u32(len(records)) + u32(len(plain)), z)


def frame(seq, first_lsn, body, count, flags=0, raw_len=None):
    raw_len = len(body) if raw_len is None else raw_len
    fields = u32(len(body)) + u32(count) + u64(first_lsn) + u64(seq) + u16(flags) + u16(0) + u32(raw_len)
    crc = crc32c(fields + body)
    out = u32(0x5246534C) + u32(mask(crc)) + fields + body
    return out + b"\0" * (-len(out) % 8)


def seal(seq, last_lsn, offset):
    return frame(seq, last_lsn + 1, u64(last_lsn) + u64(offset), 0, flags=0x0002)


def seg_header(writer, seq, base_lsn, size=64 * 1024):
    h = b"LOGSTSEG" + u32(1) + u32(64) + u64(writer) + u64(seq) + u64(base_lsn) + u64(size) + b"\0" * 12
    return h + u32(mask(crc32c(h)))


def kv(key, value):
    ns = b"default"
    return record(1, bytes([len(ns)]) + ns + key, value)


class Segment:
    """Builds a segment: header, then frames with consecutive LSNs."""

    def __init__(self, writer=0x1111, seq=1, base_lsn=1):
        self.writer, self.seq, self.next = writer, seq, base_lsn
        self.data = seg_header(writer, seq, base_lsn)

    def add(self, records, logical=None):
        count = len(records) if logical is None else logical
        has_container = any(r[4] == 0xFF for r in records)
        raw = None
        if has_container:
            raw = sum(len(r) if r[4] != 0xFF else struct.unpack_from("<I", r, 16)[0] for r in records)
        self.data += frame(self.seq, self.next, b"".join(records), count, 0x0001 if has_container else 0, raw)
        self.next += count
        return self

    def sealed(self):
        off = len(self.data)
        self.data += seal(self.seq, self.next - 1, off)
        return self


# ---- manifest (FORMAT.md §9) ----
def mf_record(rtype, *fields, payload=None):
    p = b"".join(u64(f) for f in fields) if payload is None else payload
    body = u32(len(p)) + u16(rtype) + u16(0) + p
    return u32(0x464D534C) + u32(mask(crc32c(body))) + body


HEADER, WRITER_START, SEGMENT_OPEN, SEGMENT_SEAL, SEGMENT_OBSOLETE, RECOVERY_DROP, RECOVERY_SKIP, CHECKPOINT = range(1, 9)


# ---- blob files (FORMAT.md §12) ----
def blob(data):
    h = b"LSBLOB01" + u32(1) + u32(32) + u64(len(data)) + u32(mask(crc32c(data)))
    return h + u32(mask(crc32c(h))) + data


# ---- the corpus ----
def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    assert len(data) <= 8192, (target, name, len(data))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    recs = [kv(b"k%d" % i, b"value-%d" % i * (i + 1)) for i in range(4)]
    repetitive = [kv(b"key-%03d" % i, b"abcdefgh" * 8) for i in range(12)]
    cont = container(repetitive)

    # Segments: sealed, open (clean end in zeros), with a container, torn, never written.
    sealed = Segment().add(recs[:2]).add(recs[2:]).sealed().data
    open_ = Segment().add(recs).data + b"\0" * 64
    zstd_seg = Segment().add([recs[0], cont], logical=1 + len(repetitive)).add(recs[1:2]).sealed().data
    torn = Segment().add(recs[:2]).data
    torn += Segment(base_lsn=3).add(recs[2:]).data[64:][:-20]
    damaged = bytearray(Segment().add(recs[:1]).add(recs[1:2]).add(recs[2:]).sealed().data)
    damaged[64 + 40 + 3] ^= 0x40  # a flipped bit in the first frame's body: a valid frame follows
    empty = b"\0" * 256

    # frame: raw frames and headers (check_raw), and recipes (check_built)
    write("frame", "data-frame", frame(1, 1, b"".join(recs), len(recs)))
    write("frame", "seal-frame", seal(1, 4, 64))
    write("frame", "zstd-frame", frame(1, 1, cont, len(repetitive), 0x0001, struct.unpack_from("<I", cont, 16)[0]))
    write("frame", "segment-start", sealed[:200])
    write("frame", "recipe", bytes([0x0F]) + bytes(range(1, 64)))

    # record: mode byte (bit 0: fix CRCs) + records back to back
    write("record", "plain", b"\0" + b"".join(recs))
    write("record", "container", b"\0" + recs[0] + cont)
    write("record", "raft", b"\0" + record(16, u64(7) + u64(1) + u64(1), b"entry") + record(17, u64(7), u64(1) + u64(2) + u64(1)))
    write("record", "fixup", b"\x01" + b"".join(recs[:2]))

    # scan: flags byte [+ skip range] + segment file
    write("scan", "sealed", b"\0" + sealed)
    write("scan", "open", b"\0" + open_)
    write("scan", "zstd", b"\0" + zstd_seg)
    write("scan", "torn", b"\0" + torn)
    write("scan", "damaged-salvage", b"\x02" + bytes(damaged))
    write("scan", "damaged-strict", b"\0" + bytes(damaged))
    # The manifest's skip range over the damaged first frame (salvage recorded it).
    write("scan", "skip-range", b"\x08" + u16(64) + u16(len(frame(1, 1, recs[0], 1))) + bytes(damaged))
    write("scan", "never-written", b"\0" + empty)
    write("scan", "padded-mapped", b"\x44" + sealed)
    write("scan", "fixup", b"\x01" + sealed)

    # manifest: flags byte [+ rewrite bound / 8] + manifest file
    W = 0x1111
    mf = (mf_record(HEADER, 1, 1) + mf_record(WRITER_START, W, 1_700_000_000_000_000_000, 4242)
          + mf_record(SEGMENT_OPEN, 1, W) + mf_record(SEGMENT_OPEN, 2, W) + mf_record(SEGMENT_SEAL, 1, 4, 0x1f8)
          + mf_record(SEGMENT_OPEN, 3, W) + mf_record(SEGMENT_OBSOLETE, 3))
    mf_recovery = (mf + mf_record(RECOVERY_SKIP, 2, 104, 48, 5) + mf_record(RECOVERY_DROP, 1, 0, 4096, 1)
                   + mf_record(CHECKPOINT, payload=u64(42) + u64(43)))
    write("manifest", "basic", b"\0" + mf)
    write("manifest", "recovery", b"\0" + mf_recovery)
    write("manifest", "torn-tail", b"\0" + mf + mf_record(SEGMENT_OPEN, 4, W)[:20])
    write("manifest", "damaged-middle", b"\0" + mf[:40] + b"\xff" * 8 + mf[48:])
    write("manifest", "rewrite", b"\x02\x08" + mf_recovery)
    write("manifest", "leftover-tmp", b"\x04" + mf)
    write("manifest", "empty", b"\0")

    # blob: flags byte + bit index (u32) + file
    write("blob", "small", b"\0" + u32(77) + blob(b"raft snapshot bytes " * 4))
    write("blob", "empty", b"\0" + u32(3) + blob(b""))
    write("blob", "fixup", b"\x07" + u32(1000) + blob(b"0123456789abcdef"))

    # inspect: flags byte + manifest length (u16) + manifest + segment file
    def store(mf_bytes, seg, flags=0):
        return bytes([flags]) + u16(len(mf_bytes)) + mf_bytes + seg

    open_mf = mf_record(HEADER, 1, 1) + mf_record(WRITER_START, W, 1, 1) + mf_record(SEGMENT_OPEN, 1, W)
    sealed_mf = open_mf + mf_record(SEGMENT_SEAL, 1, 4, len(sealed) - 56)
    zstd_mf = open_mf + mf_record(SEGMENT_SEAL, 1, 14, len(zstd_seg) - 56)
    write("inspect", "open", store(open_mf, open_))
    write("inspect", "sealed", store(sealed_mf, sealed))
    write("inspect", "zstd", store(zstd_mf, zstd_seg))
    write("inspect", "torn", store(open_mf, torn))
    write("inspect", "damaged", store(open_mf + mf_record(SEGMENT_SEAL, 1, 4, len(damaged) - 56), bytes(damaged)))
    write("inspect", "unlisted", store(b"", sealed, flags=2))
    write("inspect", "padded", store(sealed_mf, sealed, flags=4))

    # raft: type, flags, key length, key, value (docs/RAFT.md §1)
    g = u64(7)
    write("raft", "entry", bytes([16, 0, 24]) + g + u64(5) + u64(2) + b"payload")
    write("raft", "hard-state", bytes([17, 0, 8]) + g + u64(2) + u64(1) + u64(5))
    write("raft", "truncate-prefix", bytes([18, 0, 8]) + g + u64(3) + u64(1))
    write("raft", "truncate-suffix", bytes([19, 0, 8]) + g + u64(9))
    write("raft", "snapshot", bytes([20, 0, 8]) + g + u64(5) + u64(2) + u64(4096) + u32(0xDEADBEEF))
    write("raft", "remove-group", bytes([21, 0, 8]) + g)
    write("raft", "kv-put", bytes([1, 0, 3]) + b"\x01ak" + b"v")


if __name__ == "__main__":
    main()
