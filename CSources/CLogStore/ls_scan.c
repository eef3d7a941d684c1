/*
 * The segment scanner: walks a segment from its header to its end verifying
 * every frame, and classifies how it ends (DESIGN §4.3):
 *  - CLEAN:   a zeroed frame header (or the end of the file) after the last valid
 *             frame, and no valid frame of this segment anywhere beyond;
 *  - SEALED:  a seal frame ends the segment;
 *  - TORN:    a damaged frame with no valid frame of this segment after it;
 *  - CORRUPT: a damaged frame followed by a valid one, or a valid frame that
 *             contradicts its predecessors (wrong LSN).
 * Whether TORN is acceptable (only in the newest segment) is recovery's call.
 *
 * Skip ranges (salvage, recorded in the manifest) are walked over, and the first
 * frame after one may start at a later LSN than expected. A skip range reaching
 * the end of the file ends the segment as if sealed. In salvage mode the scanner
 * itself resynchronises past damage that a valid frame follows, collecting the
 * damaged ranges for recovery to record.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_crc32c.h"
#include "ls_internal.h"

/* Scanner-local result next to the LS_FMT_ codes: a valid frame at an unexpected LSN. */
#define LS_SCAN_WRONG_LSN (-100)

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* 1 if a complete frame of segment `seq` with a valid CRC starts at off, else 0; <0 on I/O error. */
static int valid_frame_at(ls_window *w, uint64_t off, uint64_t seq, ls_frame_header *h) {
    int rc;
    const uint8_t *p = ls_window_get(w, off, LS_FRAME_HEADER_SIZE, &rc);
    if (!p) return rc;
    uint32_t stored_crc;
    if (ls_frame_header_decode(p, h, &stored_crc) != LS_FMT_OK || h->segment_seq != seq) return 0;
    p = ls_window_get(w, off, LS_FRAME_HEADER_SIZE + (size_t)h->stored_len, &rc);
    if (!p) return rc;
    return ls_frame_crc(p, p + LS_FRAME_HEADER_SIZE, h->stored_len) == stored_crc;
}

/* Offset of the first frame magic at a multiple of 8 in p[0, n) (its 4 bytes inside), or n;
 * *nonzero |= 1 if a byte of p[0, that offset) is not zero. The region after the last frame is
 * mostly zeros (a preallocated tail, an unused segment), read in full at every open: this looks
 * at 64 bytes per step. */
static size_t find_magic(const uint8_t *p, size_t n, int *nonzero) {
    size_t i = 0;
    uint64_t bits = 0;
    for (; i + 64 <= n; i += 64) {
        unsigned hit = 0;
        uint64_t block = 0;
        for (size_t k = 0; k < 64; k += LS_FRAME_ALIGN) {
            uint64_t word = ls_get_u64(p + i + k);
            block |= word;
            hit |= (uint32_t)word == LS_FRAME_MAGIC;
        }
        if (hit) break; /* this block is looked at again below, up to its magic */
        bits |= block;
    }
    if (bits) *nonzero = 1;
    for (; i < n; i += LS_FRAME_ALIGN) {
        if (i + 4 <= n && ls_get_u32(p + i) == LS_FRAME_MAGIC) {
            *nonzero = 1; /* the magic itself */
            return i;
        }
        for (size_t k = i; k < n && k < i + LS_FRAME_ALIGN; k++)
            if (p[k]) *nonzero = 1;
    }
    return n;
}

/* Looks for a valid frame of this segment at any aligned offset in [from, end of file).
 * Returns 1 and its offset, 0 if none, <0 on I/O error. If `nonzero` is given, it is set to
 * whether a byte in [from, end of file) is not zero (when none is found: all were looked at). */
static int find_valid_frame_nz(ls_window *w, uint64_t from, uint64_t seq, uint64_t *found, int *nonzero) {
    /* Candidates are looked for a span of the file at a time (a few MiB). */
    const size_t span = ls_window_span(w) & ~(size_t)(LS_FRAME_ALIGN - 1);
    int nz = 0;
    uint64_t off = ls_align_up(from, LS_FRAME_ALIGN);
    if (off > from && off <= w->file_size) {
        int rc;
        const uint8_t *p = ls_window_get(w, from, (size_t)(off - from), &rc);
        if (!p) return rc;
        for (uint64_t k = 0; k < off - from; k++) nz |= p[k] != 0;
    }
    int rc = 0;
    while (off < w->file_size) {
        size_t n = w->file_size - off < span ? (size_t)(w->file_size - off) : span;
        const uint8_t *p = ls_window_get(w, off, n, &rc);
        if (!p) break;
        size_t at = find_magic(p, n, &nz);
        if (at == n) {
            off += n;
            continue;
        }
        off += at;
        if (off + LS_FRAME_HEADER_SIZE > w->file_size) {
            nz = 1; /* a magic too close to the end to start a frame */
            break;
        }
        ls_frame_header h;
        rc = valid_frame_at(w, off, seq, &h);
        if (rc < 0) break;
        if (rc == 1) {
            *found = off;
            break;
        }
        off += LS_FRAME_ALIGN;
    }
    if (nonzero) *nonzero = nz;
    return rc;
}

static int find_valid_frame(ls_window *w, uint64_t from, uint64_t seq, uint64_t *found) {
    return find_valid_frame_nz(w, from, seq, found, NULL);
}

static void set_detail(ls_scan_result *res, const char *fmt, uint64_t a, uint64_t b) {
    snprintf(res->detail, sizeof res->detail, fmt, a, b);
}

/* Damage at `off`: torn if nothing valid follows, corrupt otherwise. */
static int classify_damage(ls_window *w, uint64_t off, uint64_t seq, ls_scan_result *res, const char *what) {
    uint64_t later;
    int rc = find_valid_frame(w, off + LS_FRAME_ALIGN, seq, &later);
    if (rc < 0) return rc;
    res->bad_offset = off;
    res->data_end = off;
    if (rc == 1) {
        res->end = LS_SCAN_CORRUPT;
        snprintf(res->detail, sizeof res->detail, "%s at offset %" PRIu64 " followed by a valid frame at offset %" PRIu64,
                 what, off, later);
    } else {
        res->end = LS_SCAN_TORN;
        snprintf(res->detail, sizeof res->detail, "%s at offset %" PRIu64 " with nothing valid after it", what, off);
    }
    return 0;
}

static const char *damage_name(int fmt_rc) {
    switch (fmt_rc) {
    case LS_FMT_TRUNCATED: return "truncated frame";
    case LS_FMT_BAD_MAGIC: return "bad frame magic";
    case LS_FMT_BAD_CRC: return "frame checksum mismatch";
    default: return "invalid frame header field";
    }
}

void ls_scan_result_free(ls_scan_result *res) {
    free(res->damage);
    res->damage = NULL;
    res->ndamage = res->cap_damage = 0;
}

/* The recorded skip range of segment `seq` that covers `off`, or NULL. */
static const ls_skip_range *skip_covering(const ls_scan_opts *o, uint64_t seq, uint64_t off) {
    for (size_t i = 0; o && i < o->nskips; i++) {
        const ls_skip_range *s = &o->skips[i];
        if (s->seq == seq && off >= s->offset && off - s->offset < s->length) return s;
    }
    return NULL;
}

/*
 * Salvage: damage at `off`; looks for a valid frame from `from` on. If there is one, records
 * [off, it) as damaged (with the LSN the damaged bytes should have started at) and returns 1
 * with *resume at it. 0 when not salvaging or nothing valid follows (the caller classifies
 * as usual), <0 on an I/O or memory error.
 */
static int salvage_past(ls_window *w, uint64_t off, uint64_t from, uint64_t seq, const ls_scan_opts *opts,
                        uint64_t expected_lsn, ls_scan_result *res, uint64_t *resume) {
    if (!opts || !opts->salvage) return 0;
    uint64_t later;
    int rc = find_valid_frame(w, from, seq, &later);
    if (rc <= 0) return rc;
    if (res->ndamage == res->cap_damage) {
        size_t cap = res->cap_damage ? res->cap_damage * 2 : 4;
        ls_skip_range *v = realloc(res->damage, cap * sizeof *v);
        if (!v) return -ENOMEM;
        res->damage = v;
        res->cap_damage = cap;
    }
    res->damage[res->ndamage++] = (ls_skip_range){seq, off, later - off, expected_lsn};
    *resume = later;
    return 1;
}

/* The padding after a frame body is not covered by the CRC, so it must be zero. The frame
 * pointer the caller holds may be invalidated: it re-fetches the frame afterwards. */
static int padding_is_zero(ls_window *w, uint64_t off, const ls_frame_header *h, int *rc) {
    uint64_t body_end = off + LS_FRAME_HEADER_SIZE + h->stored_len;
    uint64_t frame_end = off + ls_frame_disk_size(h->stored_len);
    *rc = 0;
    if (frame_end == body_end) return 1;
    const uint8_t *pad = ls_window_get(w, body_end, (size_t)(frame_end - body_end), rc);
    /* A file ending inside the padding still holds every checksummed byte: the frame is whole
     * (the seal or next frame is then written at the aligned end). */
    if (!pad) return *rc < 0 ? 0 : 1;
    return all_zero(pad, (size_t)(frame_end - body_end));
}

/* Walks the frames from `off` on. `gap_ok`: the next frame may start past the expected LSN
 * (after a skipped range; a head-skipped segment starts with base LSN 0 = unknown). */
static int scan_frames(ls_window *w, uint64_t seq, const ls_scan_opts *opts, uint64_t off, int gap_ok,
                       ls_frame_visitor visit, void *ctx, ls_scan_result *res) {
    uint64_t next_lsn = res->header.base_lsn;
    for (;;) {
        int rc;
        uint64_t resume;
        const ls_skip_range *skip = skip_covering(opts, seq, off);
        if (skip) {
            uint64_t end = skip->offset + skip->length;
            gap_ok = 1;
            if (end >= w->file_size) { /* the rest of the file is skipped: the segment is complete */
                res->end = LS_SCAN_SEALED;
                res->tail_skipped = 1;
                res->data_end = off;
                return 0;
            }
            off = ls_align_up(end, LS_FRAME_ALIGN);
            continue;
        }
        const uint8_t *p = ls_window_get(w, off, LS_FRAME_HEADER_SIZE, &rc);
        if (!p && rc < 0) return rc;
        if (!p || all_zero(p, LS_FRAME_HEADER_SIZE)) {
            /* End of the written part, if nothing valid follows. */
            if (!p) {
                /* Fewer than a frame header's bytes remain: zeros are a clean end, anything else a cut frame. */
                uint64_t tail = w->file_size > off ? w->file_size - off : 0;
                const uint8_t *rest = tail ? ls_window_get(w, off, (size_t)tail, &rc) : NULL;
                if (rc < 0) return rc;
                if (rest && !all_zero(rest, (size_t)tail)) return classify_damage(w, off, seq, res, "truncated frame");
            }
            rc = salvage_past(w, off, off, seq, opts, next_lsn, res, &resume);
            if (rc < 0) return rc;
            if (rc == 1) {
                off = resume;
                gap_ok = 1;
                continue;
            }
            uint64_t later;
            int nonzero;
            rc = find_valid_frame_nz(w, off, seq, &later, &nonzero);
            if (rc < 0) return rc;
            res->data_end = off;
            res->zero_tail = !nonzero;
            if (rc == 1) {
                res->end = LS_SCAN_CORRUPT;
                res->bad_offset = off;
                set_detail(res, "zeroed frame at offset %" PRIu64 " followed by a valid frame at offset %" PRIu64, off, later);
            } else {
                res->end = LS_SCAN_CLEAN;
            }
            return 0;
        }
        ls_frame_header h;
        uint32_t stored_crc;
        int frc = ls_frame_header_decode(p, &h, &stored_crc);
        if (frc == LS_FMT_OK && h.segment_seq != seq) frc = LS_FMT_BAD_FIELD;
        const uint8_t *frame = NULL;
        if (frc == LS_FMT_OK) {
            frame = ls_window_get(w, off, LS_FRAME_HEADER_SIZE + (size_t)h.stored_len, &rc);
            if (!frame && rc < 0) return rc;
            if (!frame) frc = LS_FMT_TRUNCATED;
            else if (ls_frame_crc(frame, frame + LS_FRAME_HEADER_SIZE, h.stored_len) != stored_crc) frc = LS_FMT_BAD_CRC;
        }
        if (frc == LS_FMT_OK && !padding_is_zero(w, off, &h, &rc)) {
            if (rc < 0) return rc;
            frc = LS_FMT_BAD_FIELD;
        }
        if (frc == LS_FMT_OK && (gap_ok ? h.first_lsn < next_lsn : h.first_lsn != next_lsn)) frc = LS_SCAN_WRONG_LSN;
        if (frc != LS_FMT_OK) {
            rc = salvage_past(w, off, off + LS_FRAME_ALIGN, seq, opts, next_lsn, res, &resume);
            if (rc < 0) return rc;
            if (rc == 1) {
                off = resume;
                gap_ok = 1;
                continue;
            }
        }
        if (frc != LS_FMT_OK && frc != LS_SCAN_WRONG_LSN) return classify_damage(w, off, seq, res, damage_name(frc));
        if (frc == LS_SCAN_WRONG_LSN) {
            res->data_end = off;
            res->end = LS_SCAN_CORRUPT;
            res->bad_offset = off;
            snprintf(res->detail, sizeof res->detail, "frame at offset %" PRIu64 " has first LSN %" PRIu64 " where %" PRIu64 " was expected",
                     off, h.first_lsn, next_lsn);
            return 0;
        }
        if (gap_ok) {
            if (res->header.base_lsn == 0) { /* head-skipped: the first frame gives the base LSN */
                res->header.base_lsn = res->first_lsn = h.first_lsn;
                res->last_lsn = h.first_lsn - 1;
            }
            next_lsn = h.first_lsn;
            gap_ok = 0;
        }
        /* The padding check may have moved the window: fetch the frame again. */
        frame = ls_window_get(w, off, LS_FRAME_HEADER_SIZE + (size_t)h.stored_len, &rc);
        if (!frame) return rc < 0 ? rc : classify_damage(w, off, seq, res, "truncated frame");
        const uint8_t *body = frame + LS_FRAME_HEADER_SIZE;
        if (h.flags & LS_FRAME_F_SEAL) {
            if (ls_get_u64(body) != next_lsn - 1 || ls_get_u64(body + 8) != off) {
                rc = salvage_past(w, off, off + LS_FRAME_ALIGN, seq, opts, next_lsn, res, &resume);
                if (rc < 0) return rc;
                if (rc == 1) {
                    off = resume;
                    gap_ok = 1;
                    continue;
                }
                res->data_end = off;
                res->end = LS_SCAN_CORRUPT;
                res->bad_offset = off;
                set_detail(res, "seal frame at offset %" PRIu64 " disagrees with the frames before it (last LSN %" PRIu64 ")",
                           off, next_lsn - 1);
                return 0;
            }
            res->end = LS_SCAN_SEALED;
            res->data_end = off;
            /* The seal's last LSN (= next_lsn - 1, checked above). The same as the last frame's
             * unless a skip range or salvaged damage right before the seal held the last
             * records: then the segment still ends at the seal's LSN, as the manifest says. */
            res->last_lsn = next_lsn - 1;
            return 0;
        }
        if (visit && visit(ctx, off, &h, body)) {
            res->data_end = off + ls_frame_disk_size(h.stored_len);
            res->end = LS_SCAN_CLEAN;
            return 0;
        }
        res->frames++;
        res->records += h.record_count;
        next_lsn += h.record_count;
        res->last_lsn = next_lsn - 1;
        off += ls_frame_disk_size(h.stored_len);
        res->data_end = off;
    }
}

int ls_segment_scan(ls_io *io, int fd, const char *path, uint64_t expected_seq, ls_frame_visitor visit, void *ctx,
                    ls_scan_result *res, ls_error *err) {
    return ls_segment_scan_opts(io, fd, path, expected_seq, NULL, visit, ctx, res, err);
}

/*
 * A header that is zeros or damaged: the segment is head-skipped when a recorded skip range
 * covers offset 0, or (salvage) when a valid frame follows, which then starts the walk.
 * Returns 1 if so (*from = where the walk starts), 0 if not, <0 on error.
 */
static int skip_header(ls_window *w, uint64_t seq, const ls_scan_opts *opts, ls_scan_result *res, uint64_t *from) {
    if (skip_covering(opts, seq, 0)) {
        *from = LS_SEGMENT_HEADER_SIZE; /* scan_frames walks over the rest of the range */
    } else {
        int rc = salvage_past(w, 0, LS_SEGMENT_HEADER_SIZE, seq, opts, 0, res, from);
        if (rc <= 0) return rc;
    }
    res->head_skipped = 1;
    memset(&res->header, 0, sizeof res->header);
    res->header.sequence = seq;
    return 1;
}

int ls_segment_scan_opts(ls_io *io, int fd, const char *path, uint64_t expected_seq, const ls_scan_opts *opts,
                         ls_frame_visitor visit, void *ctx, ls_scan_result *res, ls_error *err) {
    memset(res, 0, sizeof *res);
    int64_t size = io->vt->file_size(io, fd);
    if (size < 0) return ls_err_set(err, LS_E_IO, (int)-size, path, "cannot stat segment");
    res->file_size = (uint64_t)size;
    ls_window w;
    if (ls_window_init(&w, io, fd, (uint64_t)size) < 0) return ls_err_set(err, LS_E_NOMEM, ENOMEM, path, "out of memory");
    int rc;
    const uint8_t *hdr = ls_window_get(&w, 0, LS_SEGMENT_HEADER_SIZE, &rc);
    if (!hdr && rc < 0) goto io_error;
    int hrc = LS_FMT_OK;
    if (hdr && !all_zero(hdr, LS_SEGMENT_HEADER_SIZE)) {
        hrc = ls_segment_header_decode(hdr, &res->header);
        if (hrc == LS_FMT_OK && res->header.sequence != expected_seq) hrc = LS_FMT_BAD_FIELD;
    }
    if (!hdr || all_zero(hdr, LS_SEGMENT_HEADER_SIZE) || hrc != LS_FMT_OK) {
        uint64_t from;
        res->header_state = (!hdr || all_zero(hdr, LS_SEGMENT_HEADER_SIZE)) ? 1 : -1;
        rc = skip_header(&w, expected_seq, opts, res, &from);
        if (rc < 0) goto io_error;
        if (rc == 1) {
            rc = scan_frames(&w, expected_seq, opts, from, 1, visit, ctx, res);
            if (rc < 0) goto io_error;
            ls_window_free(&w);
            return 0;
        }
    }
    if (res->header_state == 1) {
        /* Prepared but never written, unless frames follow a lost header. */
        uint64_t later;
        int nonzero;
        rc = find_valid_frame_nz(&w, LS_SEGMENT_HEADER_SIZE, expected_seq, &later, &nonzero);
        if (rc < 0) goto io_error;
        res->end = rc == 1 ? LS_SCAN_CORRUPT : LS_SCAN_CLEAN;
        res->zero_tail = hdr && !nonzero; /* data_end 0: the whole file is zeros */
        if (rc == 1) {
            res->bad_offset = 0;
            snprintf(res->detail, sizeof res->detail, "segment header is zeros but a valid frame follows at offset %" PRIu64, later);
        }
        ls_window_free(&w);
        return 0;
    }
    if (hrc != LS_FMT_OK) {
        uint64_t later;
        rc = find_valid_frame(&w, LS_SEGMENT_HEADER_SIZE, expected_seq, &later);
        if (rc < 0) goto io_error;
        res->bad_offset = 0;
        res->end = rc == 1 ? LS_SCAN_CORRUPT : LS_SCAN_TORN;
        snprintf(res->detail, sizeof res->detail, "segment header is damaged (%s)",
                 hrc == LS_FMT_BAD_FIELD ? "unexpected version, size, sequence, base LSN or reserved bytes"
                                         : "bad magic or checksum");
        ls_window_free(&w);
        return 0;
    }
    res->first_lsn = res->header.base_lsn;
    res->last_lsn = res->header.base_lsn - 1;
    rc = scan_frames(&w, expected_seq, opts, LS_SEGMENT_HEADER_SIZE, 0, visit, ctx, res);
    if (rc < 0) goto io_error;
    ls_window_free(&w);
    return 0;
io_error:
    ls_window_free(&w);
    ls_scan_result_free(res);
    if (rc == -ENOMEM) return ls_err_set(err, LS_E_NOMEM, ENOMEM, path, "out of memory while reading segment");
    return ls_err_set(err, LS_E_IO, -rc, path, "cannot read segment");
}
