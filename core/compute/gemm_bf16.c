/* gemm_bf16.c — see gemm_bf16.h. Written for this project from Intel's descriptions of
 * vdpbf16ps and of the AMX tile instructions (Intel SDM; tile configuration "palette 1") and
 * the bf16 format (the top 16 bits of a float32).
 *
 * The packed weight panel (one per thread, PACK): for 16-column group g (4 per panel),
 * k pair p and column c: bp[((g·kc/2 + p)·16 + c)·2 + e] = bf16(w[n0 + 16g + c, k0 + 2p + e]).
 * Rows p of a group are exactly an AMX B tile (16 pairs × 64 bytes) and, one at a time, a
 * zmm of 16 columns' pairs for vdpbf16ps.
 * The x chunk (XCHUNK, on the calling thread): bf16, rows and k padded with zeros to
 * multiples of MB and 32, so that every kernel works on whole blocks; stored as kp/KC column
 * blocks [mp, kc] one after the other, each in MB-row blocks in AMX A-tile order (a_index):
 * an x tile is one contiguous KiB (rows K·2 bytes apart put every row of a tile on another
 * 4 KiB page at K = 12288, and the TLB missed; kc·2 apart they hit 4 sets of L1).
 * The output block (CBUF, per thread): [mp, NC] float32 in 16 × 16 tiles, each one contiguous
 * KiB (c_index), accumulated over the k blocks of a panel; in the last k block each group of
 * RG rows is written to y's valid rows and columns (with the bias, if any) as soon as it is
 * done, while it is still in L2. Rows of a C tile 1 KiB apart (the [mp, NC] row layout) fall
 * into 4 sets of L1: the tile store and reload at the end of every k block ran at ~60% of the
 * same loop with contiguous tiles (1123 against 1845 GFLOP per CPU-second, one thread).
 *
 * Legend: M, K, N as in gemm_bf16.h; kp = K rounded up to 32; NC = weight rows per panel,
 * NP = per kernel call;
 * KC = k values per packed block (kc: this block's, ≤ KC); MB = x rows per kernel block;
 * p = k pair, g = 16-column group, c = column inside a group. */
#include "gemm_bf16.h"

#include "cpu_features.h"
#include "convert.h"
#include "pool.h"

#include <string.h>

#define NP 32  /* weight rows (output columns) per kernel call: 2 groups of 16 */
#define NC 256 /* weight rows per packed panel (the threads split N in panels) */
/* KC: k per packed block: 1 MiB per panel, 128 KiB per NP (L2). Each block call keeps its
 * C tiles over kc/32 steps, then stores and reloads them: at 512 that round trip (4 KiB of
 * float32 C rows 1 KiB apart per 64 tdpbf16ps) held AMX to ~460 GFLOP per CPU-second on
 * 1536 × 3072 × 12288; 2048 gave ~580 (docs/PERFORMANCE.md). */
#define KC 2048
/* x rows per group inside a k block: the group's x (RG × KC bf16, 512 KiB) and its C rows
 * (RG × NC float32, 128 KiB) stay in L2 while every NP part of the panel runs over them. */
#define RG               128
#define MB               32   /* x rows per kernel block: 2 AMX A tiles, 4 AVX-512 row groups */
#define X_CHUNK_MAX_ROWS 1024 /* a thread's output block [rows, NC] within 1 MiB */
/* SCRATCH_ROW: one float32 row of KC, then 16 bf16 rows of KC (pack_panel_fast's sources) */
#define ROW_SCRATCH_BYTES ((size_t)KC * sizeof(float) + (size_t)16 * KC * 2)

#if defined(__x86_64__) && defined(__GNUC__)
#define GB_X86 1
#include <immintrin.h>
#define GB_BF16   __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
#define GB_AMX    __attribute__((target("amx-tile,amx-bf16,avx512f")))
#define GB_AVX512 __attribute__((target("avx512f,avx512bw")))
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define GB_SIMD __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GB_SIMD
#endif

/* The B operand (the "weights", one row per output column): a checkpoint tensor [N, K], or
 * float32 rows [N, K] ld apart (kn FALSE), or float32 [K, N] ld apart read transposed (kn
 * TRUE: attention's V). */
typedef struct {
    const StTensor *w;
    const float *f;
    int ld;
    gboolean kn;
} Bsrc;

typedef struct {
    float *y;          /* [M, N] (gemm_bf16_linear) */
    const float *bias; /* [N] or NULL (gemm_bf16_linear) */
    const guint16 *xb; /* this chunk of x in bf16, in column blocks [mp, kc] (a_index) */
    Bsrc b;
    int m0, mc, mp; /* chunk: first row, rows, rows padded to MB */
    int K, kp, N;
    GemmBf16Path path;
} Bf16Job;

/* Where x value (r, k) of an MB-row block lives in the packed chunk (r < MB, k < kc, relative
 * to the block): in AMX A-tile order, 16 rows × 32 values (1 KiB) contiguous per step of 32 k,
 * so that every tile load reads one contiguous KiB (rows kc·2 bytes apart hit only 4 sets of
 * L1 and missed). The kernels take the block's start and kc. */
static inline size_t a_index(int r, int k, int kc)
{
    return (size_t)(r / 16) * 16 * kc + (size_t)(k / 32) * 512 + (size_t)(r % 16) * 32 + k % 32;
}

/* Where output (r, col) of a panel lives in the C block: tile (r/16, col/16) of NC/16 per row
 * of tiles, 16 × 16 float32 (1 KiB) contiguous. A block's tiles: +256 floats for the next 16
 * columns, +16·NC for the next 16 rows. */
static inline size_t c_index(int r, int col)
{
    return ((size_t)(r / 16) * (NC / 16) + (size_t)(col / 16)) * 256 + (size_t)(r % 16) * 16 +
           (size_t)(col % 16);
}

/* Where a panel's results go: y = s (+ bias[n]) for a linear, y = alpha·s or y += alpha·s for
 * a tile (s: the float32 sum of the products). */
typedef struct {
    float *y;          /* the panel's first column of row 0; rows ld apart */
    int ld;            /* y's row stride */
    const float *bias; /* the panel's first bias, or NULL (linear only) */
    float alpha;       /* tile only */
    gboolean tile, accumulate;
} Out;

/* ------------------------------------------------------------------------------------- */
/* Per-thread scratch                                                                    */

typedef enum {
    SCRATCH_XCHUNK,
    SCRATCH_PACK,
    SCRATCH_CBUF,
    SCRATCH_ROW,
    SCRATCH_TILE_X,
    SCRATCH_TILE_B,
    N_SCRATCH
} Scratch;

static void scratch_free(gpointer p)
{
    g_free(p);
}

/* A buffer of at least `bytes` for this thread and purpose, kept for the thread's life. */
static void *thread_scratch(Scratch slot, size_t bytes)
{
    static GPrivate keys[N_SCRATCH] = {G_PRIVATE_INIT(scratch_free), G_PRIVATE_INIT(scratch_free),
                                       G_PRIVATE_INIT(scratch_free), G_PRIVATE_INIT(scratch_free),
                                       G_PRIVATE_INIT(scratch_free), G_PRIVATE_INIT(scratch_free)};
    static _Thread_local size_t cap[N_SCRATCH];
    void *buf = g_private_get(&keys[slot]);
    if (bytes > cap[slot]) {
        g_free(buf); /* (g_private_replace would free it too, but keep the order explicit) */
        buf = g_malloc(bytes);
        g_private_set(&keys[slot], buf);
        cap[slot] = bytes;
    }
    return buf;
}

/* ------------------------------------------------------------------------------------- */
/* Rounding and packing                                                                  */

GB_SIMD void gemm_bf16_round(guint16 *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        guint32 u;
        memcpy(&u, src + i, sizeof u);
        /* + 0x7fff + the kept LSB: ties go to the even one; overflow gives ±inf */
        guint32 r = (u + 0x7fffu + (u >> 16 & 1)) >> 16;
        guint32 nan = u >> 16 | 0x40; /* NaN: keep it, quiet */
        dst[i] = (guint16)((u & 0x7fffffffu) > 0x7f800000u ? nan : r);
    }
}

#ifdef GB_X86
/* gemm_bf16_round with vcvtneps2bf16, 16 values at a time: the same bits for every normal
 * value, NaN and infinity; denormals become zero, as every kernel path reads them anyway
 * (AMX and vdpbf16ps treat denormal inputs as zero). */
GB_BF16 static void round_avx512bf16(guint16 *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(dst + i, m,
                                 (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i)));
    }
}
#endif

/* The operands' rounding: vcvtneps2bf16 where the CPU has it (every native path does). */
static void round_operand(guint16 *dst, const float *src, size_t n)
{
#ifdef GB_X86
    static gsize has; /* 1: no, 2: yes */
    if (g_once_init_enter(&has)) g_once_init_leave(&has, cpu_has(CPU_AVX512_BF16) ? 2 : 1);
    if (has == 2) {
        round_avx512bf16(dst, src, n);
        return;
    }
#endif
    gemm_bf16_round(dst, src, n);
}

/* Row n of B, its kc values from k0, as bf16 into `dst` (zeros past K). */
static void b_row_bf16(guint16 *dst, const Bsrc *b, int K, int n, int k0, int kc, float *row)
{
    const int kv = MIN(kc, K - k0);
    const StTensor *w = b->w;
    if (w && w->dtype == ST_BF16 && w->scale == 0.0f)
        memcpy(dst, (const guint8 *)w->data + ((size_t)n * K + k0) * 2, (size_t)kv * 2);
    else if (w) { /* exact float32 first (blocks of quantised types start at k0: a multiple of 512)
                   */
        st_to_f32(row, w, (int64_t)n * K + k0, kv);
        round_operand(dst, row, (size_t)kv);
    } else if (!b->kn)
        round_operand(dst, b->f + (size_t)n * b->ld + k0, (size_t)kv);
    else {
        for (int i = 0; i < kv; i++) row[i] = b->f[(size_t)(k0 + i) * b->ld + n];
        round_operand(dst, row, (size_t)kv);
    }
    memset(dst + kv, 0, (size_t)(kc - kv) * 2);
}

/* The panel of weight rows n0 .. n0+nc-1 (zeros up to the next multiple of NP), k0 ..
 * k0+kc-1, in the layout above. */
static void pack_panel(guint16 *bp, const Bf16Job *j, int n0, int nc, int k0, int kc, guint16 *tmp,
                       float *row)
{
    const int pairs = kc / 2;
    for (int c = 0; c < (nc + NP - 1) / NP * NP; c++) {
        guint32 *col = (guint32 *)(bp + (size_t)(c / 16) * pairs * 32) + (c % 16);
        if (n0 + c >= j->N) {
            for (int p = 0; p < pairs; p++) col[(size_t)p * 16] = 0;
            continue;
        }
        const StTensor *w = j->b.w;
        const guint8 *src = (const guint8 *)tmp;
        if (w && w->dtype == ST_BF16 && w->scale == 0.0f && j->K - k0 >= kc)
            src = (const guint8 *)w->data + ((size_t)(n0 + c) * j->K + k0) * 2; /* as stored */
        else
            b_row_bf16(tmp, &j->b, j->K, n0 + c, k0, kc, row);
        for (int p = 0; p < pairs; p++) memcpy(col + (size_t)p * 16, src + 4 * (size_t)p, 4);
    }
}

#ifdef GB_X86
/* 16 rows of 16 dwords (a weight row's 16 k pairs each) transposed in registers: out[p] holds
 * pair p of the 16 rows, i.e. one row of an AMX B tile / one vdpbf16ps operand. */
GB_AVX512 static void transpose_16x16(__m512i r[16])
{
    __m512i a[16], b[16];
    for (int i = 0; i < 8; i++) { /* within 128-bit lanes: pairs of rows */
        a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* b[4i + j], lane L: rows 4i..4i+3 at dword 4L + j */
        b[4 * i] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
        b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
    }
    for (int j = 0; j < 4; j++) { /* gather lane L of b[j], b[4+j], b[8+j], b[12+j] */
        __m512i c0 = _mm512_shuffle_i32x4(b[j], b[4 + j], 0x88);
        __m512i c1 = _mm512_shuffle_i32x4(b[j], b[4 + j], 0xdd);
        __m512i d0 = _mm512_shuffle_i32x4(b[8 + j], b[12 + j], 0x88);
        __m512i d1 = _mm512_shuffle_i32x4(b[8 + j], b[12 + j], 0xdd);
        r[j] = _mm512_shuffle_i32x4(c0, d0, 0x88);
        r[4 + j] = _mm512_shuffle_i32x4(c1, d1, 0x88);
        r[8 + j] = _mm512_shuffle_i32x4(c0, d0, 0xdd);
        r[12 + j] = _mm512_shuffle_i32x4(c1, d1, 0xdd);
    }
}

/* One 16-column group of the panel from 16 bf16 rows (NULL: a column past N, zeros), each
 * `valid` values long from its start (zeros after, up to kc): 32 k (one 64-byte row piece)
 * per transpose, stored as 16 consecutive pair rows of the group. */
GB_AVX512 static void pack_group_avx512(guint16 *grp, const guint16 *const src[16], int valid,
                                        int kc)
{
    for (int k = 0; k < kc; k += 32) {
        const int v = CLAMP(valid - k, 0, 32);
        const __mmask32 m = v == 32 ? 0xffffffffu : (__mmask32)((1u << v) - 1);
        __m512i r[16];
        for (int c = 0; c < 16; c++)
            r[c] = src[c] && v ? _mm512_maskz_loadu_epi16(m, src[c] + k) : _mm512_setzero_si512();
        transpose_16x16(r);
        for (int p = 0; p < 16; p++) _mm512_storeu_si512(grp + (size_t)(k / 2 + p) * 32, r[p]);
    }
}

/* pack_panel for the native paths: bf16 weights read as stored (other types converted to
 * bf16 rows first, 16 at a time, into `rows16` [16, KC]), transposed 16 × 16 pairs in
 * registers instead of one 4-byte store per pair; [K, N] operands (attention's V) rounded
 * two k rows at a time along n and interleaved, instead of gathered down a column. The same
 * bits as pack_panel (both round with round_operand). */
static void pack_panel_fast(guint16 *bp, const Bf16Job *j, int n0, int nc, int k0, int kc,
                            guint16 *rows16, float *row)
{
    const int pairs = kc / 2, cols = (nc + NP - 1) / NP * NP, kv = MIN(kc, j->K - k0);
    if (!j->b.w && j->b.kn) {
        guint16 *lo = rows16, *hi = rows16 + NC;
        const int nv = MIN(cols, j->N - n0);
        for (int p = 0; p < pairs; p++) {
            const int k = k0 + 2 * p;
            for (int e = 0; e < 2; e++) {
                guint16 *dst = e ? hi : lo;
                if (k + e < j->K)
                    round_operand(dst, j->b.f + (size_t)(k + e) * j->b.ld + n0, (size_t)nv);
                else
                    memset(dst, 0, (size_t)nv * 2);
                memset(dst + nv, 0, (size_t)(cols - nv) * 2);
            }
            for (int c = 0; c < cols; c++) {
                guint32 v = (guint32)lo[c] | (guint32)hi[c] << 16;
                memcpy(bp + (size_t)(c / 16) * pairs * 32 + (size_t)p * 32 + (c % 16) * 2, &v, 4);
            }
        }
        return;
    }
    const StTensor *w = j->b.w;
    const gboolean as_stored = w && w->dtype == ST_BF16 && w->scale == 0.0f;
    for (int g = 0; g < cols / 16; g++) {
        const guint16 *src[16];
        for (int c = 0; c < 16; c++) {
            const int n = n0 + 16 * g + c;
            if (n >= j->N)
                src[c] = NULL;
            else if (as_stored)
                src[c] = (const guint16 *)w->data + (size_t)n * j->K + k0;
            else {
                b_row_bf16(rows16 + (size_t)c * KC, &j->b, j->K, n, k0, kc, row);
                src[c] = rows16 + (size_t)c * KC;
            }
        }
        pack_group_avx512(bp + (size_t)g * pairs * 32, src, kv, kc);
    }
}
#endif

/* ------------------------------------------------------------------------------------- */
/* Kernels: c[MB, NP] (+)= a[MB, kc] · panelᵀ; a in tile order (a_index), c in C tiles.       */

/* Plain C: products exact in float32 (bf16 × bf16), summed pair by pair along k. */
static void block_portable(const guint16 *a, int lda, const guint16 *bp, int kc, float *c,
                           gboolean first)
{
    const int pairs = kc / 2;
    for (int r = 0; r < MB; r++)
        for (int col = 0; col < NP; col++) {
            const guint16 *b = bp + (size_t)(col / 16) * pairs * 32 + (col % 16) * 2;
            float s = first ? 0.0f : c[c_index(r, col)];
            for (int p = 0; p < pairs; p++) {
                const guint16 *ap = a + a_index(r, 2 * p, lda);
                guint32 a0 = (guint32)ap[0] << 16, a1 = (guint32)ap[1] << 16;
                guint32 b0 = (guint32)b[(size_t)p * 32] << 16,
                        b1 = (guint32)b[(size_t)p * 32 + 1] << 16;
                float fa0, fa1, fb0, fb1;
                memcpy(&fa0, &a0, 4), memcpy(&fa1, &a1, 4);
                memcpy(&fb0, &b0, 4), memcpy(&fb1, &b1, 4);
                s += fa0 * fb0;
                s += fa1 * fb1;
            }
            c[c_index(r, col)] = s;
        }
}

#ifdef GB_X86

/* 8 rows × 32 columns (the two groups) per pass: 16 zmm accumulators, the x pair of each
 * row broadcast into vdpbf16ps. */
GB_BF16 static void block_avx512bf16(const guint16 *a, int lda, const guint16 *bp, int kc, float *c,
                                     gboolean first)
{
    const guint16 *b0 = bp, *b1 = bp + (size_t)kc / 2 * 32;
    for (int r0 = 0; r0 < MB; r0 += 8) {
        __m512 acc[8][2];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
                acc[r][h] =
                    first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + c_index(r0 + r, 16 * h));
        for (int p = 0; p < kc / 2; p++) {
            __m512bh w0 = (__m512bh)_mm512_loadu_si512(b0 + (size_t)p * 32);
            __m512bh w1 = (__m512bh)_mm512_loadu_si512(b1 + (size_t)p * 32);
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++) {
                gint32 pair;
                memcpy(&pair, a + a_index(r0 + r, 2 * p, lda), 4);
                __m512bh xv = (__m512bh)_mm512_set1_epi32(pair);
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], xv, w0);
                acc[r][1] = _mm512_dpbf16_ps(acc[r][1], xv, w1);
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) _mm512_storeu_ps(c + c_index(r0 + r, 16 * h), acc[r][h]);
    }
}

/* AMX tile configuration (palette 1): tiles 0-3 the float32 C blocks, 4-5 the x (A) tiles,
 * 6-7 the weight (B) tiles; every tile 16 rows of 64 bytes. */
typedef struct {
    guint8 palette, start_row, reserved[14];
    guint16 colsb[16];
    guint8 rows[16];
} TileConfig;

GB_AMX static void amx_begin(void)
{
    /* static: GCC's _tile_loadconfig names only the first 8 bytes as its memory input, so the
     * stores into a local struct could be dropped as dead */
    static const TileConfig cfg = {
        .palette = 1,
        .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
        .rows = {16, 16, 16, 16, 16, 16, 16, 16},
    };
    _tile_loadconfig(&cfg);
}

GB_AMX static void amx_end(void)
{
    _tile_release();
}

/* 32 rows × 32 columns in 4 C tiles (each a contiguous KiB: c_index); per step of 32 k two x
 * tiles and two weight tiles, four tdpbf16ps (each loaded tile used twice: the most 8 tile
 * registers allow). */
GB_AMX static void block_amx(const guint16 *a, int lda, const guint16 *bp, int kc, float *c,
                             gboolean first)
{
    float *c0 = c, *c1 = c + 16 * NC;
    if (first) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    } else {
        _tile_loadd(0, c0, 64);
        _tile_loadd(1, c0 + 256, 64);
        _tile_loadd(2, c1, 64);
        _tile_loadd(3, c1 + 256, 64);
    }
    const guint16 *b0 = bp, *b1 = bp + (size_t)kc / 2 * 32;
    for (int k = 0; k < kc; k += 32) {
        /* (each product issued as soon as its operands are loaded) */
        _tile_loadd(4, a + (size_t)k * 16, 64);
        _tile_loadd(6, b0 + (size_t)k * 16, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_loadd(7, b1 + (size_t)k * 16, 64);
        _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(5, a + (size_t)16 * lda + (size_t)k * 16, 64);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c0, 64);
    _tile_stored(1, c0 + 256, 64);
    _tile_stored(2, c1, 64);
    _tile_stored(3, c1 + 256, 64);
}

#endif /* GB_X86 */

/* ------------------------------------------------------------------------------------- */
/* Driver                                                                                */

static void block(GemmBf16Path path, const guint16 *a, int lda, const guint16 *bp, int kc, float *c,
                  gboolean first)
{
    switch (path) {
#ifdef GB_X86
    case GEMM_BF16_AMX:
        block_amx(a, lda, bp, kc, c, first);
        return;
    case GEMM_BF16_AVX512BF16:
        block_avx512bf16(a, lda, bp, kc, c, first);
        return;
#endif
    default:
        block_portable(a, lda, bp, kc, c, first);
    }
}

/* Rows [r0, r1) of the C block, its first nc columns, to o (Out): 16 columns (one tile row)
 * at a time. The same float32 operations as a separate pass over y would do. */
GB_SIMD static void write_rows(const Out *o, const float *cb, int r0, int r1, int nc)
{
    const float alpha = o->alpha, *bias = o->bias;
    for (int r = r0; r < r1; r++)
        for (int c0 = 0; c0 < nc; c0 += 16) {
            const float *s = cb + c_index(r, c0);
            float *y = o->y + (size_t)r * o->ld + c0;
            const int n = MIN(16, nc - c0);
            if (o->tile && o->accumulate)
                for (int i = 0; i < n; i++) y[i] += alpha * s[i];
            else if (o->tile)
                for (int i = 0; i < n; i++) y[i] = alpha * s[i];
            else if (bias)
                for (int i = 0; i < n; i++) y[i] = s[i] + bias[c0 + i];
            else
                memcpy(y, s, (size_t)n * sizeof(float));
        }
}

/* The panel's k block k0 .. k0+kc-1 packed into bp (the layout above) by the path's packer. */
static void pack_block(guint16 *bp, const Bf16Job *j, int n0, int nc, int k0, int kc, guint16 *tmp,
                       float *row)
{
#ifdef GB_X86
    if (j->path != GEMM_BF16_PORTABLE) { /* (the native paths imply AVX-512 F + BW) */
        pack_panel_fast(bp, j, n0, nc, k0, kc, tmp, row);
        return;
    }
#endif
    pack_panel(bp, j, n0, nc, k0, kc, tmp, row);
}

/* The chunk's x · the panel of B rows n0 .. n0+nc-1 into the C block cb, then to o: KC values
 * of k at a time, packed into bp here or, when `packed` is not NULL, read from it (the
 * panel's blocks one after the other: gemm_bf16_pack_b); each NP-column part of the panel (in
 * L1) runs against every MB-row x block of a group of RG rows (from L2); in the last k block
 * each group is written out once done. */
static void panel_compute(const Bf16Job *j, int n0, int nc, guint16 *bp, float *cb, guint16 *tmp,
                          float *row, const Out *o, const guint16 *packed)
{
    const int parts = (nc + NP - 1) / NP;
    for (int k0 = 0; k0 < j->kp; k0 += KC) {
        const int kc = MIN(KC, j->kp - k0);
        const guint16 *bk = packed ? packed + (size_t)k0 * parts * NP : bp;
        if (!packed) pack_block(bp, j, n0, nc, k0, kc, tmp, row);
        for (int g0 = 0; g0 < j->mp; g0 += RG) {
            for (int q = 0; q < parts; q++) /* (this part's weights stay in L1 over the rows) */
                for (int r0 = g0; r0 < MIN(g0 + RG, j->mp); r0 += MB)
                    block(j->path, j->xb + (size_t)k0 * j->mp + (size_t)r0 * kc, kc,
                          bk + (size_t)q * NP * kc, kc, cb + c_index(r0, q * NP), k0 == 0);
            if (k0 + kc >= j->kp) write_rows(o, cb, g0, MIN(g0 + RG, j->mc), nc);
        }
    }
}

/* Panels [begin, end) of NC weight rows, each computed and its valid part written to y. */
static void panel_worker(void *ctx, size_t begin, size_t end)
{
    const Bf16Job *j = ctx;
    guint16 *bp = thread_scratch(SCRATCH_PACK, (size_t)NC * KC * 2);
    float *cb = thread_scratch(SCRATCH_CBUF, (size_t)j->mp * NC * sizeof(float));
    float *row = thread_scratch(SCRATCH_ROW, ROW_SCRATCH_BYTES);
    guint16 *tmp = (guint16 *)(row + KC);
#ifdef GB_X86
    if (j->path == GEMM_BF16_AMX) amx_begin();
#endif
    for (size_t panel = begin; panel < end; panel++) {
        const int n0 = (int)panel * NC, nc = MIN(NC, j->N - n0);
        const Out o = {j->y + (size_t)j->m0 * j->N + n0,
                       j->N,
                       j->bias ? j->bias + n0 : NULL,
                       1.0f,
                       FALSE,
                       FALSE};
        panel_compute(j, n0, nc, bp, cb, tmp, row, &o, NULL);
    }
#ifdef GB_X86
    if (j->path == GEMM_BF16_AMX) amx_end();
#endif
}

typedef struct {
    const float *x; /* first row of the chunk */
    guint16 *xb;
    int lda, mc, mp, K, kp;
} RoundJob;

/* Rows [begin, end) of the padded chunk: x rounded into each column block in tile order, zeros
 * past K and past the chunk's rows. */
static void round_rows(void *ctx, size_t begin, size_t end)
{
    const RoundJob *r = ctx;
    for (size_t m = begin; m < end; m++)
        for (int k0 = 0; k0 < r->kp; k0 += KC) {
            const int kc = MIN(KC, r->kp - k0);
            guint16 *blk = r->xb + (size_t)k0 * r->mp + m / MB * MB * (size_t)kc;
            const float *src = r->x + m * r->lda + k0;
            const int valid = m < (size_t)r->mc ? CLAMP(r->K - k0, 0, kc) : 0;
            for (int k = 0; k < kc; k += 32) {
                guint16 *dst = blk + a_index((int)(m % MB), k, kc);
                const int v = CLAMP(valid - k, 0, 32);
                if (v) round_operand(dst, src + k, (size_t)v);
                if (v < 32) memset(dst + v, 0, (size_t)(32 - v) * 2);
            }
        }
}

/* x rows per chunk for K: the chunk's bf16 within GEMM_BF16_X_CHUNK_BYTES, a multiple of MB. */
static int chunk_rows(int kp)
{
    size_t rows = GEMM_BF16_X_CHUNK_BYTES / ((size_t)kp * 2) / MB * MB;
    return (int)CLAMP(rows, (size_t)MB, (size_t)X_CHUNK_MAX_ROWS);
}

size_t gemm_bf16_scratch_bytes(int K)
{
    const int kp = (MAX(K, 1) + 31) / 32 * 32, rows = chunk_rows(kp);
    size_t per_thread = (size_t)NC * KC * 2 + (size_t)rows * NC * sizeof(float) + ROW_SCRATCH_BYTES;
    return (size_t)rows * kp * 2 + (size_t)pool_n_threads() * per_thread;
}

void gemm_bf16_linear(float *y, const float *x, const StTensor *w, int M, int K, int N)
{
    gemm_bf16_linear_bias(y, x, w, NULL, M, K, N);
}

void gemm_bf16_linear_bias(float *y, const float *x, const StTensor *w, const float *bias, int M,
                           int K, int N)
{
    g_assert(w->numel == (int64_t)N * K && K > 0);
    if (M == 0 || N == 0) return;
    const int kp = (K + 31) / 32 * 32, rows = chunk_rows(kp);
    guint16 *xb =
        thread_scratch(SCRATCH_XCHUNK, (size_t)MIN(rows, (M + MB - 1) / MB * MB) * kp * 2);
    for (int m0 = 0; m0 < M; m0 += rows) {
        const int mc = MIN(rows, M - m0), mp = (mc + MB - 1) / MB * MB;
        RoundJob r = {x + (size_t)m0 * K, xb, K, mc, mp, K, kp};
        pool_parallel_for((size_t)mp, round_rows, &r);
        Bf16Job j = {y, bias, xb, {w, NULL, 0, FALSE}, m0, mc, mp, K, kp, N, gemm_bf16_path()};
        pool_parallel_for(((size_t)N + NC - 1) / NC, panel_worker, &j);
    }
}

size_t gemm_bf16_pack_a_bytes(int M, int K)
{
    return (size_t)((MAX(M, 1) + MB - 1) / MB * MB) * (size_t)((MAX(K, 1) + 31) / 32 * 32) * 2;
}

void gemm_bf16_pack_a(guint16 *dst, const float *a, int lda, int M, int K)
{
    const int kp = (MAX(K, 1) + 31) / 32 * 32, mp = (MAX(M, 1) + MB - 1) / MB * MB;
    RoundJob r = {a, dst, lda, M, mp, K, kp};
    round_rows(&r, 0, (size_t)mp);
}

size_t gemm_bf16_pack_b_bytes(int N, int K)
{
    return (size_t)((MAX(N, 1) + NP - 1) / NP * NP) * (size_t)((MAX(K, 1) + 31) / 32 * 32) * 2;
}

/* Panel p (NC columns from n0 = p·NC) at dst + n0·kp; its k block k0 at + k0·cols (cols: the
 * panel's columns rounded up to NP), the layout panel_compute reads. */
void gemm_bf16_pack_b(guint16 *dst, const float *b, int ldb, gboolean b_kn, int N, int K)
{
    const int kp = (MAX(K, 1) + 31) / 32 * 32;
    Bf16Job j = {.b = {NULL, b, ldb, b_kn}, .K = K, .kp = kp, .N = N, .path = gemm_bf16_path()};
    float *row = thread_scratch(SCRATCH_ROW, ROW_SCRATCH_BYTES);
    guint16 *tmp = (guint16 *)(row + KC);
    for (int n0 = 0; n0 < N; n0 += NC) {
        const int nc = MIN(NC, N - n0), cols = (nc + NP - 1) / NP * NP;
        for (int k0 = 0; k0 < kp; k0 += KC)
            pack_block(dst + (size_t)n0 * kp + (size_t)k0 * cols, &j, n0, nc, k0, MIN(KC, kp - k0),
                       tmp, row);
    }
}

void gemm_bf16_tile_packed(float *c, int ldc, const guint16 *a, const guint16 *b, int M, int K,
                           int N, float alpha, gboolean accumulate)
{
    if (M <= 0 || N <= 0) return;
    const int kp = (MAX(K, 1) + 31) / 32 * 32, mp = (M + MB - 1) / MB * MB;
    Bf16Job j = {.xb = a, .mc = M, .mp = mp, .K = K, .kp = kp, .N = N, .path = gemm_bf16_path()};
    float *cb = thread_scratch(SCRATCH_CBUF, (size_t)mp * NC * sizeof(float));
#ifdef GB_X86
    if (j.path == GEMM_BF16_AMX) amx_begin();
#endif
    for (int n0 = 0; n0 < N; n0 += NC) {
        const Out o = {c + n0, ldc, NULL, alpha, TRUE, accumulate};
        panel_compute(&j, n0, MIN(NC, N - n0), NULL, cb, NULL, NULL, &o, b + (size_t)n0 * kp);
    }
#ifdef GB_X86
    if (j.path == GEMM_BF16_AMX) amx_end();
#endif
}

void gemm_bf16_tile(float *c, int ldc, const float *a, int lda, const float *b, int ldb,
                    gboolean b_kn, int M, int K, int N, float alpha, gboolean accumulate)
{
    if (M <= 0 || N <= 0) return;
    guint16 *ap = thread_scratch(SCRATCH_TILE_X, gemm_bf16_pack_a_bytes(M, K));
    guint16 *bp = thread_scratch(SCRATCH_TILE_B, gemm_bf16_pack_b_bytes(N, K));
    gemm_bf16_pack_a(ap, a, lda, M, K);
    gemm_bf16_pack_b(bp, b, ldb, b_kn, N, K);
    gemm_bf16_tile_packed(c, ldc, ap, bp, M, K, N, alpha, accumulate);
}

/* ------------------------------------------------------------------------------------- */
/* Path selection                                                                        */

#ifdef GB_X86
#define GB_BUILT 0
#else
#define GB_BUILT CPU_NOT_BUILT
#endif

/* In GemmBf16Path order, ranked for detection (cpu_features.h). */
static const CpuPath paths[] = {
    [GEMM_BF16_AUTO] = {"auto", 0, 0},
    [GEMM_BF16_PORTABLE] = {"portable", 0, 1},
    [GEMM_BF16_AVX512BF16] = {"avx512-bf16", GB_BUILT | CPU_BIT(CPU_AVX512_BF16), 2},
    [GEMM_BF16_AMX] = {"amx-bf16", GB_BUILT | CPU_BIT(CPU_AMX_BF16), 3},
};
static CpuPathChoice choice = CPU_PATH_CHOICE(paths);

gboolean gemm_bf16_set_path(GemmBf16Path p)
{
    return cpu_path_force(&choice, (int)p);
}

GemmBf16Path gemm_bf16_path(void)
{
    return (GemmBf16Path)cpu_path_current(&choice);
}

gboolean gemm_bf16_native(void)
{
    return gemm_bf16_path() != GEMM_BF16_PORTABLE;
}

const char *gemm_bf16_path_name(GemmBf16Path p)
{
    return cpu_path_name(&choice, (int)p);
}
