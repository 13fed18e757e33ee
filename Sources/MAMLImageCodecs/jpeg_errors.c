// The libjpeg error manager of jpeg.c and jpeg_encode.c: errors longjmp out, never exit the process.
#include "jpeg_errors.h"

static void on_error(j_common_ptr cinfo) {
    mi_jpeg_errors *err = (mi_jpeg_errors *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    err->base.format_message(cinfo, text);
    snprintf(err->message, err->capacity, "%s: %s", err->context, text);
    longjmp(err->escape, 1);
}

/* Warnings (a premature end of data is one: libjpeg fills the rest with grey) are errors here. */
static void on_warning(j_common_ptr cinfo, int level) {
    if (level < 0) on_error(cinfo);
}

struct jpeg_error_mgr *mi_jpeg_errors_init(mi_jpeg_errors *err, char *message, size_t capacity, const char *context) {
    struct jpeg_error_mgr *base = jpeg_std_error(&err->base);
    base->error_exit = on_error;
    base->emit_message = on_warning;
    err->message = message;
    err->capacity = capacity;
    err->context = context;
    return base;
}
