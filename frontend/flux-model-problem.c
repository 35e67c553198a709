/* flux-model-problem.c — the artist's sentences for flux_model_check's problems
 * (flux-model-problem.h). Each message is one translatable string with its paths as
 * arguments, so a translation is never half English. */
#include "flux-model-problem.h"

#include "flux-intl.h"

/* "the VAE (ae.safetensors)" and so on, for the sentences about a missing companion. */
static const char *part_name(FluxProblemPart part)
{
    switch (part) {
    case FLUX_MODEL_PART_TRANSFORMER:
        return _("the transformer (the large model file)");
    case FLUX_MODEL_PART_VAE:
        return _("the VAE (ae.safetensors)");
    case FLUX_MODEL_PART_CLIP_L:
        return _("the CLIP-L text encoder (clip_l.safetensors)");
    case FLUX_MODEL_PART_T5:
        return _("the T5 text encoder (t5xxl_fp16.safetensors, t5xxl_fp8_e4m3fn.safetensors or "
                 "a t5xxl GGUF file)");
    case FLUX_MODEL_PART_TOKENIZERS:
        return _("the tokenizers (the folders tokenizer and tokenizer_2)");
    case FLUX_MODEL_PART_CONFIG:
        return _("a configuration file");
    case FLUX_MODEL_PART_NONE:
        break;
    }
    return _("a part of the model");
}

static gboolean is_companion(FluxProblemPart part)
{
    return part == FLUX_MODEL_PART_VAE || part == FLUX_MODEL_PART_CLIP_L ||
           part == FLUX_MODEL_PART_T5;
}

static char *missing(const char *model, const FluxModelProblem *pb)
{
    if (g_file_test(model, G_FILE_TEST_IS_DIR))
        /* TRANSLATORS: %1$s: the missing file or folder, %2$s: what it is */
        return g_strdup_printf(_("The model folder is incomplete: “%1$s” (%2$s) is missing. The "
                                 "download probably stopped early: download the model again "
                                 "(only the missing part is needed)."),
                               pb->path, part_name(pb->part));
    if (pb->part == FLUX_MODEL_PART_TOKENIZERS)
        return g_strdup_printf(_("The tokenizers were not found. They are installed with the "
                                 "plug-in: install it again, or copy the folders tokenizer and "
                                 "tokenizer_2 of a FLUX.1 model into one of these folders:\n%s"),
                               pb->looked ? pb->looked : pb->path);
    /* TRANSLATORS: %1$s: what is missing, %2$s: the folders looked in, one per line */
    return g_strdup_printf(_("The model file was found, but not %1$s that goes with it. Put it "
                             "into one of these folders (as ComfyUI keeps them):\n%2$s"),
                           part_name(pb->part), pb->looked ? pb->looked : pb->path);
}

/* A companion chosen by hand (a model string's vae=, clip_l=, t5=) that is not there or not
 * that part. */
static char *chosen_wrong(const FluxModelProblem *pb)
{
    if (pb->kind == FLUX_MODEL_PROBLEM_NOT_FOUND)
        /* TRANSLATORS: %1$s: a file, %2$s: which part of the model it was chosen as */
        return g_strdup_printf(_("“%1$s”, chosen as %2$s, does not exist. Choose the file again "
                                 "under Model files, or press Automatic to find it by itself."),
                               pb->path, part_name(pb->part));
    /* TRANSLATORS: %1$s: a file, %2$s: which part of the model it was chosen as */
    return g_strdup_printf(_("“%1$s” is not %2$s: it holds other weights. Choose the right "
                             "file under Model files, or press Automatic to find it by itself."),
                           pb->path, part_name(pb->part));
}

/* A single file of another size than FLUX.1's, without the config beside it that says what
 * its tensors cannot (or with one that is another file's). */
static char *needs_config(const FluxModelProblem *pb)
{
    const char *beside = pb->looked ? pb->looked : "";
    if (g_file_test(beside, G_FILE_TEST_IS_REGULAR))
        /* TRANSLATORS: %1$s: the configuration file, %2$s: the model file beside it,
         * %3$s: which part of the model that is */
        return g_strdup_printf(_("“%1$s” does not fit “%2$s” (%3$s): its sizes are another "
                                 "file's. Put there the config.json that came with this file, "
                                 "or remove it."),
                               beside, pb->path, part_name(pb->part));
    /* TRANSLATORS: %1$s: a model file, %2$s: which part of the model it is, %3$s: the
     * configuration file to put beside it */
    return g_strdup_printf(_("“%1$s” (%2$s) is not the size of FLUX.1's, and some of its "
                             "settings cannot be read from the file itself. Put the "
                             "config.json that came with it beside it as “%3$s”."),
                           pb->path, part_name(pb->part), beside);
}

char *flux_model_problem_message(const char *spec, const FluxModelProblem *pb)
{
    FluxModelSpec parsed = {0};
    flux_model_spec_parse(spec, &parsed, NULL);
    g_autofree char *model = g_strdup(parsed.path ? parsed.path : spec);
    flux_model_spec_clear(&parsed);
    if ((pb->kind == FLUX_MODEL_PROBLEM_NOT_FOUND || pb->kind == FLUX_MODEL_PROBLEM_NOT_A_MODEL) &&
        is_companion(pb->part))
        return chosen_wrong(pb);
    switch (pb->kind) {
    case FLUX_MODEL_PROBLEM_SYNTAX:
        /* TRANSLATORS: %1$s: the model text as written, %2$s: the wrong part of it */
        return g_strdup_printf(_("The model “%1$s” cannot be read: “%2$s” is not one of its "
                                 "parts. After the model's folder or file, write each chosen "
                                 "file once, as ;vae=FILE, ;clip_l=FILE or ;t5=FILE."),
                               spec, pb->path);
    case FLUX_MODEL_PROBLEM_NOT_FOUND:
        return g_strdup_printf(_("“%s” does not exist. Choose the folder of a FLUX.1 model or "
                                 "its transformer file (.safetensors or .gguf)."),
                               model);
    case FLUX_MODEL_PROBLEM_NOT_A_MODEL:
        if (pb->part == FLUX_MODEL_PART_TRANSFORMER)
            return g_strdup_printf(_("“%s” is not a FLUX.1 transformer. Choose the large model "
                                     "file (such as flux1-schnell.safetensors or "
                                     "flux1-dev-Q4_K_S.gguf), not the VAE or a text encoder."),
                                   pb->path);
        return g_strdup_printf(_("“%s” is not a FLUX.1 model folder (it has no "
                                 "model_index.json). Choose the folder you downloaded, such as "
                                 "FLUX.1-schnell, or a transformer file such as "
                                 "flux1-schnell.safetensors."),
                               pb->path);
    case FLUX_MODEL_PROBLEM_MISSING:
        return missing(model, pb);
    case FLUX_MODEL_PROBLEM_TRUNCATED: {
        g_autofree char *have = g_format_size(pb->actual_bytes);
        g_autofree char *want = g_format_size(pb->expected_bytes);
        /* TRANSLATORS: %1$s: a file, %2$s and %3$s: sizes such as "1.2 GB" */
        return g_strdup_printf(_("“%1$s” is incomplete: it has %2$s of the %3$s it should have. "
                                 "Its download was interrupted: download this file again."),
                               pb->path, have, want);
    }
    case FLUX_MODEL_PROBLEM_DAMAGED:
        return g_strdup_printf(_("“%s” cannot be read: it is damaged or not a model file. "
                                 "Download it again."),
                               pb->path);
    case FLUX_MODEL_PROBLEM_NEEDS_CONFIG:
        return needs_config(pb);
    case FLUX_MODEL_PROBLEM_NONE:
        break;
    }
    return g_strdup_printf(_("“%s” cannot be used as a FLUX.1 model."), model);
}
