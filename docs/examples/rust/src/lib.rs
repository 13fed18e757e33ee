//! tinymlp-rs: the model of docs/authoring.md (a one-hidden-layer tanh network for
//! regression, exact gradient and exact Hessian-vector product) as a Rust `cdylib`.
//!
//!     a = W1 x + b1,   h = tanh(a),   o = W2 h + b2,   loss = mean squared error
//!
//! Parameters (row-major): W1 [hidden][inputs], b1 [hidden], W2 [outputs][hidden], b2 [outputs].
//! No crates: the ABI types are in abi.rs. No panic crosses the boundary: every entry
//! point runs its body under `catch_unwind` and turns a panic into MAML_ERR_INTERNAL with
//! a message (the `selftest_panic` op shows it: `maml-host call tinymlp-rs selftest_panic`).
mod abi;

use abi::*;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

// MARK: - The instance

struct Model {
    d: usize,
    h: usize,
    k: usize,
    p: usize,
    a: Vec<f64>,     // pre-activations of one example
    t: Vec<f64>,     // tanh(a)
    rt: Vec<f64>,    // directional derivative of t (HVP)
    dout: Vec<f64>,  // dL/do
    rdout: Vec<f64>, // its directional derivative
    acc: Vec<f64>,   // gradient or HVP accumulator, p doubles
    tensors: [maml_tensor_info; 4],
    error: CString,
}

/// A failed call: the status and the message `last_error` will return.
type Failure = (maml_status, String);

fn invalid(message: String) -> Failure {
    (MAML_ERR_INVALID_ARGUMENT, message)
}

impl Model {
    fn new(d: usize, h: usize, k: usize) -> Model {
        let p = h * d + h + k * h + k;
        let shape = |rank: u32, a: usize, b: usize| maml_shape { rank, dims: [a as u32, b as u32, 0, 0] };
        let tensor = |name: &'static CStr, offset: usize, shape: maml_shape, role: &'static CStr| maml_tensor_info {
            struct_size: size_of_u32::<maml_tensor_info>(),
            name: name.as_ptr(),
            offset: offset as u64,
            shape,
            role: role.as_ptr(),
        };
        let (b1, w2, b2) = (h * d, h * d + h, h * d + h + k * h);
        Model {
            d, h, k, p,
            a: vec![0.0; h], t: vec![0.0; h], rt: vec![0.0; h],
            dout: vec![0.0; k], rdout: vec![0.0; k], acc: vec![0.0; p],
            tensors: [
                tensor(c"hidden.weight", 0, shape(2, h, d), c"body"),
                tensor(c"hidden.bias", b1, shape(1, h, 0), c"body"),
                tensor(c"out.weight", w2, shape(2, k, h), c"head"),
                tensor(c"out.bias", b2, shape(1, k, 0), c"head"),
            ],
            error: CString::default(),
        }
    }

    fn off_b1(&self) -> usize { self.h * self.d }
    fn off_w2(&self) -> usize { self.off_b1() + self.h }
    fn off_b2(&self) -> usize { self.off_w2() + self.k * self.h }

    fn set_error(&mut self, message: String) {
        self.error = CString::new(message.replace('\0', " ")).unwrap_or_default();
    }

    /// Hidden layer of one example into self.a and self.t.
    fn hidden(&mut self, p: &[f32], x: &[f32]) {
        let (w1, b1) = (&p[..self.off_b1()], &p[self.off_b1()..self.off_w2()]);
        for j in 0..self.h {
            let s = b1[j] as f64 + (0..self.d).map(|i| w1[j * self.d + i] as f64 * x[i] as f64).sum::<f64>();
            self.a[j] = s;
            self.t[j] = s.tanh();
        }
    }

    /// Output unit c of one example, from self.t.
    fn output(&self, p: &[f32], c: usize) -> f64 {
        let (w2, b2) = (&p[self.off_w2()..self.off_b2()], &p[self.off_b2()..]);
        b2[c] as f64 + (0..self.h).map(|j| w2[c * self.h + j] as f64 * self.t[j]).sum::<f64>()
    }
}

// MARK: - Arguments: raw pointers to checked slices

/// The batch's x and, if `target`, y_float, as slices; refuses NULLs and n = 0.
unsafe fn batch_slices<'a>(m: &Model, call: &str, params: *const f32, batch: *const maml_batch, target: bool)
    -> Result<(&'a [f32], usize, &'a [f32], &'a [f32]), Failure> {
    if params.is_null() { return Err(invalid(format!("{call}: params is NULL"))); }
    let b = batch.as_ref().ok_or_else(|| invalid(format!("{call}: batch is NULL")))?;
    if b.n == 0 { return Err(invalid(format!("{call}: batch has n = 0 examples"))); }
    if b.x.is_null() { return Err(invalid(format!("{call}: batch x is NULL"))); }
    if target && b.y_float.is_null() { return Err(invalid(format!("{call}: batch y_float is NULL (MSE loss)"))); }
    let n = b.n as usize;
    let y = if target { std::slice::from_raw_parts(b.y_float, n * m.k) } else { &[] };
    Ok((std::slice::from_raw_parts(params, m.p), n, std::slice::from_raw_parts(b.x, n * m.d), y))
}

/// Runs `body` on the instance behind `m`; a Failure or a panic becomes a status and a message.
fn guarded(m: *mut maml_model, body: impl FnOnce(&mut Model) -> Result<(), Failure>) -> maml_status {
    let Some(model) = (unsafe { (m as *mut Model).as_mut() }) else { return MAML_ERR_INVALID_ARGUMENT };
    match catch_unwind(AssertUnwindSafe(|| body(&mut *model))) {
        Ok(Ok(())) => MAML_OK,
        Ok(Err((status, message))) => {
            model.set_error(message);
            status
        }
        Err(panic) => {
            let what = panic.downcast_ref::<&str>().map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            model.set_error(format!("internal error (a Rust panic, caught at the boundary): {what}"));
            MAML_ERR_INTERNAL
        }
    }
}

// MARK: - The config: a flat JSON object of integers

fn parse_config(json: &str) -> Result<(usize, usize, usize), String> {
    let (mut d, mut h, mut k) = (1usize, 40usize, 1usize);
    let text = json.trim();
    if text.is_empty() { return Ok((d, h, k)); }
    let inner = text.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| format!("config must be a JSON object, found: {}", text.chars().take(40).collect::<String>()))?;
    if inner.trim().is_empty() { return Ok((d, h, k)); }
    for member in inner.split(',') {
        let (key, value) = member.split_once(':').ok_or_else(|| format!("config: expected \"key\": value, found: {}", member.trim()))?;
        let key = key.trim();
        let name = key.strip_prefix('"').and_then(|s| s.strip_suffix('"'))
            .ok_or_else(|| format!("config: expected a quoted key, found: {key}"))?;
        let slot = match name {
            "inputs" => &mut d,
            "hidden" => &mut h,
            "outputs" => &mut k,
            _ => return Err(format!("unknown config key \"{name}\" (known: inputs, hidden, outputs)")),
        };
        let value = value.trim();
        let number: i64 = value.parse().map_err(|_| format!("config key \"{name}\": expected an integer, found: {value}"))?;
        if !(1..=4096).contains(&number) {
            return Err(format!("config key \"{name}\": {number} is out of range [1, 4096]"));
        }
        *slot = number as usize;
    }
    Ok((d, h, k))
}

/// Copies `message` NUL-terminated into err[0..len), truncated (byte-wise) to fit.
unsafe fn write_err(err: *mut c_char, len: usize, message: &str) {
    if err.is_null() || len == 0 { return; }
    let bytes = message.as_bytes();
    let count = bytes.len().min(len - 1);
    ptr::copy_nonoverlapping(bytes.as_ptr() as *const c_char, err, count);
    *err.add(count) = 0;
}

// MARK: - Descriptor functions

unsafe extern "C" fn create(config: *const c_char, out: *mut *mut maml_model, err: *mut c_char, len: usize) -> maml_status {
    let result = catch_unwind(|| {
        if out.is_null() { return Err(invalid("create: out is NULL".into())); }
        *out = ptr::null_mut();
        let text = if config.is_null() { "" } else {
            CStr::from_ptr(config).to_str().map_err(|_| invalid("config is not UTF-8".into()))?
        };
        let (d, h, k) = parse_config(text).map_err(invalid)?;
        *out = Box::into_raw(Box::new(Model::new(d, h, k))) as *mut maml_model;
        Ok(())
    });
    match result {
        Ok(Ok(())) => MAML_OK,
        Ok(Err((status, message))) => { write_err(err, len, &message); status }
        Err(_) => { write_err(err, len, "internal error: create panicked"); MAML_ERR_INTERNAL }
    }
}

unsafe extern "C" fn destroy(m: *mut maml_model) {
    if !m.is_null() { drop(Box::from_raw(m as *mut Model)); }
}

unsafe extern "C" fn param_count(m: *const maml_model) -> u64 { (*(m as *const Model)).p as u64 }

unsafe extern "C" fn input_shape(m: *const maml_model) -> maml_shape {
    maml_shape { rank: 1, dims: [(*(m as *const Model)).d as u32, 0, 0, 0] }
}

unsafe extern "C" fn output_shape(m: *const maml_model) -> maml_shape {
    maml_shape { rank: 1, dims: [(*(m as *const Model)).k as u32, 0, 0, 0] }
}

unsafe extern "C" fn loss_kind(_m: *const maml_model) -> i32 { MAML_LOSS_MSE }

unsafe extern "C" fn last_error(m: *const maml_model) -> *const c_char { (*(m as *const Model)).error.as_ptr() }

/// splitmix64: init_params must be a pure function of (config, seed).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E3779B97F4A7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

unsafe extern "C" fn init_params(m: *mut maml_model, seed: u64, params: *mut f32) -> maml_status {
    guarded(m, |m| {
        if params.is_null() { return Err(invalid("init_params: params is NULL".into())); }
        let p = std::slice::from_raw_parts_mut(params, m.p);
        let mut state = seed;
        let mut uniform = |limit: f64| (((splitmix64(&mut state) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)) * 2.0 - 1.0) * limit;
        // Weights and biases uniform in +-1/sqrt(fan_in).
        let (w2, d, h) = (m.off_w2(), m.d as f64, m.h as f64);
        for (i, value) in p.iter_mut().enumerate() {
            *value = uniform(1.0 / if i < w2 { d } else { h }.sqrt()) as f32;
        }
        Ok(())
    })
}

unsafe extern "C" fn forward(m: *mut maml_model, params: *const f32, batch: *const maml_batch, out: *mut f32) -> maml_status {
    guarded(m, |m| {
        let (p, n, x, _) = batch_slices(m, "forward", params, batch, false)?;
        if out.is_null() { return Err(invalid("forward: out is NULL".into())); }
        let out = std::slice::from_raw_parts_mut(out, n * m.k);
        for e in 0..n {
            m.hidden(p, &x[e * m.d..(e + 1) * m.d]);
            for c in 0..m.k { out[e * m.k + c] = m.output(p, c) as f32; }
        }
        Ok(())
    })
}

/// Mean squared error over all n * k outputs and, if grad is not NULL, its gradient.
unsafe extern "C" fn loss_grad(m: *mut maml_model, params: *const f32, batch: *const maml_batch,
                               loss: *mut f32, grad: *mut f32) -> maml_status {
    guarded(m, |m| {
        let (p, n, x, y) = batch_slices(m, "loss_grad", params, batch, true)?;
        if loss.is_null() { return Err(invalid("loss_grad: loss is NULL".into())); }
        let (d, h, k) = (m.d, m.h, m.k);
        let (ob1, ow2, ob2) = (m.off_b1(), m.off_w2(), m.off_b2());
        let scale = 1.0 / (n * k) as f64;
        let mut total = 0.0;
        m.acc.iter_mut().for_each(|v| *v = 0.0);
        for e in 0..n {
            let xe = &x[e * d..(e + 1) * d];
            m.hidden(p, xe);
            for c in 0..k {
                let r = m.output(p, c) - y[e * k + c] as f64;
                total += r * r;
                m.dout[c] = 2.0 * scale * r;
            }
            if grad.is_null() { continue; }
            for j in 0..h {
                let mut dh = 0.0;
                for c in 0..k {
                    m.acc[ow2 + c * h + j] += m.dout[c] * m.t[j];
                    dh += p[ow2 + c * h + j] as f64 * m.dout[c];
                }
                let da = dh * (1.0 - m.t[j] * m.t[j]);
                m.acc[ob1 + j] += da;
                for i in 0..d { m.acc[j * d + i] += da * xe[i] as f64; }
            }
            for c in 0..k { m.acc[ob2 + c] += m.dout[c]; }
        }
        *loss = (total * scale) as f32;
        if !(*loss).is_finite() { return Err((MAML_ERR_NUMERICAL, format!("loss_grad: the loss is not finite ({})", total * scale))); }
        if !grad.is_null() {
            let g = std::slice::from_raw_parts_mut(grad, m.p);
            for (i, (out, value)) in g.iter_mut().zip(&m.acc).enumerate() {
                *out = *value as f32;
                if !out.is_finite() { return Err((MAML_ERR_NUMERICAL, format!("loss_grad: gradient[{i}] is not finite"))); }
            }
        }
        Ok(())
    })
}

/// The exact Hessian-vector product: the derivative along v of every quantity of
/// loss_grad (Pearlmutter's R-operator); R{gradient} = H v.
unsafe extern "C" fn hvp(m: *mut maml_model, params: *const f32, batch: *const maml_batch,
                         v: *const f32, out: *mut f32) -> maml_status {
    guarded(m, |m| {
        let (p, n, x, y) = batch_slices(m, "hvp", params, batch, true)?;
        if v.is_null() || out.is_null() {
            return Err(invalid(format!("hvp: {} is NULL", if v.is_null() { "v" } else { "out" })));
        }
        let v = std::slice::from_raw_parts(v, m.p);
        let (d, h, k) = (m.d, m.h, m.k);
        let (ob1, ow2, ob2) = (m.off_b1(), m.off_w2(), m.off_b2());
        let scale = 1.0 / (n * k) as f64;
        m.acc.iter_mut().for_each(|a| *a = 0.0);
        for e in 0..n {
            let xe = &x[e * d..(e + 1) * d];
            m.hidden(p, xe);
            for j in 0..h {
                // R{a} = V1 x + c1, R{t} = tanh'(a) R{a}
                let ra = v[ob1 + j] as f64 + (0..d).map(|i| v[j * d + i] as f64 * xe[i] as f64).sum::<f64>();
                m.rt[j] = (1.0 - m.t[j] * m.t[j]) * ra;
            }
            for c in 0..k {
                // R{o} = V2 t + W2 R{t} + c2
                let ro = v[ob2 + c] as f64
                    + (0..h).map(|j| v[ow2 + c * h + j] as f64 * m.t[j] + p[ow2 + c * h + j] as f64 * m.rt[j]).sum::<f64>();
                m.dout[c] = 2.0 * scale * (m.output(p, c) - y[e * k + c] as f64);
                m.rdout[c] = 2.0 * scale * ro;
                m.acc[ob2 + c] += m.rdout[c];
            }
            for j in 0..h {
                let (mut dh, mut rdh) = (0.0, 0.0);
                for c in 0..k {
                    let w = p[ow2 + c * h + j] as f64;
                    m.acc[ow2 + c * h + j] += m.rdout[c] * m.t[j] + m.dout[c] * m.rt[j];
                    dh += w * m.dout[c];
                    rdh += v[ow2 + c * h + j] as f64 * m.dout[c] + w * m.rdout[c];
                }
                // R{da} = R{dh} tanh' - 2 dh t R{t}
                let rda = rdh * (1.0 - m.t[j] * m.t[j]) - 2.0 * dh * m.t[j] * m.rt[j];
                m.acc[ob1 + j] += rda;
                for i in 0..d { m.acc[j * d + i] += rda * xe[i] as f64; }
            }
        }
        let out = std::slice::from_raw_parts_mut(out, m.p);
        for (i, (o, value)) in out.iter_mut().zip(&m.acc).enumerate() {
            *o = *value as f32;
            if !o.is_finite() { return Err((MAML_ERR_NUMERICAL, format!("hvp: out[{i}] is not finite"))); }
        }
        Ok(())
    })
}

// MARK: - Extensions

static HVP_TABLE: maml_ext_hvp = maml_ext_hvp { struct_size: size_of_u32::<maml_ext_hvp>(), hvp };

unsafe extern "C" fn tensor_count(_m: *const maml_model) -> u32 { 4 }
unsafe extern "C" fn tensor_at(m: *const maml_model, index: u32) -> *const maml_tensor_info {
    (*(m as *const Model)).tensors.get(index as usize).map_or(ptr::null(), |t| t as *const _)
}
static LAYOUT_TABLE: maml_ext_layout =
    maml_ext_layout { struct_size: size_of_u32::<maml_ext_layout>(), tensor_count, tensor_at };

/// flops(batch): 2 per multiply-add of the forward and backward products, 1 per bias.
unsafe extern "C" fn flops(m: *mut maml_model, n: u64) -> u64 {
    let m = &*(m as *const Model);
    let (mac1, mac2) = ((m.h * m.d) as u64, (m.k * m.h) as u64);
    n * (2 * 2 * mac1 + 2 * 3 * mac2 + 2 * (m.h + m.k) as u64)
}

/// Panics inside the boundary guard, to show it: returns the status the panic became.
unsafe extern "C" fn selftest_panic(m: *mut maml_model) -> i32 {
    guarded(m, |_| panic!("selftest_panic was called"))
}

static OPS: Shared<[maml_op; 2]> = Shared([
    maml_op {
        struct_size: size_of_u32::<maml_op>(),
        name: c"flops".as_ptr(),
        help: c"floating-point operations of one loss_grad on a batch of the given size".as_ptr(),
        signature: c"u64(u64)".as_ptr(),
        fn_: flops as *const c_void,
    },
    maml_op {
        struct_size: size_of_u32::<maml_op>(),
        name: c"selftest_panic".as_ptr(),
        help: c"panics inside catch_unwind; returns the status it became (6, MAML_ERR_INTERNAL)".as_ptr(),
        signature: c"i32()".as_ptr(),
        fn_: selftest_panic as *const c_void,
    },
]);
unsafe extern "C" fn op_count(_m: *const maml_model) -> u32 { OPS.0.len() as u32 }
unsafe extern "C" fn op_at(_m: *const maml_model, index: u32) -> *const maml_op {
    OPS.0.get(index as usize).map_or(ptr::null(), |op| op as *const _)
}
static OPS_TABLE: maml_ext_ops = maml_ext_ops { struct_size: size_of_u32::<maml_ext_ops>(), op_count, op_at };

unsafe extern "C" fn get_extension(_m: *const maml_model, id: *const c_char) -> *const c_void {
    if id.is_null() { return ptr::null(); }
    match CStr::from_ptr(id).to_bytes() {
        MAML_EXT_HVP => &HVP_TABLE as *const _ as *const c_void,
        MAML_EXT_LAYOUT => &LAYOUT_TABLE as *const _ as *const c_void,
        MAML_EXT_OPS => &OPS_TABLE as *const _ as *const c_void,
        _ => ptr::null(),
    }
}

// MARK: - Descriptor, registry, entry

static DESCRIPTOR: Shared<maml_model_desc> = Shared(maml_model_desc {
    struct_size: size_of_u32::<maml_model_desc>(),
    id: c"org.example.tinymlp-rs".as_ptr(),
    name: c"tinymlp-rs".as_ptr(),
    version: c"1.0.0".as_ptr(),
    family: c"mlp".as_ptr(),
    summary: c"one-hidden-layer tanh MLP for regression, in Rust (docs/examples/rust)".as_ptr(),
    config_schema: c"{\"type\": \"object\", \"properties\": {\
        \"inputs\": {\"type\": \"integer\", \"default\": 1, \"minimum\": 1, \"maximum\": 4096, \"description\": \"input features per example\"},\
        \"hidden\": {\"type\": \"integer\", \"default\": 40, \"minimum\": 1, \"maximum\": 4096, \"description\": \"tanh units in the hidden layer\"},\
        \"outputs\": {\"type\": \"integer\", \"default\": 1, \"minimum\": 1, \"maximum\": 4096, \"description\": \"regression outputs per example\"}},\
        \"examples\": [{\"hidden\": 8}, {\"inputs\": 3, \"hidden\": 16, \"outputs\": 2}]}".as_ptr(),
    create,
    destroy,
    param_count,
    input_shape,
    output_shape,
    loss_kind,
    init_params,
    forward,
    loss_grad,
    last_error,
    get_extension,
});

unsafe extern "C" fn model_at(index: u32) -> *const maml_model_desc {
    if index == 0 { &DESCRIPTOR.0 } else { ptr::null() }
}

static REGISTRY: Shared<maml_registry> = Shared(maml_registry {
    struct_size: size_of_u32::<maml_registry>(),
    abi: maml_abi_version { major: MAML_ABI_MAJOR, minor: MAML_ABI_MINOR },
    requires_minor: 0,
    plugin_id: c"org.example.tinymlp-rs-plugin".as_ptr(),
    plugin_version: c"1.0.0".as_ptr(),
    built_with: c"rust".as_ptr(),
    model_count: 1,
    model_at,
});

/// The one exported symbol.
#[no_mangle]
pub extern "C" fn maml_plugin_registry(major: u32, _minor: u32, _host: *const maml_host_api) -> *const maml_registry {
    if major == MAML_ABI_MAJOR { &REGISTRY.0 } else { ptr::null() }
}
