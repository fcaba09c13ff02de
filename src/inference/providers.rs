//! Execution providers: register the configured ones on a session builder, in order of
//! preference, with the reason each one that cannot be used was skipped.

use crate::config::inference::Provider;
use ort::ep::{self, ExecutionProvider};
use ort::session::builder::SessionBuilder;

/// Whether the loaded ONNX Runtime library was built with `p`.
pub fn is_available(p: Provider) -> Result<bool, String> {
    #[allow(deprecated)]
    let r = match p {
        Provider::Rknpu => ep::RKNPU::is_available(),
        Provider::Qnn => ep::QNN::is_available(),
        Provider::Openvino => ep::OpenVINO::is_available(),
        Provider::Cann => ep::CANN::is_available(),
        Provider::Tensorrt => ep::TensorRT::is_available(),
        Provider::Cuda => ep::CUDA::is_available(),
        Provider::Rocm => ep::ROCm::is_available(),
        Provider::Migraphx => ep::MIGraphX::is_available(),
        Provider::Vitis => ep::Vitis::is_available(),
        Provider::Onednn => ep::OneDNN::is_available(),
        Provider::Xnnpack => ep::XNNPACK::is_available(),
        Provider::Acl => ep::ACL::is_available(),
        Provider::Armnn => ep::ArmNN::is_available(),
        Provider::Nnapi => ep::NNAPI::is_available(),
        Provider::Coreml => ep::CoreML::is_available(),
        Provider::Directml => ep::DirectML::is_available(),
        Provider::Cpu => ep::CPU::is_available(),
    };
    r.map_err(|e| e.to_string())
}

/// The providers of `Provider::ALL` the loaded ONNX Runtime has.
pub fn available() -> Vec<Provider> {
    Provider::ALL.into_iter().filter(|p| is_available(*p).unwrap_or(false)).collect()
}

/// Append provider `p` to the session options.
pub fn register(p: Provider, b: &mut SessionBuilder) -> Result<(), String> {
    #[allow(deprecated)]
    let r = match p {
        Provider::Rknpu => ep::RKNPU::default().register(b),
        Provider::Qnn => ep::QNN::default().register(b),
        Provider::Openvino => ep::OpenVINO::default().register(b),
        Provider::Cann => ep::CANN::default().register(b),
        Provider::Tensorrt => ep::TensorRT::default().register(b),
        Provider::Cuda => ep::CUDA::default().register(b),
        Provider::Rocm => ep::ROCm::default().register(b),
        Provider::Migraphx => ep::MIGraphX::default().register(b),
        Provider::Vitis => ep::Vitis::default().register(b),
        Provider::Onednn => ep::OneDNN::default().register(b),
        Provider::Xnnpack => ep::XNNPACK::default().register(b),
        Provider::Acl => ep::ACL::default().register(b),
        Provider::Armnn => ep::ArmNN::default().register(b),
        Provider::Nnapi => ep::NNAPI::default().register(b),
        Provider::Coreml => ep::CoreML::default().register(b),
        Provider::Directml => ep::DirectML::default().register(b),
        Provider::Cpu => return append_cpu(b),
    };
    r.map_err(|e| e.to_string())
}

/// The order in which providers are tried for a model: the configured ones, then CPU.
pub fn preference(configured: &[Provider]) -> Vec<Provider> {
    let mut v: Vec<Provider> = configured.iter().copied().filter(|p| *p != Provider::Cpu).collect();
    v.push(Provider::Cpu);
    v
}

/// Append ONNX Runtime's CPU provider through its own C entry point,
/// `OrtSessionOptionsAppendExecutionProvider_CPU`, which every libonnxruntime exports. ort
/// switches on the automatic device policy for each new session; with no provider appended,
/// ONNX Runtime then picks devices itself, and 1.22.x finds none in a CPU-only build (an
/// error, or an abort of the whole process). An appended provider turns that selection off.
fn append_cpu(b: &mut SessionBuilder) -> Result<(), String> {
    use ort::AsPointer;
    type AppendCpu =
        unsafe extern "C" fn(*mut ort::sys::OrtSessionOptions, std::ffi::c_int) -> *mut ort::sys::OrtStatus;
    static LIB: std::sync::OnceLock<Result<libloading::Library, String>> = std::sync::OnceLock::new();
    let path = super::runtime_path().ok_or("ONNX Runtime is not loaded")?;
    // SAFETY: the library is already loaded by ort (this only takes another reference), and its
    // initialisers have run.
    let lib = LIB.get_or_init(|| unsafe { libloading::Library::new(&path) }.map_err(|e| e.to_string()));
    let lib = lib.as_ref().map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: the symbol has this C signature in every ONNX Runtime release (cpu_provider_factory.h).
    let f = unsafe { lib.get::<AppendCpu>(b"OrtSessionOptionsAppendExecutionProvider_CPU\0") }
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: the session options pointer is valid for the builder's lifetime; use_arena = 1.
    let status = unsafe { f(b.ptr_mut(), 1) };
    if status.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null status from ONNX Runtime, read then released once.
    let message = unsafe {
        let m = std::ffi::CStr::from_ptr((ort::api().GetErrorMessage)(status)).to_string_lossy().into_owned();
        (ort::api().ReleaseStatus)(status);
        m
    };
    Err(message)
}
