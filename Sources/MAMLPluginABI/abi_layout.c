// Compile-time checks of the ABI's layout on this platform: these offsets are
// the contract with plugins built by other compilers, so a change here is an
// ABI break and fails the build.
#include "maml_plugin.h"

#define MAML_LAYOUT(type, field, off) \
    _Static_assert(offsetof(type, field) == (off), #type "." #field " moved: ABI break")

#if UINTPTR_MAX == 0xffffffffffffffffu
MAML_LAYOUT(maml_registry, abi, 4);
MAML_LAYOUT(maml_registry, requires_minor, 12);
MAML_LAYOUT(maml_registry, plugin_id, 16);
MAML_LAYOUT(maml_registry, model_count, 40);
MAML_LAYOUT(maml_registry, model_at, 48);
_Static_assert(sizeof(maml_registry) == 56, "maml_registry size changed");
MAML_LAYOUT(maml_model_desc, id, 8);
MAML_LAYOUT(maml_model_desc, create, 56);
MAML_LAYOUT(maml_model_desc, get_extension, 136);
_Static_assert(sizeof(maml_model_desc) == 144, "maml_model_desc size changed");
MAML_LAYOUT(maml_batch, n, 8);
MAML_LAYOUT(maml_batch, y_class, 32);
_Static_assert(sizeof(maml_shape) == 20, "maml_shape size changed");
MAML_LAYOUT(maml_ext_hvp, hvp, 8);
MAML_LAYOUT(maml_ext_vjp, vjp, 8);
_Static_assert(sizeof(maml_ext_vjp) == 16, "maml_ext_vjp size changed");
#endif
