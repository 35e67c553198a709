/* fuzz_model_config.c — a model folder whose configs are hostile: the input picks one
 * config file of the reference tiny model (first byte), a key and a JSON value ("key\0value")
 * to set in it, so that type and range checks and the config-versus-tensor checks of every
 * loader are reached; a first byte >= 0x80 replaces the whole file with the raw bytes.
 * Loading must fail cleanly or succeed; a successful load then runs a tiny generation. */
#include "flux.h"
#include "fuzz_common.h"

#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

static const char *files[] = {
    "model_index.json",         "transformer/config.json",    "vae/config.json",
    "text_encoder/config.json", "text_encoder_2/config.json", "scheduler/scheduler_config.json"};

/* The original config with `key` set to `value` (parsed as JSON, else as a string). */
static char *patched(const char *orig, const char *key, const char *value, gsize vlen)
{
    g_autoptr(JsonParser) p = json_parser_new();
    if (!json_parser_load_from_file(p, orig, NULL)) abort();
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    g_autoptr(JsonParser) vp = json_parser_new();
    JsonNode *v;
    if (json_parser_load_from_data(vp, value, (gssize)vlen, NULL) && json_parser_get_root(vp))
        v = json_node_copy(json_parser_get_root(vp));
    else
        v = json_node_init_string(json_node_alloc(),
                                  g_utf8_validate(value, (gssize)vlen, NULL) ? value : "?");
    json_object_set_member(o, key, v);
    g_autoptr(JsonGenerator) g = json_generator_new();
    json_generator_set_root(g, json_parser_get_root(p));
    return json_generator_to_data(g, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *model = fuzz_model_copy();
    guint which = (data[0] & 0x7f) % G_N_ELEMENTS(files);
    g_autofree char *target = g_build_filename(model, files[which], NULL);
    g_autofree char *orig =
        g_build_filename(g_getenv("FLUX_REFERENCE_DIR"), "tiny-flux-dev", files[which], NULL);
    g_autofree char *text = NULL;
    if (data[0] & 0x80) {
        text = g_strndup((const char *)data + 1, size - 1);
    } else {
        g_autofree char *rest = g_strndup((const char *)data + 1, size - 1);
        size_t klen = strlen(rest);
        const char *value = klen + 1 < size - 1 ? rest + klen + 1 : "";
        text = patched(orig, g_utf8_validate(rest, -1, NULL) ? rest : "k", value,
                       klen + 1 < size - 1 ? size - 2 - klen : 0);
    }
    g_unlink(target);
    if (!g_file_set_contents(target, text, (data[0] & 0x80) ? (gssize)(size - 1) : -1, NULL))
        abort();

    GError *err = NULL;
    FluxModel *m = flux_model_load(model, &err);
    if (m) {
        FluxGenerateParams p;
        flux_generate_params_init(&p, m);
        p.prompt = "a cat";
        p.width = p.height = 32;
        p.steps = 1;
        p.max_sequence_length = 8;
        int w, h;
        flux_output_size(&p, &w, &h);
        guint8 *rgb = g_malloc((gsize)w * h * 3);
        if (!flux_generate(m, &p, rgb, &err)) g_clear_error(&err);
        g_free(rgb);
        flux_model_free(m);
    } else {
        g_clear_error(&err);
    }
    /* restore the original file for the next input */
    g_unlink(target);
    if (symlink(orig, target) != 0) abort();
    return 0;
}
