//! The parts of maml_plugin.h (ABI 1.0) this plugin uses, written out as `#[repr(C)]`
//! types by hand (no bindgen, no crates). docs/abi.md is the normative text; every struct
//! here has the field order and types of the header's.
#![allow(non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_void};

pub const MAML_ABI_MAJOR: u32 = 1;
pub const MAML_ABI_MINOR: u32 = 0;

pub type maml_status = i32;
pub const MAML_OK: maml_status = 0;
pub const MAML_ERR_INVALID_ARGUMENT: maml_status = 1;
pub const MAML_ERR_SHAPE_MISMATCH: maml_status = 2;
pub const MAML_ERR_OUT_OF_MEMORY: maml_status = 3;
pub const MAML_ERR_NUMERICAL: maml_status = 4;
pub const MAML_ERR_UNSUPPORTED: maml_status = 5;
pub const MAML_ERR_INTERNAL: maml_status = 6;

pub const MAML_LOSS_MSE: i32 = 1;
pub const MAML_LOSS_SOFTMAX_CE: i32 = 2;

pub const MAML_EXT_HVP: &[u8] = b"maml.hvp/1";
pub const MAML_EXT_LAYOUT: &[u8] = b"maml.layout/1";
pub const MAML_EXT_OPS: &[u8] = b"maml.ops/1";

#[repr(C)]
#[derive(Clone, Copy)]
pub struct maml_abi_version {
    pub major: u32,
    pub minor: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct maml_shape {
    pub rank: u32,
    pub dims: [u32; 4],
}

#[repr(C)]
pub struct maml_batch {
    pub struct_size: u32,
    pub n: u64,
    pub x: *const f32,
    pub y_float: *const f32,
    pub y_class: *const i32,
}

#[repr(C)]
pub struct maml_host_api {
    pub struct_size: u32,
    pub abi: maml_abi_version,
    pub log: Option<unsafe extern "C" fn(ctx: *mut c_void, level: i32, msg: *const c_char)>,
    pub log_ctx: *mut c_void,
}

/// The instance as the host sees it: an opaque pointer (ours is `crate::Model`).
pub type maml_model = c_void;

#[repr(C)]
pub struct maml_model_desc {
    pub struct_size: u32,
    pub id: *const c_char,
    pub name: *const c_char,
    pub version: *const c_char,
    pub family: *const c_char,
    pub summary: *const c_char,
    pub config_schema: *const c_char,
    pub create: unsafe extern "C" fn(*const c_char, *mut *mut maml_model, *mut c_char, usize) -> maml_status,
    pub destroy: unsafe extern "C" fn(*mut maml_model),
    pub param_count: unsafe extern "C" fn(*const maml_model) -> u64,
    pub input_shape: unsafe extern "C" fn(*const maml_model) -> maml_shape,
    pub output_shape: unsafe extern "C" fn(*const maml_model) -> maml_shape,
    pub loss_kind: unsafe extern "C" fn(*const maml_model) -> i32,
    pub init_params: unsafe extern "C" fn(*mut maml_model, u64, *mut f32) -> maml_status,
    pub forward: unsafe extern "C" fn(*mut maml_model, *const f32, *const maml_batch, *mut f32) -> maml_status,
    pub loss_grad:
        unsafe extern "C" fn(*mut maml_model, *const f32, *const maml_batch, *mut f32, *mut f32) -> maml_status,
    pub last_error: unsafe extern "C" fn(*const maml_model) -> *const c_char,
    pub get_extension: unsafe extern "C" fn(*const maml_model, *const c_char) -> *const c_void,
}

#[repr(C)]
pub struct maml_registry {
    pub struct_size: u32,
    pub abi: maml_abi_version,
    pub requires_minor: u32,
    pub plugin_id: *const c_char,
    pub plugin_version: *const c_char,
    pub built_with: *const c_char,
    pub model_count: u32,
    pub model_at: unsafe extern "C" fn(u32) -> *const maml_model_desc,
}

#[repr(C)]
pub struct maml_ext_hvp {
    pub struct_size: u32,
    pub hvp: unsafe extern "C" fn(*mut maml_model, *const f32, *const maml_batch, *const f32, *mut f32) -> maml_status,
}

#[repr(C)]
pub struct maml_tensor_info {
    pub struct_size: u32,
    pub name: *const c_char,
    pub offset: u64,
    pub shape: maml_shape,
    pub role: *const c_char,
}

#[repr(C)]
pub struct maml_ext_layout {
    pub struct_size: u32,
    pub tensor_count: unsafe extern "C" fn(*const maml_model) -> u32,
    pub tensor_at: unsafe extern "C" fn(*const maml_model, u32) -> *const maml_tensor_info,
}

#[repr(C)]
pub struct maml_op {
    pub struct_size: u32,
    pub name: *const c_char,
    pub help: *const c_char,
    pub signature: *const c_char,
    /// Cast to the real type before calling (the host does, by the signature).
    pub fn_: *const c_void,
}

#[repr(C)]
pub struct maml_ext_ops {
    pub struct_size: u32,
    pub op_count: unsafe extern "C" fn(*const maml_model) -> u32,
    pub op_at: unsafe extern "C" fn(*const maml_model, u32) -> *const maml_op,
}

/// Plugin-owned statics hold raw pointers, which are not `Sync`; these never change
/// and point at other statics, so sharing them across threads is sound.
#[repr(transparent)]
pub struct Shared<T>(pub T);
unsafe impl<T> Sync for Shared<T> {}

/// `size_of::<T>()` as the `struct_size` field wants it.
pub const fn size_of_u32<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}
