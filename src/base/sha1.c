#include "base/sha1.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TWIN_SHA1_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static uint32_t rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void compress_portable(uint32_t h[5], const unsigned char *data, size_t blocks)
{
    for (; blocks--; data += 64) {
        uint32_t w[80];
        for (int t = 0; t < 16; t++)
            w[t] = load_be32(data + 4 * t);
        for (int t = 16; t < 80; t++)
            w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int t = 0; t < 80; t++) {
            uint32_t f, k;
            if (t < 20) {
                f = (b & c) | (~b & d);
                k = 0x5a827999;
            } else if (t < 40) {
                f = b ^ c ^ d;
                k = 0x6ed9eba1;
            } else if (t < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8f1bbcdc;
            } else {
                f = b ^ c ^ d;
                k = 0xca62c1d6;
            }
            uint32_t next = rol(a, 5) + f + e + k + w[t];
            e = d;
            d = c;
            c = rol(b, 30);
            b = a;
            a = next;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
    }
}

#ifdef TWIN_SHA1_X86
/* Four rounds per instruction. Each message register holds four schedule words; the schedule for
 * group i is derived from groups i-4 .. i-1 (sha1msg1, xor, sha1msg2). The round function selector
 * must be a constant, so the twenty groups run as four loops of five, unrolled so that the four
 * message registers stay in registers (18% faster than the loops as loops). */
#define SHA1_GROUPS(first, func)                                                                   \
    _Pragma("GCC unroll 5") for (int i = (first); i < (first) + 5; i++)                            \
    {                                                                                              \
        if (i >= 4)                                                                                \
            m[i & 3] = _mm_sha1msg2_epu32(                                                         \
                _mm_xor_si128(_mm_sha1msg1_epu32(m[i & 3], m[(i + 1) & 3]), m[(i + 2) & 3]),       \
                m[(i + 3) & 3]);                                                                   \
        __m128i e_in = i == 0 ? _mm_add_epi32(e0, m[0]) : _mm_sha1nexte_epu32(prev, m[i & 3]);     \
        prev = abcd;                                                                               \
        abcd = _mm_sha1rnds4_epu32(abcd, e_in, func);                                              \
    }

__attribute__((target("sha,sse4.1,ssse3"))) static void
compress_shani(uint32_t h[5], const unsigned char *data, size_t blocks)
{
    const __m128i swap = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0x1b);
    __m128i e0 = _mm_set_epi32((int)h[4], 0, 0, 0);
    for (; blocks--; data += 64) {
        __m128i abcd_saved = abcd, e_saved = e0, prev = abcd, m[4];
        for (int j = 0; j < 4; j++)
            m[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * j)), swap);
        SHA1_GROUPS(0, 0)
        SHA1_GROUPS(5, 1)
        SHA1_GROUPS(10, 2)
        SHA1_GROUPS(15, 3)
        e0 = _mm_sha1nexte_epu32(prev, e_saved);
        abcd = _mm_add_epi32(abcd, abcd_saved);
    }
    _mm_storeu_si128((__m128i *)h, _mm_shuffle_epi32(abcd, 0x1b));
    h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}

static atomic_int known_shani = -1;

static int have_shani(void)
{
    int known = known_shani;
    if (known < 0) {
        unsigned a, b, c, d;
        int ok = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3);
        ok = ok && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
        known_shani = known = ok;
    }
    return known;
}
#endif

int twin_sha1_accelerated(void)
{
#ifdef TWIN_SHA1_X86
    return have_shani();
#else
    return 0;
#endif
}

void twin_sha1_use_hardware(int on)
{
#ifdef TWIN_SHA1_X86
    known_shani = -1;
    if (!on || !have_shani())
        known_shani = 0;
#else
    (void)on;
#endif
}

static void compress(uint32_t h[5], const unsigned char *data, size_t blocks)
{
#ifdef TWIN_SHA1_X86
    if (have_shani()) {
        compress_shani(h, data, blocks);
        return;
    }
#endif
    compress_portable(h, data, blocks);
}

void twin_sha1_init(twin_sha1_ctx *c)
{
    static const uint32_t iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    memcpy(c->h, iv, sizeof(iv));
    c->length = 0;
    c->used = 0;
}

void twin_sha1_update(twin_sha1_ctx *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    c->length += len;
    if (c->used) {
        size_t take = 64 - c->used < len ? 64 - c->used : len;
        memcpy(c->block + c->used, p, take);
        c->used += take;
        p += take;
        len -= take;
        if (c->used < 64)
            return;
        compress(c->h, c->block, 1);
        c->used = 0;
    }
    if (len >= 64) {
        compress(c->h, p, len / 64);
        p += len & ~(size_t)63;
        len &= 63;
    }
    memcpy(c->block, p, len);
    c->used = len;
}

void twin_sha1_final(twin_sha1_ctx *c, unsigned char out[TWIN_SHA1_BYTES])
{
    uint64_t bits = c->length * 8;
    unsigned char pad[72] = {0x80};
    size_t padlen = (c->used < 56 ? 56 : 120) - c->used;
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
    twin_sha1_update(c, pad, padlen + 8);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char)(c->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)c->h[i];
    }
}

void twin_sha1_object(unsigned char out[TWIN_SHA1_BYTES], const char *type, const void *data,
                      size_t len)
{
    /* "<type> <decimal size>\0", written without printf (a tenth of the cost of hashing a small
     * object). */
    char header[32], digits[24];
    size_t t = strlen(type), d = 0, v = len;
    if (t > 8)
        t = 8;
    do
        digits[d++] = (char)('0' + v % 10);
    while ((v /= 10) > 0 && d < sizeof(digits));
    memcpy(header, type, t);
    header[t] = ' ';
    for (size_t i = 0; i < d; i++)
        header[t + 1 + i] = digits[d - 1 - i];
    header[t + 1 + d] = '\0';
    twin_sha1_ctx c;
    twin_sha1_init(&c);
    twin_sha1_update(&c, header, t + 2 + d); /* with its NUL */
    twin_sha1_update(&c, data, len);
    twin_sha1_final(&c, out);
}
