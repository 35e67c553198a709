/* testutil.h — helpers shared by the test programs: the reference pack and comparisons. */
#pragma once

#include "clip.h"
#include "flux.h"
#include "safetensors.h"
#include "t5.h"
#include "transformer.h"
#include "vae.h"
#include <glib.h>
#include <json-glib/json-glib.h>

/* The reference pack (env FLUX_REFERENCE_DIR, set by meson). */
const char *tu_ref_dir(void);
/* <ref>/tiny-flux-dev[/sub...] — newly allocated. */
char *tu_model_path(const char *sub);
/* The tiny reference model loaded with flux_model_load; aborts the test on an error. Caller
 * frees with flux_model_free. */
FluxModel *tu_tiny_model(void);
/* Opens <model>/golden/<file>; aborts the test when missing. Cached for the process. */
StFile *tu_golden(const char *file);
/* golden/manifest.json's entry for a golden file (files[file]: settings, prompts, lengths);
 * the manifest is parsed once and owned by testutil. Aborts the test when missing. */
JsonObject *tu_golden_manifest(const char *file);
/* A tensor of a golden file; aborts the test when missing. */
StTensor *tu_golden_tensor(const char *file, const char *name);
/* Float32 copy of any float tensor (caller frees with g_free). */
float *tu_f32(const StTensor *t);

/* max |got - ref| / max(1, max |ref|) over n values; on failure prints the first values,
 * the worst index and the ratio, and fails the test. Returns the max relative diff. */
double tu_assert_close(const char *what, const float *got, const float *ref, size_t n, double tol);
/* Same against a golden tensor (checks numel too). */
double tu_assert_close_t(const char *what, const float *got, const StTensor *ref, double tol);

/* Writes `len` bytes to a new temporary file and returns its path (caller frees; removed
 * at exit). */
char *tu_temp_file(const char *suffix, const void *data, size_t len);
/* A fresh temporary directory (removed recursively at exit). */
char *tu_temp_dir(void);

/* python3 that can import numpy ($FLUX_PYTHON, then PATH, then /usr/bin/python3), or NULL.
 * Looked up once per process; owned by testutil. */
const char *tu_python_with_numpy(void);
/* <tmp>/<file> of tests/convert_checkpoint.py's conversion of the tiny model, made once per
 * process (caller frees the path). Needs tu_python_with_numpy(). */
char *tu_converted(const char *file);
/* Runs tests/<script> with tu_python_with_numpy() and the NULL-terminated arguments; the test
 * aborts with the script's stderr when it fails. */
void tu_run_python_script(const char *script, ...) G_GNUC_NULL_TERMINATED;
/* TRUE when the two files hold the same bytes. */
gboolean tu_same_file(const char *a, const char *b);

/* float32 → bf16 with round-to-nearest-even (torch's .to(torch.bfloat16)); NaN stays NaN. */
guint16 tu_bf16_rne(float f);

/* Checks that *err is a FLUX_ERROR of `code` whose message mentions every string of `needles`
 * (NULL-terminated), logs the message, and clears *err. */
void tu_expect_error(GError **err, int code, const char *const *needles);

/* A FluxGenerateParams.trace callback keeping a copy of every float32 stage by name:
 * user_data is a table from tu_capture_new() (name → float[]; g_hash_table_destroy frees it). */
GHashTable *tu_capture_new(void);
void tu_capture_trace(const char *name, FluxDtype dt, int ndim, const int64_t *shape,
                      const void *data, void *user_data);

/* A config.json edit: value NULL removes the key; the value is consumed. */
typedef struct {
    const char *key;
    struct _JsonNode *value;
} TuCfgEdit;
/* A new temp dir holding <src>/config.json with `edits` applied (terminated by {NULL}) and,
 * when `weights` is non-NULL, a link to <src>/<weights>. Caller frees the path. */
char *tu_variant_dir(const char *src, const TuCfgEdit *edits, const char *weights);

/* An 8-bit RGB copy of any PNG (libpng's simplified API; grey is replicated, alpha dropped),
 * [h, w, 3]; NULL after failing the test when it cannot be read. Caller frees. */
guint8 *tu_read_png(const char *path, int *w, int *h);

/* Deterministic pseudo-random floats in [-1, 1) (xorshift; independent of the project RNG). */
void tu_fill_random(float *x, size_t n, guint32 seed);

/* A component folder (config.json + weights) loaded as flux_model_load_files loads it
 * (model_folder_part, then the module's one loader). NULL with `error` set. */
ClipModel *tu_clip_dir(const char *dir, GError **error);
T5Model *tu_t5_dir(const char *dir, GError **error);
VaeModel *tu_vae_dir(const char *dir, GError **error);
DitModel *tu_dit_dir(const char *dir, GError **error);
