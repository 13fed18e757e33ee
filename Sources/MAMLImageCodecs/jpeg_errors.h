/* jpeg_errors.h (internal): the libjpeg error manager both directions share.
 * libjpeg's error_exit must not return, so it longjmps to `escape`, which the caller set with
 * setjmp before its first libjpeg call; the message lands in the caller's error text. Warnings
 * are errors too: a half-decoded image must not become training data, nor a half-written file a
 * fixture. */
#ifndef MAML_JPEG_ERRORS_H
#define MAML_JPEG_ERRORS_H

#include <stdio.h>     /* before jpeglib.h, which uses FILE */
#include <jpeglib.h>
#include <setjmp.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    char *message;          /* the caller's error text (mi_image.error, mi_buffer.error) */
    size_t capacity;
    const char *context;    /* what failed, e.g. "corrupt or truncated JPEG" */
} mi_jpeg_errors;

/* Sets up `err` and returns the manager for cinfo.err. */
struct jpeg_error_mgr *mi_jpeg_errors_init(mi_jpeg_errors *err, char *message, size_t capacity, const char *context);

#endif
