/* ops_naive.c — plain loops, the algorithmic reference for ops.c (used by the tests). */
#include "convert.h"
#include "ops.h"

#include <math.h>

void ops_linear_naive(float *y, const float *x, const StTensor *w, const float *b, int M, int K,
                      int N)
{
    float *row = g_new(float, K > 0 ? K : 1);
    for (int n = 0; n < N; n++) {
        st_to_f32(row, w, (int64_t)n * K, K);
        for (int m = 0; m < M; m++) {
            double acc = b ? b[n] : 0.0;
            for (int k = 0; k < K; k++) acc += (double)x[(size_t)m * K + k] * row[k];
            y[(size_t)m * N + n] = (float)acc;
        }
    }
    g_free(row);
}

void ops_layernorm_naive(float *y, const float *x, const float *g, const float *b, int M, int N,
                         float eps)
{
    for (int m = 0; m < M; m++) {
        double mean = 0, var = 0;
        for (int n = 0; n < N; n++) mean += x[(size_t)m * N + n];
        mean /= N;
        for (int n = 0; n < N; n++) {
            double d = x[(size_t)m * N + n] - mean;
            var += d * d;
        }
        var /= N;
        for (int n = 0; n < N; n++) {
            double v = (x[(size_t)m * N + n] - mean) / sqrt(var + eps);
            y[(size_t)m * N + n] = (float)(v * (g ? g[n] : 1.0) + (b ? b[n] : 0.0));
        }
    }
}

void ops_rmsnorm_naive(float *y, const float *x, const float *g, int M, int N, float eps)
{
    for (int m = 0; m < M; m++) {
        double ss = 0;
        for (int n = 0; n < N; n++) ss += (double)x[(size_t)m * N + n] * x[(size_t)m * N + n];
        double r = 1.0 / sqrt(ss / N + eps);
        for (int n = 0; n < N; n++)
            y[(size_t)m * N + n] = (float)(x[(size_t)m * N + n] * r * (g ? g[n] : 1.0));
    }
}

void ops_gelu_tanh_naive(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        x[i] = (float)(0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v))));
    }
}

void ops_gelu_erf_naive(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0))));
}

void ops_quick_gelu_naive(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] / (1.0 + exp(-1.702 * x[i])));
}

void ops_silu_naive(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] / (1.0 + exp(-(double)x[i])));
}

/* softmax(scale·QKᵀ + bias) V one query at a time, in double, with the full score row. */
void ops_attention_naive(float *out, const float *q, const float *k, const float *v,
                         const OpsAttnShape *s)
{
    double *p = g_new(double, s->Tk > 0 ? s->Tk : 1);
    for (int h = 0; h < s->NH; h++)
        for (int i = 0; i < s->Tq; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < s->Tk; j++) {
                double d = 0;
                for (int e = 0; e < s->HD; e++)
                    d += (double)q[(size_t)i * s->ldq + h * s->HD + e] *
                         k[(size_t)j * s->ldk + h * s->HD + e];
                d *= s->scale;
                if (s->rel_bias)
                    d += s->rel_bias[(size_t)h * (s->Tq + s->Tk - 1) + (j - i) + (s->Tq - 1)];
                if (s->causal && j > i) d = -INFINITY;
                p[j] = d;
                if (d > mx) mx = d;
            }
            for (int j = 0; j < s->Tk; j++) {
                p[j] = exp(p[j] - mx);
                sum += p[j];
            }
            for (int e = 0; e < s->HD; e++) {
                double acc = 0;
                for (int j = 0; j < s->Tk; j++) acc += p[j] * v[(size_t)j * s->ldv + h * s->HD + e];
                out[(size_t)i * s->ldo + h * s->HD + e] = (float)(acc / sum);
            }
        }
    g_free(p);
}

/* ------------------------------------------------------------------------------------- */
/* The elementwise steps of a transformer block: one row, one value at a time            */

void ops_modulate_naive(float *y, const float *x, const float *shift, const float *scale, int M,
                        int N, float eps)
{
    ops_layernorm_naive(y, x, NULL, NULL, M, N, eps);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++)
            y[(size_t)m * N + n] = y[(size_t)m * N + n] * (1.0f + scale[n]) + shift[n];
}

void ops_gated_add_naive(float *x, const float *y, const float *gate, int M, int N)
{
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) x[(size_t)m * N + n] += gate[n] * y[(size_t)m * N + n];
}

void ops_add_naive(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

void ops_rope_naive(float *x, int ld, const float *cos_t, const float *sin_t, int T, int NH, int HD)
{
    for (int t = 0; t < T; t++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i + 1 < HD; i += 2) {
                float *p = x + (size_t)t * ld + (size_t)h * HD + i;
                const float *c = cos_t + (size_t)t * HD + i, *s = sin_t + (size_t)t * HD + i;
                float re = p[0], im = p[1];
                p[0] = re * c[0] - im * s[0];
                p[1] = im * c[1] + re * s[1];
            }
}

void ops_copy_columns_naive(float *dst, int ldd, const float *src, int lds, int w, int n)
{
    for (int r = 0; r < n; r++)
        for (int c = 0; c < w; c++) dst[(size_t)r * ldd + c] = src[(size_t)r * lds + c];
}
