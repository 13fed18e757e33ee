#include "maml_ffi.h"

ffi_type *mamlffi_type_void(void) { return &ffi_type_void; }
ffi_type *mamlffi_type_sint32(void) { return &ffi_type_sint32; }
ffi_type *mamlffi_type_sint64(void) { return &ffi_type_sint64; }
ffi_type *mamlffi_type_uint64(void) { return &ffi_type_uint64; }
ffi_type *mamlffi_type_float(void) { return &ffi_type_float; }
ffi_type *mamlffi_type_double(void) { return &ffi_type_double; }
ffi_type *mamlffi_type_pointer(void) { return &ffi_type_pointer; }

ffi_abi mamlffi_default_abi(void) { return FFI_DEFAULT_ABI; }
