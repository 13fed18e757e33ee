/*
 * maml_ffi.h - accessors for libffi's predefined type descriptors.
 *
 * libffi exposes its types as mutable extern globals (ffi_type_uint64, ...).
 * Swift 6 refuses to touch mutable globals from C (strict concurrency: they are
 * not concurrency-safe), so the host takes their addresses through these
 * functions instead. libffi never writes to them after load.
 */
#ifndef MAML_FFI_H
#define MAML_FFI_H

#include <ffi.h>

ffi_type *mamlffi_type_void(void);
ffi_type *mamlffi_type_sint32(void);
ffi_type *mamlffi_type_sint64(void);
ffi_type *mamlffi_type_uint64(void);
ffi_type *mamlffi_type_float(void);
ffi_type *mamlffi_type_double(void);
ffi_type *mamlffi_type_pointer(void);

/* FFI_DEFAULT_ABI of this platform. */
ffi_abi mamlffi_default_abi(void);

#endif
