/*
 * Target `inspect`: the read-only store inspector (ls_inspect.c ls_inspect_store; FORMAT.md
 * §7.6), which runs the manifest's read-only replay, the salvage scanner and the record and
 * zstd container decoding of every frame, on a store of one manifest and one segment file
 * written to a temporary directory (tmpfs when there is one).
 *
 * Input: a flags byte, the manifest length (u16), the manifest, then the segment file.
 *   bit 0  fix the CRCs of both files (to get past them)
 *   bit 1  no manifest file
 *   bit 2  pad the segment with zeros to 64 KiB (a preallocated segment, read through a mapping)
 * The segment file is named after the writer id and sequence its header holds.
 *
 * Invariants: the inspection succeeds; it changes no file and creates none; every record it
 * reports is in LSN order within the reported range, and is the record stored at the
 * location it names (decoded again from the file, through the container for container items,
 * so its CRC holds; a container's stated size is within ls_container_limit of the segment
 * header's size); the totals match the callbacks. Every input runs: a container claiming more
 * than its segment can hold (up to 4 GiB) is a corrupt-record problem, never an allocation.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "FuzzSupport.h"
#include "fuzz_common.h"
#include "ls_inspect.h"

#define PAD_SIZE (64u * 1024u)

static char root[256], seg_dir[300], mf_dir[300], mf_path[340];

static void remove_root(void) {
    if (!root[0]) return;
    unlink(mf_path);
    rmdir(mf_dir);
    DIR *d = opendir(seg_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            char p[600];
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", seg_dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(seg_dir);
    rmdir(root);
}

static void setup(void) {
    if (root[0]) return;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                       : getenv("TMPDIR")                                                          ? getenv("TMPDIR")
                                                                                                   : "/tmp";
    snprintf(root, sizeof root, "%s/logstore-fuzz-inspect-%d", base, (int)getpid());
    snprintf(seg_dir, sizeof seg_dir, "%s/segments", root);
    snprintf(mf_dir, sizeof mf_dir, "%s/manifest", root);
    snprintf(mf_path, sizeof mf_path, "%s/manifest.log", mf_dir);
    FUZZ_CHECK(mkdir(root, 0755) == 0 || errno == EEXIST);
    FUZZ_CHECK(mkdir(seg_dir, 0755) == 0 || errno == EEXIST);
    FUZZ_CHECK(mkdir(mf_dir, 0755) == 0 || errno == EEXIST);
    atexit(remove_root);
}

static void write_file(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(n == 0 || fwrite(p, 1, n, f) == n);
    FUZZ_CHECK(fclose(f) == 0);
}

static int file_is(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint8_t *buf = malloc(n + 1);
    FUZZ_CHECK(buf != NULL);
    size_t got = fread(buf, 1, n + 1, f);
    fclose(f);
    int same = got == n && (n == 0 || memcmp(buf, p, n) == 0);
    free(buf);
    return same;
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    FUZZ_CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

typedef struct insp_ctx {
    const uint8_t *seg;
    size_t n;
    uint64_t seq;
    uint64_t records, last_lsn, min_lsn, max_lsn;
    uint64_t problems, corruptions, segments, record_problems;
    uint64_t seg_frames, seg_records;
    int listed;
} insp_ctx;

static int same_record(const ls_record *d, const ls_inspect_record *r) {
    return d->type == r->type && d->flags == r->flags && d->key_len == r->key_len && d->value_len == r->value_len &&
           memcmp(d->key, r->key, r->key_len) == 0 && memcmp(d->value, r->value, r->value_len) == 0;
}

static int on_record(void *vctx, const ls_inspect_record *r) {
    insp_ctx *c = vctx;
    FUZZ_CHECK(r->lsn > c->last_lsn);
    c->last_lsn = r->lsn;
    if (!c->min_lsn || r->lsn < c->min_lsn) c->min_lsn = r->lsn;
    if (r->lsn > c->max_lsn) c->max_lsn = r->lsn;
    c->records++;
    FUZZ_CHECK(r->type != 0 && r->type != LS_RECORD_TYPE_ZSTD_BATCH);
    FUZZ_CHECK(r->encoded_size == ls_record_encoded_size(r->key_len, r->value_len));
    FUZZ_CHECK(r->location.segment_seq == c->seq);
    FUZZ_CHECK(r->frame_offset % LS_FRAME_ALIGN == 0 && r->frame_offset + LS_FRAME_HEADER_SIZE <= r->location.offset);
    /* The record (or its container) is in the file where the location says, CRC and all. */
    uint64_t off = r->location.offset;
    FUZZ_CHECK(off < c->n);
    ls_record d;
    size_t used;
    FUZZ_CHECK(ls_record_decode(c->seg + off, c->n - off, &d, &used) == LS_FMT_OK);
    if (r->location.item == LS_LOCATION_PLAIN) {
        FUZZ_CHECK(same_record(&d, r));
        FUZZ_CHECK(r->stored_size == used);
        return 0;
    }
    FUZZ_CHECK(d.type == LS_RECORD_TYPE_ZSTD_BATCH && d.key_len == LS_ZSTD_BATCH_KEY_SIZE);
    uint32_t count = ls_get_u32(d.key), raw = ls_get_u32(d.key + 4);
    FUZZ_CHECK(r->location.item < count && r->stored_size <= used);
    /* Expanded only if the claim is within what one append can hold in this segment. */
    ls_segment_header h;
    int have_header = c->n >= LS_SEGMENT_HEADER_SIZE && ls_segment_header_decode(c->seg, &h) == LS_FMT_OK;
    FUZZ_CHECK(raw <= ls_container_limit(have_header ? h.segment_size : 0));
    uint8_t *plain = malloc(raw ? raw : 1);
    FUZZ_CHECK(plain != NULL);
    FUZZ_CHECK(ls_decompress(d.value, d.value_len, plain, raw) == LS_OK);
    size_t pos = 0;
    ls_record item;
    for (uint32_t i = 0; i <= r->location.item; i++) {
        FUZZ_CHECK(ls_record_decode(plain + pos, raw - pos, &item, &used) == LS_FMT_OK);
        pos += used;
    }
    FUZZ_CHECK(same_record(&item, r));
    free(plain);
    return 0;
}

static void on_segment(void *vctx, const ls_inspect_segment *s) {
    insp_ctx *c = vctx;
    c->segments++;
    FUZZ_CHECK(s->seq == c->seq && s->file_size == c->n);
    FUZZ_CHECK(s->bytes_used <= ls_align_up(s->file_size, LS_FRAME_ALIGN));
    FUZZ_CHECK(s->state >= LS_INSPECT_SEG_EMPTY && s->state <= LS_INSPECT_SEG_OBSOLETE);
    FUZZ_CHECK(s->frame_bytes <= ls_align_up(s->file_size, LS_FRAME_ALIGN));
    c->listed = s->listed;
    c->seg_frames = s->frames;
    c->seg_records = s->records;
}

static void on_problem(void *vctx, const ls_inspect_problem *p) {
    insp_ctx *c = vctx;
    if (fuzz_verbose()) fprintf(stderr, "  problem: %s\n", p->message);
    c->problems++;
    c->corruptions += p->corruption != 0;
    c->record_problems += p->kind == LS_INSPECT_CORRUPT_RECORD;
    FUZZ_CHECK(p->kind >= LS_INSPECT_CORRUPT_FRAME && p->message[0]);
    if (p->kind == LS_INSPECT_TORN_TAIL) FUZZ_CHECK(!p->corruption);
}

int fuzz_inspect(const uint8_t *data, size_t size) {
    setup();
    fuzz_input in = {data, size};
    uint8_t flags = fin_u8(&in);
    size_t mlen;
    const uint8_t *mp = fin_bytes(&in, fin_u16(&in), &mlen);
    uint8_t *mf = fuzz_dup(mp, mlen);
    size_t n = in.n, cap = (flags & 4) && n < PAD_SIZE ? PAD_SIZE : n;
    uint8_t *seg = calloc(cap ? cap : 1, 1);
    FUZZ_CHECK(seg != NULL);
    if (n) memcpy(seg, in.p, n);
    if (flags & 1) {
        fixup_manifest(mf, mlen);
        fixup_segment(seg, n);
    }
    n = cap;
    uint64_t writer = n >= 24 ? ls_get_u64(seg + 16) : 1, seq = n >= 32 ? ls_get_u64(seg + 24) : 1;
    char seg_path[600];
    snprintf(seg_path, sizeof seg_path, "%s/seg-%016" PRIx64 "-%016" PRIx64 ".log", seg_dir, writer, seq);
    write_file(seg_path, seg, n);
    if (!(flags & 2)) write_file(mf_path, mf, mlen);

    insp_ctx c = {.seg = seg, .n = n, .seq = seq};
    ls_inspect_callbacks cb = {.ctx = &c, .on_segment = on_segment, .on_record = on_record, .on_problem = on_problem};
    ls_inspect_summary sum;
    ls_error err;
    memset(&err, 0, sizeof err);
    int rc = ls_inspect_store(root, &cb, &sum, &err);
    if (rc != 0) fprintf(stderr, "ls_inspect_store: %d %s\n", rc, err.message);
    FUZZ_CHECK(rc == 0);

    if (fuzz_verbose())
        fprintf(stderr, "inspect: %" PRIu64 " problems (%" PRIu64 " corruption), %" PRIu64 " frames, %" PRIu64
                " records (%" PRIu64 " reported), LSN %" PRIu64 "..%" PRIu64 ", listed %d\n",
                sum.problems, sum.corruptions, sum.frames, sum.records, c.records, sum.first_lsn, sum.last_lsn,
                c.listed);
    /* Read-only: the files are as they were, and nothing was created (not even LOCK). */
    FUZZ_CHECK(file_is(seg_path, seg, n));
    FUZZ_CHECK((flags & 2) ? access(mf_path, F_OK) != 0 : file_is(mf_path, mf, mlen));
    FUZZ_CHECK(count_entries(root) == 2 && count_entries(seg_dir) == 1 && count_entries(mf_dir) == ((flags & 2) ? 0 : 1));

    /* The totals agree with what the callbacks saw. */
    FUZZ_CHECK(sum.problems == c.problems && sum.corruptions == c.corruptions);
    FUZZ_CHECK(c.segments == 1 && sum.segments == 1 && sum.file_bytes == n);
    FUZZ_CHECK(!sum.stopped);
    if (c.records) FUZZ_CHECK(sum.first_lsn <= c.min_lsn && c.max_lsn <= sum.last_lsn);
    if (c.listed) {
        FUZZ_CHECK(sum.frames == c.seg_frames && sum.records == c.seg_records);
        if (c.record_problems == 0) FUZZ_CHECK(c.records == sum.records);
        FUZZ_CHECK(c.records <= sum.records || c.record_problems > 0);
    } else {
        FUZZ_CHECK(c.records == 0);
    }

    unlink(seg_path);
    if (!(flags & 2)) unlink(mf_path);
    free(seg);
    free(mf);
    return 0;
}
