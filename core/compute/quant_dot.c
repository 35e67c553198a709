/* quant_dot.c — see quant_dot.h. The block arithmetic follows ggml's Q8_0 · Q8_0 dot product
 * (ggml-quants.c ggml_vec_dot_q8_0_q8_0, quantize_row_q8_0), written here from its
 * description, with one change: the per-block float scaling is vectorised across 8 rows of W
 * (not across the lanes of one block), so that every path sums the blocks of an output in the
 * same order and the results are bit-identical to the portable C path.
 *
 * Structure: x is quantised once per call (xq [M,K] int8, xd [M,K/32] float). The output
 * columns are split over the thread pool in tiles of NR = 8 rows of W; a thread walks x in
 * chunks of rows that stay in L2 and, for each of its tiles, multiplies MR = 4 rows of x at a
 * time: per block b, the 8 weight blocks are loaded once and used for the 4 x rows; the 8
 * integer sums of one x row are gathered into one vector (a tree of hadd), converted to
 * float, scaled by dx·dw[8] and added to that row's 8 accumulators.
 *
 * Legend: M, K, N as in quant_dot.h; NR = weight rows per tile, MR = x rows per kernel call,
 * nb = K/32 blocks per row, b = block index. */
#include "quant_dot.h"

#include "cpu_features.h"
#include "pool.h"
#include "quant.h"

#include <math.h>
#include <string.h>

#define QK            32           /* elements per Q8_0 block */
#define QBYTES        34           /* bytes per Q8_0 block: half d, int8 q[32] */
#define NR            8            /* weight rows per tile */
#define MR            4            /* x rows per kernel call */
#define X_CHUNK_BYTES (512u << 10) /* int8 x rows walked per pass over a thread's tiles */

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define QDOT_X86 1
#include <immintrin.h>
#define QD_AVX2    __attribute__((target("avx2,f16c")))
#define QD_VNNI    __attribute__((target("avx2,f16c,avx512f,avx512vl,avx512vnni")))
#define QD_AVXVNNI __attribute__((target("avx2,f16c,avxvnni")))
#define QD_INLINE  static inline __attribute__((always_inline))
#endif

typedef struct {
    float *y;
    const gint8 *xq; /* [M, K] */
    const float *xd; /* [M, K/32] */
    const guint8 *w; /* N rows of nb blocks */
    int M, K, N;
    QdotPath path;
} QdotJob;

static inline float half_at(const guint8 *p)
{
    return quant_f16_to_f32((guint16)(p[0] | p[1] << 8));
}

/* ------------------------------------------------------------------------------------- */
/* Quantisation of x                                                                     */

void quant_dot_quantize_row(const float *x, int K, gint8 *q, float *d)
{
    for (int b = 0; b < K / QK; b++, x += QK, q += QK) {
        float amax = 0.0f;
        gboolean finite = TRUE;
        for (int j = 0; j < QK; j++) {
            amax = fmaxf(amax, fabsf(x[j]));
            finite &= isfinite(x[j]) != 0;
        }
        float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        d[b] = finite ? db : NAN;
        if (!finite) id = 0.0f; /* keeps the casts below defined */
        /* |x·id| <= 127 up to one rounding, so the clamp only guards the cast */
        for (int j = 0; j < QK; j++)
            q[j] = (gint8)CLAMP(roundf(finite ? x[j] * id : 0.0f), -127.0f, 127.0f);
    }
}

typedef struct {
    const float *x;
    gint8 *xq;
    float *xd;
    int K;
} QuantizeJob;

static void quantize_rows(void *ctx, size_t begin, size_t end)
{
    const QuantizeJob *j = ctx;
    for (size_t m = begin; m < end; m++)
        quant_dot_quantize_row(j->x + m * j->K, j->K, j->xq + m * j->K, j->xd + m * (j->K / QK));
}

/* ------------------------------------------------------------------------------------- */
/* Portable C: the reference                                                             */

/* y[m, n0 .. n0+nr-1] for rows m0 .. m0+mr-1: block sums in int, then the float combination
 * in block order (the order the SIMD paths keep). */
static void tile_portable(const QdotJob *j, int n0, int nr, int m0, int mr)
{
    const int nb = j->K / QK;
    const size_t row_bytes = (size_t)nb * QBYTES;
    for (int m = m0; m < m0 + mr; m++) {
        const gint8 *xq = j->xq + (size_t)m * j->K;
        const float *xd = j->xd + (size_t)m * nb;
        for (int n = n0; n < n0 + nr; n++) {
            const guint8 *wb = j->w + (size_t)n * row_bytes;
            float acc = 0.0f;
            for (int b = 0; b < nb; b++, wb += QBYTES) {
                const gint8 *wq = (const gint8 *)(wb + 2), *xb = xq + b * QK;
                gint32 s = 0;
                for (int e = 0; e < QK; e++) s += (gint32)xb[e] * wq[e];
                acc += (float)s * (xd[b] * half_at(wb));
            }
            j->y[(size_t)m * j->N + n] = acc;
        }
    }
}

/* ------------------------------------------------------------------------------------- */
/* x86: AVX2 and AVX-512 VNNI                                                            */

#ifdef QDOT_X86

/* Row pointers of a tile: rows past the end repeat the last one (their results are dropped),
 * so the kernels have no tail code. */
static void tile_rows(const QdotJob *j, int n0, int nr, int m0, int mr, const guint8 **wr,
                      const gint8 **xr, const float **dr)
{
    const int nb = j->K / QK;
    for (int r = 0; r < NR; r++) wr[r] = j->w + (size_t)(n0 + MIN(r, nr - 1)) * nb * QBYTES;
    for (int m = 0; m < MR; m++) {
        int mm = m0 + MIN(m, mr - 1);
        xr[m] = j->xq + (size_t)mm * j->K;
        dr[m] = j->xd + (size_t)mm * nb;
    }
}

/* dw[r] of block b for the 8 rows (half → float by F16C, exact). */
QD_AVX2 QD_INLINE __m256 scales8(const guint8 *const *wr, int b)
{
    const size_t o = (size_t)b * QBYTES;
#define H(r) (short)(wr[r][o] | wr[r][o + 1] << 8)
    return _mm256_cvtph_ps(_mm_setr_epi16(H(0), H(1), H(2), H(3), H(4), H(5), H(6), H(7)));
#undef H
}

QD_AVX2 QD_INLINE __m256i load_w(const guint8 *const *wr, int r, int b)
{
    return _mm256_loadu_si256((const __m256i *)(wr[r] + (size_t)b * QBYTES + 2));
}

/* acc += float(isum) · (dx · dw), isum = [s0 .. s7] from the hadd tree's two halves q0 (rows
 * 0-3) and q1 (rows 4-7), whose 128-bit lanes hold the low and high half sums of each row:
 * the portable path's operations, 8 rows at once. */
QD_AVX2 QD_INLINE __m256 combine(__m256 acc, __m256i q0, __m256i q1, float dx, __m256 dw)
{
    __m256i isum = _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20),
                                    _mm256_permute2x128_si256(q0, q1, 0x31));
    return _mm256_add_ps(
        acc, _mm256_mul_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(_mm256_set1_ps(dx), dw)));
}

QD_AVX2 QD_INLINE void store_tile(const QdotJob *j, const __m256 *acc, int n0, int nr, int m0,
                                  int mr)
{
    for (int m = 0; m < mr; m++) {
        float out[NR];
        _mm256_storeu_ps(out, acc[m]);
        memcpy(j->y + (size_t)(m0 + m) * j->N + n0, out, (size_t)nr * sizeof(float));
    }
}

/* AVX2: vpmaddubsw needs an unsigned operand: |w| (exact for every int8, -128 included) times
 * x with w's sign moved onto it (x is in [-127, 127], so the flip cannot overflow). Pair sums
 * fit int16 (2 · 128 · 127 = 32512); vpmaddwd with ones widens them to int32, 8 lanes. */
QD_AVX2 QD_INLINE __m256i dot_avx2(__m256i aw, __m256i w, __m256i x)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(x, w)),
                             _mm256_set1_epi16(1));
}

/* Per block: weight rows in pairs; each pair's two dot vectors are hadd-ed at once and two
 * pairs into a quad, so only a few vectors per x row are live (the loops unroll fully and the
 * arrays become registers; built for AVX-512VL, with 32 registers instead of 16, it ran at the
 * same speed: the shuffles and multiplies, not spills, bound it). */
QD_AVX2 QD_INLINE void kernel_avx2(const QdotJob *j, int n0, int nr, int m0, int mr, const int rows)
{
    const guint8 *wr[NR];
    const gint8 *xr[MR];
    const float *dr[MR];
    tile_rows(j, n0, nr, m0, mr, wr, xr, dr);
    __m256 acc[MR];
#pragma GCC unroll 4
    for (int m = 0; m < rows; m++) acc[m] = _mm256_setzero_ps();
    for (int b = 0; b < j->K / QK; b++) {
        __m256i q[MR][2];
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            __m256i h[MR][2];
#pragma GCC unroll 2
            for (int pr = 0; pr < 2; pr++) {
                int r = 4 * half + 2 * pr;
                __m256i w0 = load_w(wr, r, b), w1 = load_w(wr, r + 1, b);
                __m256i a0 = _mm256_sign_epi8(w0, w0), a1 = _mm256_sign_epi8(w1, w1);
#pragma GCC unroll 4
                for (int m = 0; m < rows; m++) {
                    __m256i x = _mm256_loadu_si256((const __m256i *)(xr[m] + b * QK));
                    h[m][pr] = _mm256_hadd_epi32(dot_avx2(a0, w0, x), dot_avx2(a1, w1, x));
                }
            }
#pragma GCC unroll 4
            for (int m = 0; m < rows; m++) q[m][half] = _mm256_hadd_epi32(h[m][0], h[m][1]);
        }
        __m256 dw = scales8(wr, b);
#pragma GCC unroll 4
        for (int m = 0; m < rows; m++) acc[m] = combine(acc[m], q[m][0], q[m][1], dr[m][b], dw);
    }
    store_tile(j, acc, n0, nr, m0, mr);
}

QD_AVX2 static void tile_avx2(const QdotJob *j, int n0, int nr, int m0, int mr)
{
    if (mr == MR)
        kernel_avx2(j, n0, nr, m0, mr, MR);
    else
        for (int m = 0; m < mr; m++) kernel_avx2(j, n0, nr, m0 + m, 1, 1);
}

/* VNNI: vpdpbusd sums u8 · s8 products in int32 with no int16 step, so x is made unsigned by
 * an offset instead of a sign flip: (x + 128) · w summed, minus 128 · Σw, which is computed
 * once per weight block (vpdpbusd of 128s with w) and starts the accumulation.
 * One body for the two encodings of the instruction (AVX512-VNNI with VL on 256-bit vectors,
 * and the VEX AVX-VNNI of CPUs without AVX-512): a function that names one intrinsic cannot
 * inline the other's (different target options), hence the macro; DP is the intrinsic. */
#define QD_KERNEL_VNNI_BODY(DP)                                                                    \
    const guint8 *wr[NR];                                                                          \
    const gint8 *xr[MR];                                                                           \
    const float *dr[MR];                                                                           \
    tile_rows(j, n0, nr, m0, mr, wr, xr, dr);                                                      \
    const __m256i k80 = _mm256_set1_epi8((char)0x80), zero = _mm256_setzero_si256();               \
    __m256 acc[MR];                                                                                \
    _Pragma("GCC unroll 4") for (int m = 0; m < rows; m++) acc[m] = _mm256_setzero_ps();           \
    for (int b = 0; b < j->K / QK; b++) {                                                          \
        __m256i q[MR][2], xu[MR];                                                                  \
        _Pragma("GCC unroll 4") for (int m = 0; m < rows; m++) /* x + 128 as u8 */                 \
            xu[m] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(xr[m] + b * QK)), k80);  \
        _Pragma("GCC unroll 2") for (int half = 0; half < 2; half++)                               \
        {                                                                                          \
            __m256i h[MR][2];                                                                      \
            _Pragma("GCC unroll 2") for (int pr = 0; pr < 2; pr++)                                 \
            {                                                                                      \
                int r = 4 * half + 2 * pr;                                                         \
                __m256i w0 = load_w(wr, r, b), w1 = load_w(wr, r + 1, b);                          \
                __m256i c0 = _mm256_sub_epi32(zero, DP(zero, k80, w0));                            \
                __m256i c1 = _mm256_sub_epi32(zero, DP(zero, k80, w1));                            \
                _Pragma("GCC unroll 4") for (int m = 0; m < rows; m++) h[m][pr] =                  \
                    _mm256_hadd_epi32(DP(c0, xu[m], w0), DP(c1, xu[m], w1));                       \
            }                                                                                      \
            _Pragma("GCC unroll 4") for (int m = 0; m < rows; m++) q[m][half] =                    \
                _mm256_hadd_epi32(h[m][0], h[m][1]);                                               \
        }                                                                                          \
        __m256 dw = scales8(wr, b);                                                                \
        _Pragma("GCC unroll 4") for (int m = 0; m < rows; m++) acc[m] =                            \
            combine(acc[m], q[m][0], q[m][1], dr[m][b], dw);                                       \
    }                                                                                              \
    store_tile(j, acc, n0, nr, m0, mr);

QD_VNNI QD_INLINE void kernel_vnni(const QdotJob *j, int n0, int nr, int m0, int mr,
                                   const int rows){QD_KERNEL_VNNI_BODY(_mm256_dpbusd_epi32)}

QD_VNNI static void tile_vnni(const QdotJob *j, int n0, int nr, int m0, int mr)
{
    if (mr == MR)
        kernel_vnni(j, n0, nr, m0, mr, MR);
    else
        for (int m = 0; m < mr; m++) kernel_vnni(j, n0, nr, m0 + m, 1, 1);
}

QD_AVXVNNI QD_INLINE void kernel_avx_vnni(const QdotJob *j, int n0, int nr, int m0, int mr,
                                          const int rows){
    QD_KERNEL_VNNI_BODY(_mm256_dpbusd_avx_epi32)}

QD_AVXVNNI static void tile_avx_vnni(const QdotJob *j, int n0, int nr, int m0, int mr)
{
    if (mr == MR)
        kernel_avx_vnni(j, n0, nr, m0, mr, MR);
    else
        for (int m = 0; m < mr; m++) kernel_avx_vnni(j, n0, nr, m0 + m, 1, 1);
}

#endif /* QDOT_X86 */

/* ------------------------------------------------------------------------------------- */
/* Path selection                                                                        */

#ifdef QDOT_X86
#define QDOT_BUILT 0
#else
#define QDOT_BUILT CPU_NOT_BUILT
#endif

/* In QdotPath order, ranked for detection (cpu_features.h); "off" only when forced. */
static const CpuPath paths[] = {
    [QDOT_AUTO] = {"auto", 0, 0},
    [QDOT_PORTABLE] = {"portable", 0, 1},
    [QDOT_AVX2] = {"avx2", QDOT_BUILT | CPU_BIT(CPU_AVX2), 2},
    [QDOT_VNNI] = {"avx512-vnni", QDOT_BUILT | CPU_BIT(CPU_AVX512_VNNI), 4},
    [QDOT_AVX_VNNI] = {"avx-vnni", QDOT_BUILT | CPU_BIT(CPU_AVX_VNNI), 3},
    [QDOT_OFF] = {"off", 0, 0},
};
static CpuPathChoice choice = CPU_PATH_CHOICE(paths);

gboolean quant_dot_set_path(QdotPath p)
{
    return cpu_path_force(&choice, (int)p);
}

QdotPath quant_dot_path(void)
{
    return (QdotPath)cpu_path_current(&choice);
}

const char *quant_dot_path_name(QdotPath p)
{
    return cpu_path_name(&choice, (int)p);
}

/* ------------------------------------------------------------------------------------- */
/* Driver                                                                                */

gboolean quant_dot_supports(const StTensor *w)
{
    return w->dtype == ST_Q8_0 && w->scale == 0.0f && quant_dot_path() != QDOT_OFF;
}

/* Weight tiles [begin, end) (NR rows each) against all of x, x in chunks that stay in L2. */
static void tiles_worker(void *ctx, size_t begin, size_t end)
{
    const QdotJob *j = ctx;
    void (*tile)(const QdotJob *, int, int, int, int) = tile_portable;
#ifdef QDOT_X86
    if (j->path == QDOT_AVX2) tile = tile_avx2;
    if (j->path == QDOT_VNNI) tile = tile_vnni;
    if (j->path == QDOT_AVX_VNNI) tile = tile_avx_vnni;
#endif
    int chunk = MAX(MR, (int)(X_CHUNK_BYTES / (unsigned)j->K) / MR * MR);
    for (int c0 = 0; c0 < j->M; c0 += chunk) {
        int c1 = MIN(j->M, c0 + chunk);
        for (size_t t = begin; t < end; t++) {
            int n0 = (int)t * NR, nr = MIN(NR, j->N - n0);
            for (int m0 = c0; m0 < c1; m0 += MR) tile(j, n0, nr, m0, MIN(MR, c1 - m0));
        }
    }
}

/* The quantised x of the calling thread, kept for its life (no allocation per linear). */
static gint8 *x_scratch(size_t bytes)
{
    static GPrivate key = G_PRIVATE_INIT(g_free);
    static _Thread_local size_t cap;
    gint8 *buf = g_private_get(&key);
    if (bytes > cap) {
        buf = g_realloc(buf, bytes);
        g_private_set(&key, buf);
        cap = bytes;
    }
    return buf;
}

void quant_dot_linear(float *y, const float *x, const StTensor *w, int M, int K, int N)
{
    g_assert(w->dtype == ST_Q8_0 && w->scale == 0.0f && K % QK == 0 && w->numel == (int64_t)N * K);
    if (M <= 0 || N <= 0) return;
    const int nb = K / QK;
    /* xd first: float alignment */
    size_t xd_bytes = (size_t)M * nb * sizeof(float);
    guint8 *buf = (guint8 *)x_scratch(xd_bytes + (size_t)M * K);
    float *xd = (float *)buf;
    gint8 *xq = (gint8 *)(buf + xd_bytes);
    QuantizeJob qj = {x, xq, xd, K};
    if ((size_t)M * K >= (1u << 16))
        pool_parallel_for((size_t)M, quantize_rows, &qj);
    else
        quantize_rows(&qj, 0, (size_t)M);
    QdotJob j = {y, xq, xd, w->data, M, K, N, quant_dot_path()};
    size_t tiles = ((size_t)N + NR - 1) / NR;
    if ((size_t)M * N * K >= (1u << 18))
        pool_parallel_for(tiles, tiles_worker, &j);
    else
        tiles_worker(&j, 0, tiles);
}
