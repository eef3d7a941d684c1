/*
 * CRC32C (Castagnoli): the API and its conventions are in include/ls_crc32c.h.
 *
 * Representation. Every 32-bit value here is a polynomial over GF(2) of degree < 32
 * in *reflected* bit order: bit 31 holds the coefficient of x^0 and bit 0 that of
 * x^31. Data bytes are consumed least significant bit first. This is the order of
 * iSCSI, of the SSE4.2 `crc32` instruction and of ARMv8's `crc32c*`, so all three
 * paths below compute the same function. The public functions pre- and
 * post-condition the register with ~ (the "init ~0, xorout ~0" of RFC 3720); the
 * internal `*_raw` functions work on the bare register.
 *
 * Paths, chosen once at first use (ls_crc32c_resolve_raw):
 *   - x86-64 with SSE4.2 and PCLMULQDQ: three independent `crc32` streams over the
 *     three thirds of a block, merged with two carry-less multiplies
 *     (ls_crc32c_sse42_block), then a single stream for the tail.
 *   - aarch64 built with the CRC extension: one `crc32cx` stream.
 *   - anything else: slicing-by-8 tables (ls_crc32c_portable_raw).
 *
 * Shifting a CRC. The bare register is linear in its input: for a message M split
 * as M = A || B, raw(r, A || B) = raw(r, A) * x^(8|B|) + raw(0, B)  (mod P), where
 * "+" is XOR. ls_crc32c_combine and the three-stream merge are both this identity;
 * x^(8n) mod P comes from a table of x^(2^k) mod P (O(log n) multiplies) or, for the
 * fixed lane sizes of the hardware path, from constants computed at start-up.
 *
 * Thread safety. All lazily built state (tables, lane constants) is written once
 * inside pthread_once, before the resolved function pointer is published with a
 * release store; every reader either loads that pointer with acquire or goes
 * through pthread_once itself. After start-up nothing is written.
 */
#include "ls_crc32c.h"

#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LS_CRC32C_HAVE_SSE42 1
#include <immintrin.h>
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32) && !defined(__ARM_BIG_ENDIAN)
#define LS_CRC32C_HAVE_ARMV8 1
#include <arm_acle.h>
#endif

/* ---- Constants ------------------------------------------------------------------ */

/* The Castagnoli polynomial 0x1EDC6F41 (x^32 implied) with its 32 low coefficients
 * bit-reversed, because the register is kept in reflected order. */
#define LS_CRC32C_POLY_REFLECTED 0x82F63B78u

/* The polynomial 1 (= x^0) in reflected order: the coefficient of x^0 is bit 31. */
#define LS_CRC32C_ONE 0x80000000u

/* Degree of P: a register holds the 32 coefficients of x^0 .. x^31. */
#define LS_CRC32C_DEGREE 32u

/* One table entry per value of a byte. */
#define LS_CRC32C_BYTE_VALUES 256u

/* Slicing-by-8 consumes a 64-bit word per step: one table per byte of the word. */
#define LS_CRC32C_SLICES 8u

/* Bytes consumed by one 64-bit `crc32` instruction or one slicing-by-8 step. */
#define LS_CRC32C_WORD 8u

/* log2(bits per byte): a length of n bytes is n * 2^3 bits, so x^(8n) is the
 * product of x^(2^(k+3)) over the set bits k of n. */
#define LS_CRC32C_LOG2_BITS_PER_BYTE 3u

/* Entries of the x^(2^k) table: a byte length below 2^64 is below 2^(64+3) bits,
 * so k never exceeds 66. */
#define LS_CRC32C_POW_ENTRIES (64u + LS_CRC32C_LOG2_BITS_PER_BYTE)

_Static_assert(sizeof(size_t) * CHAR_BIT + LS_CRC32C_LOG2_BITS_PER_BYTE <= LS_CRC32C_POW_ENTRIES,
               "the power table must cover every bit of a size_t length, in bits");

/* ---- Lazily built state (written once, under pthread_once) ---------------------- */

static pthread_once_t ls_crc32c_once = PTHREAD_ONCE_INIT;

/* ls_crc32c_table[0][b] is the register after feeding byte b into a zero register;
 * ls_crc32c_table[k][b] the same followed by k zero bytes (slicing-by-8). */
static uint32_t ls_crc32c_table[LS_CRC32C_SLICES][LS_CRC32C_BYTE_VALUES];

/* ls_crc32c_pow2k[k] = x^(2^k) mod P. */
static uint32_t ls_crc32c_pow2k[LS_CRC32C_POW_ENTRIES];

/* ---- GF(2) polynomial arithmetic modulo P --------------------------------------- */

/* a * x mod P. */
static uint32_t ls_crc32c_times_x(uint32_t a) {
    return (a & 1u) ? (a >> 1) ^ LS_CRC32C_POLY_REFLECTED : a >> 1;
}

/* a * b mod P, one coefficient of a at a time (x^0 first). */
static uint32_t ls_crc32c_multiply(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (uint32_t coefficient = LS_CRC32C_ONE; coefficient != 0; coefficient >>= 1) {
        if (a & coefficient) {
            product ^= b;
        }
        b = ls_crc32c_times_x(b);
    }
    return product;
}

/* x^(n * 2^log2_unit) mod P; needs the power table. O(log n) multiplies. */
static uint32_t ls_crc32c_xpow(uint64_t n, unsigned log2_unit) {
    uint32_t result = LS_CRC32C_ONE;
    for (unsigned k = log2_unit; n != 0; n >>= 1, k++) {
        assert(k < LS_CRC32C_POW_ENTRIES);
        if (n & 1u) {
            result = ls_crc32c_multiply(result, ls_crc32c_pow2k[k]);
        }
    }
    return result;
}

/* ---- Portable: slicing-by-8 ----------------------------------------------------- */

/* Little-endian load from any address; compilers turn it into one load. */
static uint32_t ls_crc32c_load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t ls_crc32c_portable_byte(uint32_t crc, uint8_t byte) {
    return (crc >> 8) ^ ls_crc32c_table[0][(crc ^ byte) & 0xFFu];
}

/* One 8-byte step: the register is XORed into the first four bytes, then each byte
 * is looked up in the table that also accounts for the bytes that follow it. */
static uint32_t ls_crc32c_portable_word(uint32_t crc, const uint8_t *p) {
    const uint32_t lo = ls_crc32c_load_le32(p) ^ crc;
    const uint32_t hi = ls_crc32c_load_le32(p + 4);
    return ls_crc32c_table[7][lo & 0xFFu] ^ ls_crc32c_table[6][(lo >> 8) & 0xFFu] ^
           ls_crc32c_table[5][(lo >> 16) & 0xFFu] ^ ls_crc32c_table[4][lo >> 24] ^
           ls_crc32c_table[3][hi & 0xFFu] ^ ls_crc32c_table[2][(hi >> 8) & 0xFFu] ^
           ls_crc32c_table[1][(hi >> 16) & 0xFFu] ^ ls_crc32c_table[0][hi >> 24];
}

static uint32_t ls_crc32c_portable_raw(uint32_t crc, const uint8_t *p, size_t n) {
    for (; n >= LS_CRC32C_WORD; p += LS_CRC32C_WORD, n -= LS_CRC32C_WORD) {
        crc = ls_crc32c_portable_word(crc, p);
    }
    for (; n > 0; p++, n--) {
        crc = ls_crc32c_portable_byte(crc, *p);
    }
    return crc;
}

/* ---- x86-64: SSE4.2 crc32, three streams merged with PCLMULQDQ ------------------- */

#ifdef LS_CRC32C_HAVE_SSE42

/* The package is built without -msse4.2: only these functions may use the
 * instructions, and only after ls_crc32c_init checked the CPU has them. */
#define LS_CRC32C_TARGET_SSE42 __attribute__((target("sse4.2,pclmul")))

/* Lane sizes of the three-stream loop. A block is three lanes back to back; the
 * three lanes are hashed in parallel, because `crc32` has a latency of three
 * cycles but a throughput of one per cycle, and each block ends with a merge
 * costing about as much as ten serial `crc32`s.
 *   long: 8 KiB, so the merge is < 0.2% of a block and a block (24 KiB) still
 *         fits in L1d together with the stream that follows;
 *   short: 256 bytes, so buffers from 768 bytes up still run three streams
 *         while the merge stays below ~10% of a block. */
#define LS_CRC32C_LONG_LANE 8192u
#define LS_CRC32C_SHORT_LANE 256u
#define LS_CRC32C_LANES_PER_BLOCK 3u

/* pclmulqdq of two reflected 32-bit polynomials yields their 63-bit product one
 * bit position low, i.e. multiplied by x^-1 in 64-bit reflected order; the 64-bit
 * `crc32` of zero then multiplies it by x^32 and reduces mod P. The constant a
 * register is multiplied by therefore carries x^-33 to cancel both. */
#define LS_CRC32C_CLMUL_REDUCE_DEGREE 33u

_Static_assert(LS_CRC32C_LONG_LANE % LS_CRC32C_WORD == 0, "lanes are whole words");
_Static_assert(LS_CRC32C_SHORT_LANE % LS_CRC32C_WORD == 0, "lanes are whole words");
_Static_assert(LS_CRC32C_SHORT_LANE * 8u > LS_CRC32C_CLMUL_REDUCE_DEGREE,
               "shift constants x^(8*lane - 33) need a positive exponent");

/* A lane size and the constants that shift a register over one and two lanes:
 * shift_one = x^(8*bytes - 33) mod P, shift_two = x^(16*bytes - 33) mod P. */
struct ls_crc32c_lane {
    size_t bytes;
    uint32_t shift_one;
    uint32_t shift_two;
};

/* Long lanes first; constants filled in by ls_crc32c_init. */
static struct ls_crc32c_lane ls_crc32c_lanes[] = {
    {LS_CRC32C_LONG_LANE, 0, 0},
    {LS_CRC32C_SHORT_LANE, 0, 0},
};

static uint64_t ls_crc32c_load64(const uint8_t *p) {
    uint64_t word;
    memcpy(&word, p, sizeof word); /* x86 is little-endian; memcpy keeps ASan/UBSan quiet */
    return word;
}

static void ls_crc32c_lane_init(struct ls_crc32c_lane *lane) {
    const uint64_t bits = (uint64_t)lane->bytes << LS_CRC32C_LOG2_BITS_PER_BYTE;
    lane->shift_one = ls_crc32c_xpow(bits - LS_CRC32C_CLMUL_REDUCE_DEGREE, 0);
    lane->shift_two = ls_crc32c_xpow(2 * bits - LS_CRC32C_CLMUL_REDUCE_DEGREE, 0);
}

/* crc * x^(8n) mod P, given shift = x^(8n - 33) mod P. */
LS_CRC32C_TARGET_SSE42 static uint32_t ls_crc32c_sse42_shift(uint32_t crc, uint32_t shift) {
    const __m128i product = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)crc),
                                                 _mm_cvtsi64_si128((long long)shift), 0x00);
    return (uint32_t)_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(product));
}

/* One stream: bytes up to 8-byte alignment, whole words, then the last bytes. */
LS_CRC32C_TARGET_SSE42 static uint32_t ls_crc32c_sse42_single(uint32_t crc, const uint8_t *p,
                                                              size_t n) {
    for (; n > 0 && ((uintptr_t)p % LS_CRC32C_WORD) != 0; p++, n--) {
        crc = _mm_crc32_u8(crc, *p);
    }
    uint64_t crc64 = crc;
    for (; n >= LS_CRC32C_WORD; p += LS_CRC32C_WORD, n -= LS_CRC32C_WORD) {
        crc64 = _mm_crc32_u64(crc64, ls_crc32c_load64(p));
    }
    crc = (uint32_t)crc64;
    for (; n > 0; p++, n--) {
        crc = _mm_crc32_u8(crc, *p);
    }
    return crc;
}

/* One block of three lanes: lane 0 continues the register, lanes 1 and 2 start
 * from zero; then raw(crc, L0||L1||L2) = c0*x^(16 lane) + c1*x^(8 lane) + c2. */
LS_CRC32C_TARGET_SSE42 static uint32_t ls_crc32c_sse42_block(uint32_t crc, const uint8_t *p,
                                                             const struct ls_crc32c_lane *lane) {
    const size_t bytes = lane->bytes;
    uint64_t c0 = crc, c1 = 0, c2 = 0;
    for (const uint8_t *end = p + bytes; p < end; p += LS_CRC32C_WORD) {
        c0 = _mm_crc32_u64(c0, ls_crc32c_load64(p));
        c1 = _mm_crc32_u64(c1, ls_crc32c_load64(p + bytes));
        c2 = _mm_crc32_u64(c2, ls_crc32c_load64(p + 2 * bytes));
    }
    return ls_crc32c_sse42_shift((uint32_t)c0, lane->shift_two) ^
           ls_crc32c_sse42_shift((uint32_t)c1, lane->shift_one) ^ (uint32_t)c2;
}

LS_CRC32C_TARGET_SSE42 static uint32_t ls_crc32c_sse42_raw(uint32_t crc, const uint8_t *p,
                                                           size_t n) {
    /* Align first, so that every word load of the lanes is aligned. */
    const size_t misalignment = (uintptr_t)p % LS_CRC32C_WORD;
    if (misalignment != 0) {
        const size_t head = LS_CRC32C_WORD - misalignment < n ? LS_CRC32C_WORD - misalignment : n;
        crc = ls_crc32c_sse42_single(crc, p, head);
        p += head;
        n -= head;
    }
    for (size_t i = 0; i < sizeof ls_crc32c_lanes / sizeof ls_crc32c_lanes[0]; i++) {
        const struct ls_crc32c_lane *lane = &ls_crc32c_lanes[i];
        const size_t block = LS_CRC32C_LANES_PER_BLOCK * lane->bytes;
        for (; n >= block; p += block, n -= block) {
            crc = ls_crc32c_sse42_block(crc, p, lane);
        }
    }
    return ls_crc32c_sse42_single(crc, p, n);
}

/* Three independent registers over three buffers: words side by side over the length they
 * share, then each buffer's rest on its own. */
LS_CRC32C_TARGET_SSE42 static void ls_crc32c_sse42_raw3(uint32_t crc[3], const uint8_t *const p[3],
                                                       const size_t n[3]) {
    size_t shared = n[0] < n[1] ? n[0] : n[1];
    if (n[2] < shared) shared = n[2];
    shared -= shared % LS_CRC32C_WORD;
    uint64_t c0 = crc[0], c1 = crc[1], c2 = crc[2];
    for (size_t k = 0; k < shared; k += LS_CRC32C_WORD) {
        c0 = _mm_crc32_u64(c0, ls_crc32c_load64(p[0] + k));
        c1 = _mm_crc32_u64(c1, ls_crc32c_load64(p[1] + k));
        c2 = _mm_crc32_u64(c2, ls_crc32c_load64(p[2] + k));
    }
    crc[0] = ls_crc32c_sse42_raw((uint32_t)c0, p[0] + shared, n[0] - shared);
    crc[1] = ls_crc32c_sse42_raw((uint32_t)c1, p[1] + shared, n[1] - shared);
    crc[2] = ls_crc32c_sse42_raw((uint32_t)c2, p[2] + shared, n[2] - shared);
}

#endif /* LS_CRC32C_HAVE_SSE42 */

/* ---- aarch64: ARMv8 CRC32 extension (a compile-time feature) -------------------- */

#ifdef LS_CRC32C_HAVE_ARMV8
static uint32_t ls_crc32c_armv8_raw(uint32_t crc, const uint8_t *p, size_t n) {
    for (; n >= LS_CRC32C_WORD; p += LS_CRC32C_WORD, n -= LS_CRC32C_WORD) {
        uint64_t word;
        memcpy(&word, p, sizeof word); /* little-endian, guarded above */
        crc = __crc32cd(crc, word);
    }
    for (; n > 0; p++, n--) {
        crc = __crc32cb(crc, *p);
    }
    return crc;
}
#endif

/* ---- Start-up and dispatch ------------------------------------------------------ */

typedef uint32_t (*ls_crc32c_raw_fn)(uint32_t crc, const uint8_t *p, size_t n);

static uint32_t ls_crc32c_resolve_raw(uint32_t crc, const uint8_t *p, size_t n);

/* The only global written after start-up begins: the resolver until the first
 * call has run ls_crc32c_init, then the chosen implementation, forever. */
static _Atomic(ls_crc32c_raw_fn) ls_crc32c_impl = ls_crc32c_resolve_raw;

static void ls_crc32c_tables_init(void) {
    for (uint32_t byte = 0; byte < LS_CRC32C_BYTE_VALUES; byte++) {
        uint32_t crc = byte;
        for (unsigned bit = 0; bit < CHAR_BIT; bit++) {
            crc = ls_crc32c_times_x(crc);
        }
        ls_crc32c_table[0][byte] = crc;
    }
    for (unsigned slice = 1; slice < LS_CRC32C_SLICES; slice++) {
        for (uint32_t byte = 0; byte < LS_CRC32C_BYTE_VALUES; byte++) {
            const uint32_t prev = ls_crc32c_table[slice - 1][byte];
            ls_crc32c_table[slice][byte] = ls_crc32c_portable_byte(prev, 0);
        }
    }
    /* x^(2^0) = x, then square. */
    ls_crc32c_pow2k[0] = ls_crc32c_times_x(LS_CRC32C_ONE);
    for (unsigned k = 1; k < LS_CRC32C_POW_ENTRIES; k++) {
        ls_crc32c_pow2k[k] = ls_crc32c_multiply(ls_crc32c_pow2k[k - 1], ls_crc32c_pow2k[k - 1]);
    }
}

static ls_crc32c_raw_fn ls_crc32c_choose(void) {
#if defined(LS_CRC32C_HAVE_SSE42)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul")) {
        for (size_t i = 0; i < sizeof ls_crc32c_lanes / sizeof ls_crc32c_lanes[0]; i++) {
            ls_crc32c_lane_init(&ls_crc32c_lanes[i]);
        }
        return ls_crc32c_sse42_raw;
    }
#elif defined(LS_CRC32C_HAVE_ARMV8)
    return ls_crc32c_armv8_raw;
#endif
    return ls_crc32c_portable_raw;
}

static void ls_crc32c_init(void) {
    ls_crc32c_tables_init();
    atomic_store_explicit(&ls_crc32c_impl, ls_crc32c_choose(), memory_order_release);
}

static void ls_crc32c_ensure_init(void) {
    (void)pthread_once(&ls_crc32c_once, ls_crc32c_init);
}

/* Initial value of ls_crc32c_impl: runs start-up once, then the chosen path. */
static uint32_t ls_crc32c_resolve_raw(uint32_t crc, const uint8_t *p, size_t n) {
    ls_crc32c_ensure_init();
    return atomic_load_explicit(&ls_crc32c_impl, memory_order_acquire)(crc, p, n);
}

/* ---- Public API ----------------------------------------------------------------- */

uint32_t ls_crc32c_extend(uint32_t crc, const void *data, size_t n) {
    assert(data != NULL || n == 0);
    if (n == 0) {
        return crc;
    }
    const ls_crc32c_raw_fn impl = atomic_load_explicit(&ls_crc32c_impl, memory_order_acquire);
    return ~impl(~crc, data, n);
}

void ls_crc32c_value3(const void *const data[3], const size_t n[3], uint32_t out[3]) {
    ls_crc32c_ensure_init();
#ifdef LS_CRC32C_HAVE_SSE42
    if (atomic_load_explicit(&ls_crc32c_impl, memory_order_acquire) == ls_crc32c_sse42_raw) {
        const uint8_t *const p[3] = {data[0], data[1], data[2]};
        uint32_t reg[3] = {~0u, ~0u, ~0u}; /* ~0: the conditioned start of an empty stream */
        ls_crc32c_sse42_raw3(reg, p, n);
        for (int i = 0; i < 3; i++) out[i] = ~reg[i];
        return;
    }
#endif
    for (int i = 0; i < 3; i++) out[i] = ls_crc32c_value(data[i], n[i]);
}

uint32_t ls_crc32c_extend_portable(uint32_t crc, const void *data, size_t n) {
    assert(data != NULL || n == 0);
    if (n == 0) {
        return crc;
    }
    ls_crc32c_ensure_init();
    return ~ls_crc32c_portable_raw(~crc, data, n);
}

uint32_t ls_crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b) {
    /* The ~ conditioning cancels out: CRC(A||B) = CRC(A) * x^(8 len_b) + CRC(B). */
    ls_crc32c_ensure_init();
    return ls_crc32c_multiply(crc_a, ls_crc32c_xpow(len_b, LS_CRC32C_LOG2_BITS_PER_BYTE)) ^ crc_b;
}

int ls_crc32c_is_hardware(void) {
    ls_crc32c_ensure_init();
    return atomic_load_explicit(&ls_crc32c_impl, memory_order_acquire) != ls_crc32c_portable_raw;
}
