/* fcu_attention.cu — multi-head attention for the CUDA backend (FluxAttnProcessor2_0's
 * scaled_dot_product_attention after the QK norm and RoPE): flash style, tiles of queries
 * against tiles of keys with an online softmax, never a [T, T] matrix (FlashAttention-2's
 * scheme: Dao, 2023).
 *
 * Dimensions: Tq queries, Tk keys, NH heads, HD head dim (128 for FLUX.1), BQ queries per
 * block, BK keys per tile. Packed operands are [NH, T, HD] of F16 or BF16; the output is
 * float32 [Tq, ldo] with head h at columns h·HD (heads merged, as ops_attention).
 *
 * Two kernels:
 *   flash_mma       HD 128 on sm_80+ (Ampere, Hopper and later through PTX): one warp owns 16
 *                   query rows; S = Q·Kᵀ and O += P·V run on the tensor cores
 *                   (mma.sync m16n8k16, float32 accumulators in registers). The S accumulator's
 *                   register layout is exactly the A-operand layout of the P·V product, so P
 *                   never leaves registers.
 *   flash_portable  any GPU, HD ∈ {8, 16, 32, 64, 128}: one thread per query row, float32 math
 *                   on K/V tiles in shared memory, one key at a time. The fallback (and the
 *                   tests' second opinion on the tensor-core kernel); slow at HD 128.
 * Softmax runs in base 2: scores are multiplied by scale·log2(e) and exp2 replaces exp.
 */
#include "fcu_internal.cuh"

#include <math.h>

#define LOG2E 1.4426950408889634f

/* ------------------------------------------------------------------------------------- */
/* Packing (and RoPE)                                                                    */

/* dst [NH, T, HD] of E from x [T, ld] float32: one thread per pair (t, h, i) of elements
 * (2i, 2i+1), rotated by cos/sin [T, HD] when given (apply_rotary_emb). */
template <typename E>
__global__ void pack_heads_kernel(E *__restrict__ dst, const float *__restrict__ x, int ld, int T,
                                  int NH, int HD, const float *__restrict__ cos_t,
                                  const float *__restrict__ sin_t)
{
    const int half = HD / 2;
    const size_t n = (size_t)T * NH * half;
    for (size_t p = blockIdx.x * (size_t)blockDim.x + threadIdx.x; p < n;
         p += (size_t)gridDim.x * blockDim.x) {
        size_t t = p / ((size_t)NH * half);
        int rem = (int)(p % ((size_t)NH * half)), h = rem / half, i = 2 * (rem % half);
        const float *src = x + t * ld + (size_t)h * HD + i;
        float a = src[0], b = src[1];
        if (cos_t) {
            const float *cr = cos_t + t * HD + i, *sr = sin_t + t * HD + i;
            float re = a, im = b;
            a = re * cr[0] - im * sr[0];
            b = im * cr[1] + re * sr[1];
        }
        E *d = dst + ((size_t)h * T + t) * HD + i;
        d[0] = fcu_from_f32<E>(a);
        d[1] = fcu_from_f32<E>(b);
    }
}

void fcu_pack_heads(FcuCtx *c, void *dst, FcuDtype dt, const float *x, int ld, int T, int NH,
                    int HD, const float *cos_t, const float *sin_t)
{
    size_t n = (size_t)T * NH * (HD / 2);
    if (fcu_failed(c) || n == 0) return;
    if (dt == FCU_F16)
        pack_heads_kernel<__half><<<fcu_blocks(n, 256), 256, 0, c->stream>>>(
            (__half *)dst, x, ld, T, NH, HD, cos_t, sin_t);
    else
        pack_heads_kernel<__nv_bfloat16><<<fcu_blocks(n, 256), 256, 0, c->stream>>>(
            (__nv_bfloat16 *)dst, x, ld, T, NH, HD, cos_t, sin_t);
    fcu_check_launch(c, "pack_heads");
}

/* ------------------------------------------------------------------------------------- */
/* Portable kernel: one thread per query                                                 */

#define PORTABLE_THREADS 128

/* out [Tq, ldo] from q [NH, Tq, HD], k, v [NH, Tk, HD]; grid (⌈Tq/128⌉, NH). Each thread
 * keeps its query and output row in registers; K and V tiles of BK keys are staged in shared
 * memory as float32. Keys are taken one at a time; the running output is rescaled only when
 * the running maximum grows (rarely after the first keys). */
template <typename E, int HD>
__global__ void __launch_bounds__(PORTABLE_THREADS)
    flash_portable(float *__restrict__ out, int ldo, const E *__restrict__ q,
                   const E *__restrict__ k, const E *__restrict__ v, int Tq, int Tk,
                   float scale_log2)
{
    constexpr int BK = HD >= 32 ? 2048 / HD : 64; /* at most 16 KiB of K and V per tile */
    __shared__ float ks[BK][HD], vs[BK][HD];
    const int h = blockIdx.y, i = blockIdx.x * PORTABLE_THREADS + threadIdx.x;
    const bool active = i < Tq;
    const E *qr = q + ((size_t)h * Tq + (active ? i : 0)) * HD;
    const E *kh = k + (size_t)h * Tk * HD, *vh = v + (size_t)h * Tk * HD;
    float qf[HD], acc[HD];
#pragma unroll
    for (int d = 0; d < HD; d++) {
        qf[d] = active ? fcu_to_f32<E>(qr[d]) * scale_log2 : 0.0f;
        acc[d] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int j0 = 0; j0 < Tk; j0 += BK) {
        const int nk = min(BK, Tk - j0);
        __syncthreads(); /* the previous tile is consumed */
        for (int e = threadIdx.x; e < nk * HD; e += PORTABLE_THREADS) {
            ks[e / HD][e % HD] = fcu_to_f32<E>(kh[(size_t)j0 * HD + e]);
            vs[e / HD][e % HD] = fcu_to_f32<E>(vh[(size_t)j0 * HD + e]);
        }
        __syncthreads();
#pragma unroll 1
        for (int j = 0; j < nk; j++) {
            float s = 0.0f;
#pragma unroll
            for (int d = 0; d < HD; d++) s += qf[d] * ks[j][d];
            if (s > m) { /* new maximum: rescale what was summed (0 at the first key) */
                const float alpha = exp2f(m - s);
                l *= alpha;
#pragma unroll
                for (int d = 0; d < HD; d++) acc[d] *= alpha;
                m = s;
            }
            const float p = exp2f(s - m);
            l += p;
#pragma unroll
            for (int d = 0; d < HD; d++) acc[d] += p * vs[j][d];
        }
    }
    if (!active) return;
    const float inv = 1.0f / l;
    float *o = out + (size_t)i * ldo + (size_t)h * HD;
#pragma unroll
    for (int d = 0; d < HD; d++) o[d] = acc[d] * inv;
}

/* ------------------------------------------------------------------------------------- */
/* Tensor-core kernel (sm_80+): HD = 128                                                 */

#define MMA_HD      128
#define MMA_BQ      64 /* 4 warps × 16 query rows */
#define MMA_BK      64 /* keys per tile */
#define MMA_THREADS 128
#define MMA_PAD     8 /* shared rows of HD + 8 elements: conflict-free fragment reads */
#define MMA_LDS     (MMA_HD + MMA_PAD)

/* d [16×8] += a [16×16] · b [16×8], float32 accumulators. Fragments (PTX ISA, mma.m16n8k16,
 * g = lane / 4, t = lane % 4): a0 = A[g][2t..2t+1], a1 = A[g+8][2t..], a2 = A[g][2t+8..],
 * a3 = A[g+8][2t+8..]; b0 = B[2t..2t+1][g], b1 = B[2t+8..2t+9][g]; d0,d1 = D[g][2t..2t+1],
 * d2,d3 = D[g+8][2t..2t+1]. Each 32-bit register holds two elements, lower index low. */
template <typename E>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1);

template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4],
                                                         uint32_t b0, uint32_t b1)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    (void)d, (void)a, (void)b0, (void)b1;
    __trap(); /* never launched: the host checks the compute capability */
#endif
}

template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const uint32_t (&a)[4],
                                                  uint32_t b0, uint32_t b1)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    (void)d, (void)a, (void)b0, (void)b1;
    __trap();
#endif
}

/* 32-bit load of elements [i, i+1] of a 16-bit row (i even: 4-byte aligned) */
__device__ __forceinline__ uint32_t ld_pair(const uint16_t *row, int i)
{
    return *reinterpret_cast<const uint32_t *>(row + i);
}

/* Two elements from two rows, `lo` first: the B fragment of V, which needs a column pair. */
__device__ __forceinline__ uint32_t pack_u16(uint16_t lo, uint16_t hi)
{
    return (uint32_t)lo | ((uint32_t)hi << 16);
}

/* Copies rows [j0, j0 + 64) of src [T, 128] into dst [64][136] (zeros past T), 16 bytes per
 * thread and step. src rows are 256 bytes: 16-byte aligned in a 256-aligned buffer. */
__device__ __forceinline__ void load_tile(uint16_t (*dst)[MMA_LDS], const uint16_t *src, int j0,
                                          int T)
{
    constexpr int VEC = 8, PER_ROW = MMA_HD / VEC; /* uint4 = 8 elements; 16 per row */
    for (int e = threadIdx.x; e < MMA_BK * PER_ROW; e += MMA_THREADS) {
        const int r = e / PER_ROW, cidx = (e % PER_ROW) * VEC;
        uint4 val = make_uint4(0, 0, 0, 0);
        if (j0 + r < T)
            val = *reinterpret_cast<const uint4 *>(src + (size_t)(j0 + r) * MMA_HD + cidx);
        *reinterpret_cast<uint4 *>(&dst[r][cidx]) = val;
    }
}

/* out [Tq, ldo] from q [NH, Tq, 128], k, v [NH, Tk, 128]; grid (⌈Tq/64⌉, NH), 4 warps.
 * Per warp and key tile: S [16, 64] = Q Kᵀ (8 n-tiles × 8 k-steps of mma), online softmax on
 * the rows g and g+8 this lane holds (a quad of lanes shares a row), O [16, 128] = O·α + P V
 * (4 k-steps × 16 n-tiles). */
template <typename E>
__global__ void __launch_bounds__(MMA_THREADS)
    flash_mma(float *__restrict__ out, int ldo, const E *__restrict__ q, const E *__restrict__ k,
              const E *__restrict__ v, int Tq, int Tk, float scale_log2)
{
    __shared__ __align__(16) uint16_t ks[MMA_BK][MMA_LDS];
    __shared__ __align__(16) uint16_t vs[MMA_BK][MMA_LDS];
    const int h = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int row0 = blockIdx.x * MMA_BQ + warp * 16 + g, row1 = row0 + 8;
    const uint16_t *qh = reinterpret_cast<const uint16_t *>(q) + (size_t)h * Tq * MMA_HD;
    const uint16_t *kh = reinterpret_cast<const uint16_t *>(k) + (size_t)h * Tk * MMA_HD;
    const uint16_t *vh = reinterpret_cast<const uint16_t *>(v) + (size_t)h * Tk * MMA_HD;

    /* Q [16, 128] as 8 A fragments (k-steps of 16 head dims), zeros past Tq */
    uint32_t qa[MMA_HD / 16][4];
#pragma unroll
    for (int kc = 0; kc < MMA_HD / 16; kc++) {
        const int c0 = kc * 16 + 2 * t;
        qa[kc][0] = row0 < Tq ? ld_pair(qh + (size_t)row0 * MMA_HD, c0) : 0u;
        qa[kc][1] = row1 < Tq ? ld_pair(qh + (size_t)row1 * MMA_HD, c0) : 0u;
        qa[kc][2] = row0 < Tq ? ld_pair(qh + (size_t)row0 * MMA_HD, c0 + 8) : 0u;
        qa[kc][3] = row1 < Tq ? ld_pair(qh + (size_t)row1 * MMA_HD, c0 + 8) : 0u;
    }
    float o[MMA_HD / 8][4];
#pragma unroll
    for (int n = 0; n < MMA_HD / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;

    for (int j0 = 0; j0 < Tk; j0 += MMA_BK) {
        __syncthreads(); /* every warp is done with the previous tile */
        load_tile(ks, kh, j0, Tk);
        load_tile(vs, vh, j0, Tk);
        __syncthreads();

        /* S [16, 64]: n-tile n holds keys n·8 .. n·8+7; B = Kᵀ, b0 = K[key g][2t..2t+1] */
        float s[MMA_BK / 8][4];
#pragma unroll
        for (int n = 0; n < MMA_BK / 8; n++) {
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
            for (int kc = 0; kc < MMA_HD / 16; kc++)
                mma_16816<E>(s[n], qa[kc], ld_pair(ks[n * 8 + g], kc * 16 + 2 * t),
                             ld_pair(ks[n * 8 + g], kc * 16 + 2 * t + 8));
        }
        /* scale to base 2, mask keys past Tk, row maxima (rows g: s[][0..1], g+8: s[][2..3]) */
        float mx0 = m0, mx1 = m1;
#pragma unroll
        for (int n = 0; n < MMA_BK / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = j0 + n * 8 + 2 * t + (e & 1);
                s[n][e] = key < Tk ? s[n][e] * scale_log2 : -INFINITY;
                if (e < 2)
                    mx0 = fmaxf(mx0, s[n][e]);
                else
                    mx1 = fmaxf(mx1, s[n][e]);
            }
        /* the four lanes of a quad hold the 64 scores of a row between them */
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float a0 = exp2f(m0 - mx0), a1 = exp2f(m1 - mx1); /* 0 on the first tile */
        m0 = mx0, m1 = mx1;
        l0 *= a0, l1 *= a1; /* lane-partial sums: a quad shares α, summed at the end */
#pragma unroll
        for (int n = 0; n < MMA_BK / 8; n++) {
            s[n][0] = exp2f(s[n][0] - m0), s[n][1] = exp2f(s[n][1] - m0);
            s[n][2] = exp2f(s[n][2] - m1), s[n][3] = exp2f(s[n][3] - m1);
            l0 += s[n][0] + s[n][1];
            l1 += s[n][2] + s[n][3];
        }
#pragma unroll
        for (int n = 0; n < MMA_HD / 8; n++) {
            o[n][0] *= a0, o[n][1] *= a0;
            o[n][2] *= a1, o[n][3] *= a1;
        }
        /* O += P V: k-step kc covers keys kc·16..+15 = S n-tiles 2kc, 2kc+1, whose accumulator
         * registers are the A fragment as they stand; b0 = V[2t..2t+1][col g] */
#pragma unroll
        for (int kc = 0; kc < MMA_BK / 16; kc++) {
            const uint32_t pa[4] = {fcu_pack2<E>(s[2 * kc][0], s[2 * kc][1]),
                                    fcu_pack2<E>(s[2 * kc][2], s[2 * kc][3]),
                                    fcu_pack2<E>(s[2 * kc + 1][0], s[2 * kc + 1][1]),
                                    fcu_pack2<E>(s[2 * kc + 1][2], s[2 * kc + 1][3])};
            const int r = kc * 16 + 2 * t;
#pragma unroll
            for (int n = 0; n < MMA_HD / 8; n++) {
                const int col = n * 8 + g;
                mma_16816<E>(o[n], pa, pack_u16(vs[r][col], vs[r + 1][col]),
                             pack_u16(vs[r + 8][col], vs[r + 9][col]));
            }
        }
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float inv0 = 1.0f / l0, inv1 = 1.0f / l1;
#pragma unroll
    for (int n = 0; n < MMA_HD / 8; n++) {
        const size_t col = (size_t)h * MMA_HD + n * 8 + 2 * t;
        if (row0 < Tq) {
            out[(size_t)row0 * ldo + col] = o[n][0] * inv0;
            out[(size_t)row0 * ldo + col + 1] = o[n][1] * inv0;
        }
        if (row1 < Tq) {
            out[(size_t)row1 * ldo + col] = o[n][2] * inv1;
            out[(size_t)row1 * ldo + col + 1] = o[n][3] * inv1;
        }
    }
}

/* ------------------------------------------------------------------------------------- */
/* Dispatch                                                                              */

template <typename E, int HD>
static void launch_portable(FcuCtx *c, float *out, int ldo, const void *q, const void *k,
                            const void *v, int Tq, int Tk, int NH, float scale_log2)
{
    dim3 grid((unsigned)((Tq + PORTABLE_THREADS - 1) / PORTABLE_THREADS), (unsigned)NH);
    flash_portable<E, HD><<<grid, PORTABLE_THREADS, 0, c->stream>>>(
        out, ldo, (const E *)q, (const E *)k, (const E *)v, Tq, Tk, scale_log2);
    fcu_check_launch(c, "flash_portable");
}

template <typename E>
static void launch_flash(FcuCtx *c, float *out, int ldo, const void *q, const void *k,
                         const void *v, int Tq, int Tk, int NH, int HD, float scale_log2,
                         int portable)
{
    if (HD == MMA_HD && !portable && c->cc_major >= 8) {
        dim3 grid((unsigned)((Tq + MMA_BQ - 1) / MMA_BQ), (unsigned)NH);
        flash_mma<E><<<grid, MMA_THREADS, 0, c->stream>>>(out, ldo, (const E *)q, (const E *)k,
                                                          (const E *)v, Tq, Tk, scale_log2);
        fcu_check_launch(c, "flash_mma");
        return;
    }
    switch (HD) {
    case 8:
        launch_portable<E, 8>(c, out, ldo, q, k, v, Tq, Tk, NH, scale_log2);
        break;
    case 16:
        launch_portable<E, 16>(c, out, ldo, q, k, v, Tq, Tk, NH, scale_log2);
        break;
    case 32:
        launch_portable<E, 32>(c, out, ldo, q, k, v, Tq, Tk, NH, scale_log2);
        break;
    case 64:
        launch_portable<E, 64>(c, out, ldo, q, k, v, Tq, Tk, NH, scale_log2);
        break;
    case 128:
        launch_portable<E, 128>(c, out, ldo, q, k, v, Tq, Tk, NH, scale_log2);
        break;
    default:
        fcu_fail(c, FCU_ERR_UNSUPPORTED,
                 "CUDA attention: head dim %d is not supported (8, 16, 32, 64 or 128)", HD);
    }
}

void fcu_flash_attention(FcuCtx *c, float *out, int ldo, const void *q, const void *k,
                         const void *v, int Tq, int Tk, int NH, int HD, float scale, FcuDtype dt,
                         int portable)
{
    if (fcu_failed(c) || Tq <= 0 || NH <= 0) return;
    if (Tk <= 0) {
        fcu_fail(c, FCU_ERR_UNSUPPORTED, "CUDA attention: no keys (Tk = %d)", Tk);
        return;
    }
    if (dt == FCU_F32) {
        fcu_fail(c, FCU_ERR_UNSUPPORTED, "CUDA attention: packed operands must be F16 or BF16");
        return;
    }
    const float sl2 = scale * LOG2E;
    if (dt == FCU_F16)
        launch_flash<__half>(c, out, ldo, q, k, v, Tq, Tk, NH, HD, sl2, portable);
    else
        launch_flash<__nv_bfloat16>(c, out, ldo, q, k, v, Tq, Tk, NH, HD, sl2, portable);
}

void fcu_attention(FcuCtx *c, float *out, const float *q, const float *k, const float *v,
                   const FcuAttnShape *s, const float *cos_t, const float *sin_t, FcuDtype dt)
{
    if (fcu_failed(c)) return;
    if (dt == FCU_F32) dt = FCU_BF16;
    if ((cos_t || sin_t) && (!cos_t || !sin_t || s->Tq != s->Tk)) {
        fcu_fail(c, FCU_ERR_UNSUPPORTED,
                 "CUDA attention: RoPE needs cos and sin and Tq == Tk (got %d, %d)", s->Tq, s->Tk);
        return;
    }
    if (s->HD % 8) {
        fcu_fail(c, FCU_ERR_UNSUPPORTED, "CUDA attention: head dim %d is not a multiple of 8",
                 s->HD);
        return;
    }
    /* q, k, v packed one after the other in the scratch, each 256-byte aligned */
    const size_t es = fcu_dtype_size(dt);
    const size_t nq = ((size_t)s->NH * s->Tq * s->HD * es + 255) / 256 * 256;
    const size_t nk = ((size_t)s->NH * s->Tk * s->HD * es + 255) / 256 * 256;
    char *buf = (char *)fcu_scratch(c, nq + 2 * nk);
    if (!buf) return;
    fcu_pack_heads(c, buf, dt, q, s->ldq, s->Tq, s->NH, s->HD, cos_t, sin_t);
    fcu_pack_heads(c, buf + nq, dt, k, s->ldk, s->Tk, s->NH, s->HD, cos_t, sin_t);
    fcu_pack_heads(c, buf + nq + nk, dt, v, s->ldv, s->Tk, s->NH, s->HD, NULL, NULL);
    fcu_flash_attention(c, out, s->ldo, buf, buf + nq, buf + nq + nk, s->Tq, s->Tk, s->NH, s->HD,
                        s->scale, dt, 0);
}
