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
        // Loaded on the first model that asks for it.
        Provider::Rknn => return Ok(super::rknn::library().is_some()),
        Provider::Plugin => return Ok(!super::plugin_eps().is_empty()),
    };
    r.map_err(|e| e.to_string())
}

/// The providers of `Provider::ALL` the loaded ONNX Runtime has.
pub fn available() -> Vec<Provider> {
    Provider::ALL.into_iter().filter(|p| is_available(*p).unwrap_or(false)).collect()
}

/// Append provider `p` to the session options, with its `[inference.provider_options.<p>]`
/// (already validated: only providers that take options have any).
pub fn register(p: Provider, b: &mut SessionBuilder, options: &[(String, String)]) -> Result<(), String> {
    fn with<E: ExecutionProvider + ep::ArbitrarilyConfigurableExecutionProvider>(
        mut e: E,
        options: &[(String, String)],
        b: &mut SessionBuilder,
    ) -> ort::Result<()> {
        for (k, v) in options {
            e = e.with_arbitrary_config(k, v);
        }
        e.register(b)
    }
    #[allow(deprecated)]
    let r = match p {
        Provider::Rknpu => ep::RKNPU::default().register(b),
        Provider::Qnn => with(ep::QNN::default(), options, b),
        Provider::Openvino => with(ep::OpenVINO::default(), options, b),
        Provider::Cann => with(ep::CANN::default(), options, b),
        Provider::Tensorrt => with(ep::TensorRT::default(), options, b),
        Provider::Cuda => with(ep::CUDA::default(), options, b),
        Provider::Rocm => with(ep::ROCm::default(), options, b),
        Provider::Migraphx => ep::MIGraphX::default().register(b),
        Provider::Vitis => with(ep::Vitis::default(), options, b),
        Provider::Onednn => with(ep::OneDNN::default(), options, b),
        Provider::Xnnpack => with(ep::XNNPACK::default(), options, b),
        Provider::Acl => ep::ACL::default().register(b),
        Provider::Armnn => ep::ArmNN::default().register(b),
        Provider::Nnapi => ep::NNAPI::default().register(b),
        Provider::Coreml => with(ep::CoreML::default(), options, b),
        Provider::Directml => ep::DirectML::default().register(b),
        Provider::Cpu => return append_cpu(b),
        Provider::Rknn => return Err("rknn is not an ONNX Runtime provider".into()),
        Provider::Plugin => return Err("plugin devices are appended by the session builder".into()),
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
    let (path, lib) = super::runtime_library()?;
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
