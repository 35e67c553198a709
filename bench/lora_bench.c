/* lora_bench.c — what LoRAs cost per transformer step (issue 14): one forward without LoRA,
 * then with a LoRA of each rank on every linear of every block (attention q/k/v/out, the MLPs,
 * the modulations: what a full-coverage kohya or ai-toolkit LoRA touches), on the same
 * context, timed alternately. Prints the process's CPU seconds per forward (not wall time:
 * on a shared machine CPU time is what stays comparable; run it with FLUX_THREADS=1 and
 * OPENBLAS_NUM_THREADS=1 so that no thread spins while waiting) and the overhead in percent.
 *
 *   flux-lora-bench TRANSFORMER_DIR [--size 512] [--ranks 16,64] [--repeat 2] [--txt 512]
 *
 * TRANSFORMER_DIR: a diffusers transformer folder at the real width, e.g. the one
 * tests/lora/make_lora_case.py writes (1 double + 1 single block: the blocks are ~99 % of a
 * step's work at any depth, so the percentage holds for FLUX.1's 19 + 38). Image tokens
 * T_img = (size/16)², text tokens T_txt (512 = FLUX's max_sequence_length). The LoRA values
 * are random (the cost does not depend on them).
 */
#include "flux.h"
#include "lora.h"
#include "model.h"
#include "safetensors.h"
#include "transformer.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fill(float *x, size_t n, guint32 s)
{
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) * (1.0 / 8388608.0) - 1.0) * 0.01f;
    }
}

/* A diffusers-named LoRA of rank r on every 2-D weight inside the blocks of `base`. */
static char *write_lora(StArchive *base, int r, const char *dir)
{
    StWriter *w = st_writer_new();
    for (gsize i = 0; i < st_archive_n_tensors(base); i++) {
        const StTensor *t = st_archive_tensor(base, i);
        if (t->ndim != 2 || !g_str_has_suffix(t->name, ".weight") ||
            !(g_str_has_prefix(t->name, "transformer_blocks.") ||
              g_str_has_prefix(t->name, "single_transformer_blocks.")))
            continue;
        g_autofree char *layer = g_strndup(t->name, strlen(t->name) - strlen(".weight"));
        g_autofree char *na = g_strconcat("transformer.", layer, ".lora_A.weight", NULL);
        g_autofree char *nb = g_strconcat("transformer.", layer, ".lora_B.weight", NULL);
        int64_t sa[2] = {r, t->shape[1]}, sb[2] = {t->shape[0], r};
        float *a = g_new(float, sa[0] * sa[1]), *b = g_new(float, sb[0] * sb[1]);
        fill(a, (size_t)(sa[0] * sa[1]), (guint32)i);
        fill(b, (size_t)(sb[0] * sb[1]), (guint32)i + 7);
        st_writer_add(w, na, ST_F32, 2, sa, a);
        st_writer_add(w, nb, ST_F32, 2, sb, b);
        g_free(a), g_free(b);
    }
    g_autofree char *name = g_strdup_printf("rank%d.safetensors", r);
    char *path = g_build_filename(dir, name, NULL);
    GError *err = NULL;
    if (!st_writer_save(w, path, &err)) g_error("%s", err->message);
    st_writer_free(w);
    return path;
}

static double forward_s(DitContext *c, int T_img, int T_txt, const DitConfig *cfg)
{
    float *hid = g_new(float, (size_t)T_img * cfg->in_channels);
    float *enc = g_new(float, (size_t)T_txt * cfg->joint_attention_dim);
    float *pooled = g_new(float, cfg->pooled_projection_dim);
    float *img_ids = g_new0(float, (size_t)T_img * 3), *txt_ids = g_new0(float, (size_t)T_txt * 3);
    float *out = g_new(float, (size_t)T_img * cfg->out_channels);
    fill(hid, (size_t)T_img * cfg->in_channels, 1);
    fill(enc, (size_t)T_txt * cfg->joint_attention_dim, 2);
    fill(pooled, cfg->pooled_projection_dim, 3);
    float t = 0.5f, g = 3.5f;
    GError *err = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    if (!dit_forward(c, hid, enc, pooled, &t, &g, img_ids, txt_ids, out, NULL, &err))
        g_error("%s", err->message);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    g_free(hid), g_free(enc), g_free(pooled), g_free(img_ids), g_free(txt_ids), g_free(out);
    return s;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s TRANSFORMER_DIR [--size 512] [--ranks 16,64] [--repeat 2] "
                "[--txt 512]\n",
                argv[0]);
        return 2;
    }
    int size = 512, repeat = 2, T_txt = 512;
    const char *ranks_arg = "16,64";
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--ranks")) ranks_arg = argv[i + 1];
        if (!strcmp(argv[i], "--repeat")) repeat = MAX(1, atoi(argv[i + 1]));
        if (!strcmp(argv[i], "--txt")) T_txt = atoi(argv[i + 1]);
    }
    GError *err = NULL;
    CfgJson *mc;
    StArchive *ma;
    DitModel *m = model_folder_part(argv[1], "diffusion_pytorch_model", &mc, &ma, &err)
                      ? dit_load(mc, ma, &err)
                      : NULL;
    cfg_free(mc);
    if (!m) g_error("%s", err->message);
    const DitConfig *cfg = dit_config(m);
    int T_img = (size / 16) * (size / 16);
    DitContext *c = dit_context_new(m, 1, T_img, T_txt, &err);
    if (!c) g_error("%s", err->message);
    g_auto(GStrv) ranks = g_strsplit(ranks_arg, ",", 0);
    int n_ranks = (int)g_strv_length(ranks);
    char *dir = g_dir_make_tmp("flux-lora-bench-XXXXXX", NULL);
    char **paths = g_new0(char *, n_ranks + 1);
    for (int k = 0; k < n_ranks; k++) paths[k] = write_lora(dit_archive(m), atoi(ranks[k]), dir);
    printf("%s: D %d, %d double + %d single blocks, %d×%d (T_img %d, T_txt %d), %s\n", argv[1],
           cfg->inner_dim, cfg->num_layers, cfg->num_single_layers, size, size, T_img, T_txt,
           dit_context_device(c));
    forward_s(c, T_img, T_txt, cfg); /* warm-up: page in the weights */
    double *base = g_new0(double, repeat), *with = g_new0(double, (gsize)repeat *n_ranks);
    for (int r = 0; r < repeat; r++) {
        dit_context_set_lora(c, NULL, NULL);
        base[r] = forward_s(c, T_img, T_txt, cfg);
        for (int k = 0; k < n_ranks; k++) {
            FluxLora l = {paths[k], 1.0f};
            StArchive *a =
                lora_load(&l, 1, dit_archive(m), NULL, NULL, NULL, &err); /* milliseconds */
            if (!a || !dit_context_set_lora(c, a, &err)) g_error("%s", err->message);
            with[r * n_ranks + k] = forward_s(c, T_img, T_txt, cfg);
        }
    }
    for (int k = 0; k < n_ranks; k++) g_unlink(paths[k]);
    g_rmdir(dir);
    g_free(dir);
    g_strfreev(paths);
    double b = base[0];
    for (int r = 1; r < repeat; r++) b = MIN(b, base[r]);
    printf("no LoRA      %8.3f CPU s per forward (best of %d)\n", b, repeat);
    for (int k = 0; k < n_ranks; k++) {
        double x = with[k];
        for (int r = 1; r < repeat; r++) x = MIN(x, with[r * n_ranks + k]);
        printf("rank %-4s    %8.3f CPU s per forward  %+6.1f %%\n", ranks[k], x,
               100.0 * (x - b) / b);
    }
    dit_context_free(c);
    dit_free(m);
    g_free(base), g_free(with);
    return 0;
}
