/*
 * Target `record`: the record codec of ls_format.c and the zstd container expansion of
 * ls_compress.c (FORMAT.md §4, §4.1, §7.4).
 *
 * Input: one mode byte, then bytes read two ways.
 * 1. As a frame body: records decoded back to back (mode bit 0: record CRCs fixed first, so
 *    the walk gets past them). Each result must be the one FORMAT.md §4 prescribes
 *    (TRUNCATED, BAD_FIELD for type 0, BAD_CRC), a decoded record lies within the input and
 *    re-encodes to the same bytes; a container (type 0xFF) is expanded as the readers do
 *    (ls_container_expand): a stated size above the bound is refused before any allocation,
 *    what it accepts decompresses to exactly the stated size (and no other), and it refuses
 *    nothing that decompresses to the stated size as one zstd frame; its items are checked the
 *    same way.
 * 2. As a recipe: records built from the bytes are encoded, decoded back equal, compressed into
 *    a container and expanded back equal.
 */
#include <string.h>
#include <zstd.h>

#include "FuzzSupport.h"
#include "fuzz_common.h"

/* The bound passed to ls_container_expand here, in place of a segment's (ls_container_limit:
 * up to 1 GiB). A harness bound, not a workaround: it keeps the independent check below
 * (which allocates the stated size itself) and each execution small. */
#define MAX_EXPAND (1u << 20)

/* The status FORMAT.md §4 gives buf[0..avail), computed without ls_format.c. */
static int expected_status(const uint8_t *buf, size_t avail) {
    if (avail < LS_RECORD_HEADER_SIZE) return LS_FMT_TRUNCATED;
    if (buf[4] == 0) return LS_FMT_BAD_FIELD;
    size_t total = LS_RECORD_HEADER_SIZE + (size_t)ls_get_u16(buf + 6) + ls_get_u32(buf + 8);
    if (total > avail) return LS_FMT_TRUNCATED;
    uint32_t crc = ref_crc32c(0, buf + 4, total - 4);
    return ls_crc32c_unmask(ls_get_u32(buf)) == crc ? LS_FMT_OK : LS_FMT_BAD_CRC;
}

/* Decodes one record at buf[0..avail) and checks it; returns its size, or 0 if it failed. */
static size_t check_one(const uint8_t *buf, size_t avail, ls_record *r) {
    size_t used = 0;
    int rc = ls_record_decode(buf, avail, r, &used);
    FUZZ_CHECK(rc == expected_status(buf, avail));
    if (rc != LS_FMT_OK) return 0;
    FUZZ_CHECK(used == ls_record_encoded_size(r->key_len, r->value_len) && used <= avail);
    FUZZ_CHECK(r->type != 0 && r->key_len <= LS_RECORD_MAX_KEY);
    FUZZ_CHECK(r->key == buf + LS_RECORD_HEADER_SIZE && r->value == r->key + r->key_len);
    uint8_t *again = malloc(used);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(ls_record_encode(r, again) == used);
    FUZZ_CHECK(memcmp(again, buf, used) == 0);
    free(again);
    return used;
}

/* Expands a container record as the readers do (FORMAT.md §4.1, §7.4) and checks its items;
 * returns 1 if ls_container_expand accepted it. */
static int check_container(const ls_record *c) {
    if (c->key_len != LS_ZSTD_BATCH_KEY_SIZE) return 0;
    uint32_t count = ls_get_u32(c->key), raw = ls_get_u32(c->key + 4);
    uint8_t *buf = NULL;
    size_t cap = 0;
    char why[160] = "";
    int rc = ls_container_expand(c->value, c->value_len, raw, MAX_EXPAND, &buf, &cap, why, sizeof why);
    FUZZ_CHECK(rc == LS_OK || rc == LS_E_CORRUPT);
    FUZZ_CHECK(why[0] || rc == LS_OK);
    /* Nothing allocated, or exactly the claim (refused only after decompressing). */
    FUZZ_CHECK(cap == 0 ? buf == NULL : buf != NULL && cap == raw);
    if (rc == LS_OK) FUZZ_CHECK(cap == raw && raw <= MAX_EXPAND);
    if (raw > MAX_EXPAND) {
        FUZZ_CHECK(rc == LS_E_CORRUPT && buf == NULL); /* refused before any allocation */
        return 0;
    }
    uint8_t *plain = malloc(raw + 1);
    FUZZ_CHECK(plain != NULL);
    int plain_ok = ls_decompress(c->value, c->value_len, plain, raw) == LS_OK;
    if (rc == LS_OK) {
        FUZZ_CHECK(plain_ok && memcmp(buf, plain, raw) == 0);
    } else if (plain_ok && raw >= LS_RECORD_HEADER_SIZE &&
               ZSTD_findFrameCompressedSize(c->value, c->value_len) == c->value_len) {
        /* One zstd frame that decompresses to the stated size: nothing to refuse (the bound on
         * what n bytes of zstd expand to must hold for every real frame). */
        if (fuzz_verbose()) fprintf(stderr, "refused: %s\n", why);
        FUZZ_CHECK(!"ls_container_expand refused a container that decompresses to its stated size");
    }
    if (plain_ok) {
        /* Exactly `raw` bytes: no other length decompresses. */
        FUZZ_CHECK(ls_decompress(c->value, c->value_len, plain, raw + 1) != LS_OK);
        if (raw > 0) FUZZ_CHECK(ls_decompress(c->value, c->value_len, plain, raw - 1) != LS_OK);
        FUZZ_CHECK(ls_decompress(c->value, c->value_len, plain, raw) == LS_OK);
        size_t pos = 0;
        for (uint32_t i = 0; i < count && pos <= raw; i++) {
            ls_record r;
            size_t used = check_one(plain + pos, raw - pos, &r);
            if (used == 0) break;
            pos += used;
        }
        FUZZ_CHECK(pos <= raw);
    }
    free(plain);
    free(buf);
    return rc == LS_OK;
}

static void check_body(const uint8_t *data, size_t size, int fix) {
    uint8_t *body = fuzz_dup(data, size);
    if (fix) fixup_records(body, size);
    size_t pos = 0;
    while (pos <= size) {
        ls_record r;
        size_t used = check_one(body + pos, size - pos, &r);
        if (used == 0) break;
        if (r.type == LS_RECORD_TYPE_ZSTD_BATCH) check_container(&r);
        pos += used;
    }
    FUZZ_CHECK(pos <= size);
    free(body);
}

#define MAX_BUILT 64

static void check_built(const uint8_t *data, size_t size, int level) {
    fuzz_input in = {data, size};
    ls_record recs[MAX_BUILT];
    size_t n = 0, total = 0;
    while (in.n > 0 && n < MAX_BUILT) {
        ls_record *r = &recs[n++];
        r->type = (uint8_t)(1 + fin_u8(&in) % 254); /* 1..254: what an append accepts */
        r->flags = fin_u8(&in);
        size_t got;
        r->key = fin_bytes(&in, fin_u8(&in) % 32, &got);
        r->key_len = (uint32_t)got;
        r->value = fin_bytes(&in, fin_u8(&in), &got);
        r->value_len = (uint32_t)got;
        total += ls_record_encoded_size(r->key_len, r->value_len);
    }
    if (n == 0) return;
    uint8_t *enc = malloc(total);
    FUZZ_CHECK(enc != NULL);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) pos += ls_record_encode(&recs[i], enc + pos);
    FUZZ_CHECK(pos == total);
    pos = 0;
    for (size_t i = 0; i < n; i++) {
        ls_record d;
        size_t used = check_one(enc + pos, total - pos, &d);
        FUZZ_CHECK(used > 0);
        FUZZ_CHECK(d.type == recs[i].type && d.flags == recs[i].flags && d.key_len == recs[i].key_len &&
                   d.value_len == recs[i].value_len && memcmp(d.key, recs[i].key, d.key_len) == 0 &&
                   memcmp(d.value, recs[i].value, d.value_len) == 0);
        pos += used;
    }
    FUZZ_CHECK(pos == total);

    /* As a container: compressed when it shrinks (make_container), expanded back equal. */
    size_t cap = ls_compress_bound(total);
    uint8_t *z = malloc(cap), *back = malloc(total + 1);
    FUZZ_CHECK(z && back);
    int zerr = 0;
    size_t zn = ls_compress(enc, total, z, cap, level, &zerr);
    FUZZ_CHECK(zerr == 0);
    if (zn > 0) {
        FUZZ_CHECK(zn < total);
        FUZZ_CHECK(ls_decompress(z, zn, back, total) == LS_OK);
        FUZZ_CHECK(memcmp(back, enc, total) == 0);
        FUZZ_CHECK(ls_decompress(z, zn, back, total + 1) != LS_OK);
        FUZZ_CHECK(ls_decompress(z, zn, back, total - 1) != LS_OK);
        /* The container record itself decodes, and expands to the records. */
        uint8_t key[LS_ZSTD_BATCH_KEY_SIZE];
        ls_put_u32(key, (uint32_t)n);
        ls_put_u32(key + 4, (uint32_t)total);
        ls_record c = {LS_RECORD_TYPE_ZSTD_BATCH, 0, LS_ZSTD_BATCH_KEY_SIZE, (uint32_t)zn, key, z};
        uint8_t *crec = malloc(ls_record_encoded_size(c.key_len, c.value_len));
        FUZZ_CHECK(crec != NULL);
        size_t clen = ls_record_encode(&c, crec);
        ls_record cd;
        FUZZ_CHECK(check_one(crec, clen, &cd) == clen);
        FUZZ_CHECK(check_container(&cd)); /* what the writer makes is always accepted */
        free(crec);
    }
    free(z);
    free(back);
    free(enc);
}

int fuzz_record(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t mode = data[0];
    check_body(data + 1, size - 1, mode & 1);
    check_built(data + 1, size - 1, 1 + (mode >> 4) % 3);
    return 0;
}
