/* fcu_elementwise.cu — the float32 row and elementwise kernels of the CUDA backend: LayerNorm,
 * RMSNorm (FLUX's QK norm), AdaLN modulation, gated residual, GELU-tanh, SiLU, add and RoPE.
 * Each mirrors its CPU twin in core/compute/ops.h / core/models/transformer.c (tests/test_cuda.c compares
 * them against ops_naive.c).
 *
 * Dimensions: M rows, N features per row (D = 3072 for FLUX.1 activations, HD = 128 for the
 * QK norm over [T·NH, HD] rows), T tokens, NH heads, HD head dim.
 */
#include "fcu_internal.cuh"

/* ------------------------------------------------------------------------------------- */
/* Normalisation: one warp per row                                                       */

#define ROWS_PER_BLOCK 8 /* warps per block */

enum { NORM_LAYER, NORM_RMS, NORM_MODULATE };

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* y [M, N] from x [M, N], one warp per row, float32 throughout, two passes for the variance
 * (mean first) as ops_layernorm_naive. y may equal x (each lane reads its elements before
 * writing them, and the passes before only read). p0, p1: LayerNorm g, b; RMSNorm g;
 * modulation shift, scale. */
template <int MODE>
__global__ void norm_rows(float *y, const float *x, const float *p0, const float *p1, int M, int N,
                          float eps)
{
    const int lane = threadIdx.x & 31;
    const size_t row = (size_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
    if (row >= (size_t)M) return; /* whole warps leave together */
    const float *xr = x + row * N;
    float *yr = y + row * N;
    float mean = 0.0f, s = 0.0f;
    if (MODE != NORM_RMS) {
        for (int i = lane; i < N; i += 32) s += xr[i];
        mean = warp_sum(s) / (float)N;
        s = 0.0f;
    }
    for (int i = lane; i < N; i += 32) {
        float d = xr[i] - mean;
        s += d * d;
    }
    const float r = 1.0f / sqrtf(warp_sum(s) / (float)N + eps);
    for (int i = lane; i < N; i += 32) {
        float v = (xr[i] - mean) * r;
        if (MODE == NORM_LAYER) v = v * (p0 ? p0[i] : 1.0f) + (p1 ? p1[i] : 0.0f);
        if (MODE == NORM_RMS) v *= p0 ? p0[i] : 1.0f;
        if (MODE == NORM_MODULATE) v = v * (1.0f + p1[i]) + p0[i];
        yr[i] = v;
    }
}

template <int MODE>
static void launch_norm(FcuCtx *c, float *y, const float *x, const float *p0, const float *p1,
                        int M, int N, float eps)
{
    if (fcu_failed(c) || M <= 0 || N <= 0) return;
    unsigned blocks = (unsigned)((M + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
    norm_rows<MODE><<<blocks, 32 * ROWS_PER_BLOCK, 0, c->stream>>>(y, x, p0, p1, M, N, eps);
    fcu_check_launch(c, MODE == NORM_LAYER ? "layernorm"
                        : MODE == NORM_RMS ? "rmsnorm"
                                           : "modulate");
}

void fcu_layernorm(FcuCtx *c, float *y, const float *x, const float *g, const float *b, int M,
                   int N, float eps)
{
    launch_norm<NORM_LAYER>(c, y, x, g, b, M, N, eps);
}

void fcu_rmsnorm(FcuCtx *c, float *y, const float *x, const float *g, int M, int N, float eps)
{
    launch_norm<NORM_RMS>(c, y, x, g, NULL, M, N, eps);
}

void fcu_modulate(FcuCtx *c, float *y, const float *x, const float *shift, const float *scale,
                  int M, int N, float eps)
{
    launch_norm<NORM_MODULATE>(c, y, x, shift, scale, M, N, eps);
}

/* ------------------------------------------------------------------------------------- */
/* Elementwise (grid-stride loops)                                                       */

#define GRID_STRIDE(i, n)                                                                          \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);                        \
         i += (size_t)gridDim.x * blockDim.x)

/* x [M, N] += gate[N] · y [M, N] */
__global__ void gated_add_kernel(float *x, const float *__restrict__ y,
                                 const float *__restrict__ gate, size_t n, int N)
{
    GRID_STRIDE(i, n) x[i] += gate[i % (size_t)N] * y[i];
}

__global__ void add_kernel(float *x, const float *y, size_t n)
{
    GRID_STRIDE(i, n) x[i] += y[i];
}

/* GELU(approximate="tanh"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) */
__global__ void gelu_tanh_kernel(float *x, size_t n)
{
    const float k = 0.7978845608028654f; /* √(2/π) */
    GRID_STRIDE(i, n)
    {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

__global__ void silu_kernel(float *x, size_t n)
{
    GRID_STRIDE(i, n) x[i] = x[i] / (1.0f + expf(-x[i]));
}

/* apply_rotary_emb on x [T, ld] in place: one thread per rotated pair (t, h, i):
 * (re, im) = (x[2i], x[2i+1]) → (re·cos − im·sin, im·cos + re·sin), cos/sin [T, HD]. */
__global__ void rope_kernel(float *x, int ld, const float *__restrict__ cos_t,
                            const float *__restrict__ sin_t, size_t n_pairs, int NH, int HD)
{
    const int half = HD / 2;
    GRID_STRIDE(p, n_pairs)
    {
        size_t t = p / ((size_t)NH * half);
        int rem = (int)(p % ((size_t)NH * half)), h = rem / half, i = 2 * (rem % half);
        float *v = x + t * ld + (size_t)h * HD + i;
        const float *cr = cos_t + t * HD + i, *sr = sin_t + t * HD + i;
        float re = v[0], im = v[1];
        v[0] = re * cr[0] - im * sr[0];
        v[1] = im * cr[1] + re * sr[1];
    }
}

void fcu_gated_add(FcuCtx *c, float *x, const float *y, const float *gate, int M, int N)
{
    size_t n = (size_t)M * N;
    if (fcu_failed(c) || n == 0) return;
    gated_add_kernel<<<fcu_blocks(n, 256), 256, 0, c->stream>>>(x, y, gate, n, N);
    fcu_check_launch(c, "gated_add");
}

void fcu_add(FcuCtx *c, float *x, const float *y, size_t n)
{
    if (fcu_failed(c) || n == 0) return;
    add_kernel<<<fcu_blocks(n, 256), 256, 0, c->stream>>>(x, y, n);
    fcu_check_launch(c, "add");
}

void fcu_gelu_tanh(FcuCtx *c, float *x, size_t n)
{
    if (fcu_failed(c) || n == 0) return;
    gelu_tanh_kernel<<<fcu_blocks(n, 256), 256, 0, c->stream>>>(x, n);
    fcu_check_launch(c, "gelu_tanh");
}

void fcu_silu(FcuCtx *c, float *x, size_t n)
{
    if (fcu_failed(c) || n == 0) return;
    silu_kernel<<<fcu_blocks(n, 256), 256, 0, c->stream>>>(x, n);
    fcu_check_launch(c, "silu");
}

void fcu_rope(FcuCtx *c, float *x, int ld, const float *cos_t, const float *sin_t, int T, int NH,
              int HD)
{
    size_t n = (size_t)T * NH * (HD / 2);
    if (fcu_failed(c) || n == 0) return;
    if (HD % 2) {
        fcu_fail(c, FCU_ERR_UNSUPPORTED, "CUDA rope: head dim %d is odd, expected pairs", HD);
        return;
    }
    rope_kernel<<<fcu_blocks(n, 256), 256, 0, c->stream>>>(x, ld, cos_t, sin_t, n, NH, HD);
    fcu_check_launch(c, "rope");
}
