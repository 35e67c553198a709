/* flux-intl.h — gettext for the plug-in and its dialog: _() looks up our own domain
 * (GETTEXT_PACKAGE, bound by flux_intl_init), whatever textdomain() libgimp has set. */
#pragma once

#include "frontend-config.h"

#include <glib/gi18n-lib.h>

/* Binds GETTEXT_PACKAGE to `locale_dir` (UTF-8 output). */
void flux_intl_init(const char *locale_dir);
