/* fcu_linear.cu — torch.nn.Linear on cuBLAS: y [M, N] = x [M, K] · W [N, K]ᵀ + b [N].
 *
 * Weights stay in their device dtype (BF16 for the transformer: half the bytes of F32 and
 * the tensor cores' input type); the float32 activation is rounded to the same dtype in the
 * context's scratch and cublasGemmEx accumulates in float32 (CUBLAS_COMPUTE_32F; for F32
 * weights this is a true SGEMM, no TF32, so the F32 path matches the CPU to ~1e-6).
 *
 * Row-major to cuBLAS's column-major: y [M, N] row-major is yᵀ [N, M] column-major, and
 * yᵀ = W · xᵀ where W [N, K] row-major is Wᵀ column-major (op T, lda K) and x [M, K]
 * row-major is xᵀ [K, M] column-major (op N, ldb K).
 */
#include "fcu_internal.cuh"

static cudaDataType_t blas_type(FcuDtype dt)
{
    return dt == FCU_F32 ? CUDA_R_32F : dt == FCU_F16 ? CUDA_R_16F : CUDA_R_16BF;
}

/* y [M, N] += b[N] */
__global__ void add_bias_kernel(float *y, const float *__restrict__ b, size_t n, int N)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += b[i % (size_t)N];
}

/* C [M, N] f32 = A [M, K] · B [N, K]ᵀ (A, B of dt) */
static void gemm_nt(FcuCtx *c, FcuDtype dt, float *C, const void *A, const void *B, int M, int N,
                    int K)
{
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t st = cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, B,
                                     blas_type(dt), K, A, blas_type(dt), K, &zero, C, CUDA_R_32F, N,
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    static const char *const names[3] = {"F32", "F16", "BF16"};
    if (st != CUBLAS_STATUS_SUCCESS)
        fcu_fail(c, FCU_ERR_DEVICE, "cuBLAS: GemmEx [%d, %d] x [%d, %d]^T (%s) failed: %s", M, K, N,
                 K, names[dt], cublasGetStatusString(st));
}

void fcu_linear(FcuCtx *c, float *y, const float *x, const FcuWeight *w, const float *b, int M)
{
    if (fcu_failed(c) || M <= 0) return;
    const void *xin = x;
    if (w->dtype != FCU_F32) {
        void *xs = fcu_scratch(c, (size_t)M * w->K * fcu_dtype_size(w->dtype));
        if (!xs) return;
        fcu_convert(c, xs, w->dtype, x, FCU_F32, (size_t)M * w->K);
        xin = xs;
    }
    gemm_nt(c, w->dtype, y, xin, w->data, M, w->N, w->K);
    if (b && !fcu_failed(c)) {
        size_t n = (size_t)M * w->N;
        add_bias_kernel<<<fcu_blocks(n, 256), 256, 0, c->stream>>>(y, b, n, w->N);
        fcu_check_launch(c, "linear bias");
    }
}

void fcu_gemm(FcuCtx *c, FcuDtype dt, float *C, const void *A, const void *B, int M, int N, int K)
{
    if (!fcu_failed(c)) gemm_nt(c, dt, C, A, B, M, N, K);
}
