//! The RKNN backend: Rockchip's own NPU runtime (librknnrt, RKNPU2) for RK3566, RK3568 and
//! RK3588 gateways, whose NPU ONNX Runtime cannot reach (its RKNPU provider supports RK1808
//! only). A model directory may hold `model.rknn` (converted from `model.onnx` with
//! rknn-toolkit2) next to `model.onnx`; the manifest's `rknn_sha256` pins it. The provider
//! list chooses it like any other provider (`providers = ["rknn", "cpu"]`); when the library,
//! the file or the NPU is missing, the model falls back to the next provider with the reason.
//!
//! librknnrt is opened at run time (dlopen) and driven through its C API (rknn_api.h of
//! RKNPU2 / rknn-toolkit2 2.x): rknn_init, rknn_query, rknn_inputs_set, rknn_run,
//! rknn_outputs_get, rknn_outputs_release, rknn_destroy. The struct layouts below follow that
//! header. Tested against a stand-in library built from tests/fixtures/rknn/stand_in_rknnrt.c;
//! not run on Rockchip hardware here (cross/README.md says what was and was not verified).

use std::ffi::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[cfg(target_pointer_width = "32")]
type Context = u32;
#[cfg(not(target_pointer_width = "32"))]
type Context = u64;

const QUERY_IN_OUT_NUM: c_int = 0;
const QUERY_INPUT_ATTR: c_int = 1;
const QUERY_OUTPUT_ATTR: c_int = 2;
const QUERY_SDK_VERSION: c_int = 5;
const TENSOR_FLOAT32: c_int = 0;
const TENSOR_NHWC: c_int = 1;
const MAX_DIMS: usize = 16;
const MAX_NAME_LEN: usize = 256;

#[repr(C)]
#[derive(Default)]
struct InOutNum {
    n_input: u32,
    n_output: u32,
}

#[repr(C)]
struct TensorAttr {
    index: u32,
    n_dims: u32,
    dims: [u32; MAX_DIMS],
    name: [c_char; MAX_NAME_LEN],
    n_elems: u32,
    size: u32,
    fmt: c_int,
    type_: c_int,
    qnt_type: c_int,
    fl: i8,
    zp: i32,
    scale: f32,
    w_stride: u32,
    size_with_stride: u32,
    pass_through: u8,
    h_stride: u32,
}

#[repr(C)]
struct SdkVersion {
    api_version: [c_char; 256],
    drv_version: [c_char; 256],
}

#[repr(C)]
struct Input {
    index: u32,
    buf: *mut c_void,
    size: u32,
    pass_through: u8,
    type_: c_int,
    fmt: c_int,
}

#[repr(C)]
struct Output {
    want_float: u8,
    is_prealloc: u8,
    index: u32,
    buf: *mut c_void,
    size: u32,
}

type InitFn = unsafe extern "C" fn(*mut Context, *mut c_void, u32, u32, *mut c_void) -> c_int;
type DestroyFn = unsafe extern "C" fn(Context) -> c_int;
type QueryFn = unsafe extern "C" fn(Context, c_int, *mut c_void, u32) -> c_int;
type InputsSetFn = unsafe extern "C" fn(Context, u32, *mut Input) -> c_int;
type RunFn = unsafe extern "C" fn(Context, *mut c_void) -> c_int;
type OutputsGetFn = unsafe extern "C" fn(Context, u32, *mut Output, *mut c_void) -> c_int;
type OutputsReleaseFn = unsafe extern "C" fn(Context, u32, *mut Output) -> c_int;

/// The C API of a loaded librknnrt.
struct Api {
    path: PathBuf,
    init: InitFn,
    destroy: DestroyFn,
    query: QueryFn,
    inputs_set: InputsSetFn,
    run: RunFn,
    outputs_get: OutputsGetFn,
    outputs_release: OutputsReleaseFn,
    _lib: libloading::Library,
}

/// Where librknnrt may be: the configured path, `RKNN_RUNTIME_PATH`, then Rockchip's usual
/// places (the rknpu2 packages install /usr/lib/librknnrt.so).
pub fn candidates(configured: Option<&Path>) -> Vec<PathBuf> {
    let mut c: Vec<PathBuf> = configured.map(Path::to_path_buf).into_iter().collect();
    if let Some(p) = std::env::var_os("RKNN_RUNTIME_PATH").filter(|p| !p.is_empty()) {
        c.push(PathBuf::from(p));
    }
    for dir in ["/usr/lib", "/usr/local/lib", "/usr/lib/aarch64-linux-gnu", "/usr/lib/arm-linux-gnueabihf"] {
        c.push(Path::new(dir).join("librknnrt.so"));
    }
    c
}

static API: OnceLock<Result<Api, String>> = OnceLock::new();

/// Load librknnrt once per process (the first call's `configured` path counts).
fn api(configured: Option<&Path>) -> Result<&'static Api, String> {
    API.get_or_init(|| {
        let looked = candidates(configured);
        let path = looked.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
            let places: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
            format!(
                "librknnrt not found; looked in: {}. Install Rockchip's RKNN runtime (rknpu2) or set [inference] rknn_runtime_path",
                places.join("; ")
            )
        })?;
        let err = |e: libloading::Error| format!("{}: {e}", path.display());
        // SAFETY: loading the vendor's runtime runs its initialisers; the symbols are looked up
        // with the signatures of rknn_api.h and called only as documented there.
        unsafe {
            let lib = libloading::Library::new(&path).map_err(err)?;
            Ok(Api {
                init: *lib.get::<InitFn>(b"rknn_init\0").map_err(err)?,
                destroy: *lib.get::<DestroyFn>(b"rknn_destroy\0").map_err(err)?,
                query: *lib.get::<QueryFn>(b"rknn_query\0").map_err(err)?,
                inputs_set: *lib.get::<InputsSetFn>(b"rknn_inputs_set\0").map_err(err)?,
                run: *lib.get::<RunFn>(b"rknn_run\0").map_err(err)?,
                outputs_get: *lib.get::<OutputsGetFn>(b"rknn_outputs_get\0").map_err(err)?,
                outputs_release: *lib.get::<OutputsReleaseFn>(b"rknn_outputs_release\0").map_err(err)?,
                path: path.clone(),
                _lib: lib,
            })
        }
    })
    .as_ref()
    .map_err(|e| e.clone())
}

/// Whether librknnrt can be loaded (after `api` was tried once, the same answer).
pub fn available(configured: Option<&Path>) -> bool {
    api(configured).is_ok()
}

/// The loaded librknnrt's path, once loaded.
pub fn library() -> Option<PathBuf> {
    API.get().and_then(|r| r.as_ref().ok()).map(|a| a.path.clone())
}

fn c_str(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One RKNN model context: one input of `n` f32 features per row, one f32 score per row.
pub struct Session {
    api: &'static Api,
    ctx: Context,
    /// Rows the model takes per run (its input's first dimension; RKNN models have fixed shapes).
    batch: usize,
    features: usize,
    /// "api X, driver Y" from RKNN_QUERY_SDK_VERSION.
    pub sdk: String,
}

// SAFETY: an RKNN context may be used from any thread, one call at a time; the Model holds the
// session behind a Mutex.
unsafe impl Send for Session {}

impl Session {
    /// Create a context for `model` (the .rknn bytes) taking `features` values per row.
    pub fn new(configured: Option<&Path>, model: &[u8], features: usize) -> Result<Session, String> {
        let api = api(configured)?;
        let mut ctx: Context = 0;
        let mut bytes = model.to_vec();
        // SAFETY: rknn_init reads `size` bytes of the model buffer, which outlives the call.
        let rc =
            unsafe { (api.init)(&mut ctx, bytes.as_mut_ptr().cast(), bytes.len() as u32, 0, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(format!("rknn_init failed with {rc} ({})", api.path.display()));
        }
        let mut s = Session { api, ctx, batch: 1, features, sdk: String::new() };
        let mut io = InOutNum::default();
        s.query(QUERY_IN_OUT_NUM, &mut io)?;
        if io.n_input != 1 || io.n_output != 1 {
            return Err(format!(
                "the .rknn model has {} input(s) and {} output(s); expected 1 and 1",
                io.n_input, io.n_output
            ));
        }
        // SAFETY: TensorAttr is plain data; all-zero is a valid value.
        let mut attr: TensorAttr = unsafe { std::mem::zeroed() };
        s.query(QUERY_INPUT_ATTR, &mut attr)?;
        let dims: Vec<u32> = attr.dims[..(attr.n_dims as usize).min(MAX_DIMS)].to_vec();
        let elems = attr.n_elems as usize;
        if dims.is_empty() || elems == 0 || elems % features != 0 || elems / features != dims[0] as usize {
            return Err(format!(
                "the .rknn model's input `{}` has shape {dims:?}; the manifest says [rows, {features}]",
                c_str(&attr.name)
            ));
        }
        s.batch = dims[0] as usize;
        // SAFETY: as above.
        let mut out: TensorAttr = unsafe { std::mem::zeroed() };
        out.index = 0;
        s.query(QUERY_OUTPUT_ATTR, &mut out)?;
        if out.n_elems as usize != s.batch {
            return Err(format!(
                "the .rknn model's output has {} values; expected one score per row ({})",
                out.n_elems, s.batch
            ));
        }
        // SAFETY: as above.
        let mut v: SdkVersion = unsafe { std::mem::zeroed() };
        if s.query(QUERY_SDK_VERSION, &mut v).is_ok() {
            s.sdk = format!("api {}, driver {}", c_str(&v.api_version), c_str(&v.drv_version));
        }
        Ok(s)
    }

    fn query<T>(&self, cmd: c_int, info: &mut T) -> Result<(), String> {
        // SAFETY: `info` is a writable struct of the size passed.
        let rc = unsafe { (self.api.query)(self.ctx, cmd, (info as *mut T).cast(), std::mem::size_of::<T>() as u32) };
        if rc != 0 {
            return Err(format!("rknn_query({cmd}) failed with {rc}"));
        }
        Ok(())
    }

    /// Score `rows` feature vectors laid out row after row, `batch` rows per run (the last run
    /// padded with copies of its first row, whose scores are dropped).
    pub fn run(&mut self, features: &[f32], rows: usize) -> Result<Vec<f32>, String> {
        let n = self.features;
        let mut scores = Vec::with_capacity(rows);
        for chunk in features.chunks(n * self.batch).take(rows.div_ceil(self.batch)) {
            let mut buf = chunk.to_vec();
            let real = chunk.len() / n;
            while buf.len() < n * self.batch {
                buf.extend_from_slice(&chunk[..n]);
            }
            let mut input = Input {
                index: 0,
                buf: buf.as_mut_ptr().cast(),
                size: (buf.len() * 4) as u32,
                pass_through: 0,
                type_: TENSOR_FLOAT32,
                fmt: TENSOR_NHWC,
            };
            let mut out = Output { want_float: 1, is_prealloc: 0, index: 0, buf: std::ptr::null_mut(), size: 0 };
            // SAFETY: rknn_api.h usage: set the input (buffer alive for the call), run, get the
            // output as floats (runtime-owned memory, read, then released once).
            unsafe {
                let rc = (self.api.inputs_set)(self.ctx, 1, &mut input);
                if rc != 0 {
                    return Err(format!("rknn_inputs_set failed with {rc}"));
                }
                let rc = (self.api.run)(self.ctx, std::ptr::null_mut());
                if rc != 0 {
                    return Err(format!("rknn_run failed with {rc}"));
                }
                let rc = (self.api.outputs_get)(self.ctx, 1, &mut out, std::ptr::null_mut());
                if rc != 0 || out.buf.is_null() {
                    return Err(format!("rknn_outputs_get failed with {rc}"));
                }
                let got = (out.size as usize / 4).min(self.batch);
                let values = std::slice::from_raw_parts(out.buf as *const f32, got);
                scores.extend_from_slice(&values[..real.min(got)]);
                (self.api.outputs_release)(self.ctx, 1, &mut out);
                if got < real {
                    return Err(format!("rknn_outputs_get gave {got} scores for {real} rows"));
                }
            }
        }
        Ok(scores)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the context was created by rknn_init and is destroyed once.
        unsafe { (self.api.destroy)(self.ctx) };
    }
}
