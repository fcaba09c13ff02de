//! `[inference] providers`: the ordered preference over ONNX Runtime execution providers.

use serde::{Deserialize, Serialize};

/// An ONNX Runtime execution provider edgecite can ask for. The provider itself comes with
/// the vendor's ONNX Runtime build; edgecite only registers it by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Rockchip NPU (RK3566/RK3568/RK3588 gateways).
    Rknpu,
    /// Qualcomm AI Engine Direct (Hexagon NPU/DSP).
    Qnn,
    /// Intel OpenVINO (CPU, iGPU, NPU, VPU).
    Openvino,
    /// Huawei Ascend CANN.
    Cann,
    /// NVIDIA TensorRT (Jetson, dGPU).
    Tensorrt,
    /// NVIDIA CUDA.
    Cuda,
    /// AMD ROCm.
    Rocm,
    /// AMD MIGraphX.
    Migraphx,
    /// AMD/Xilinx Vitis AI.
    Vitis,
    /// Intel oneDNN (formerly DNNL).
    Onednn,
    /// XNNPACK (optimised CPU kernels for ARM and x86).
    Xnnpack,
    /// Arm Compute Library.
    Acl,
    /// Arm NN (removed from recent ONNX Runtime releases; kept for older vendor builds).
    Armnn,
    /// Android NNAPI.
    Nnapi,
    /// Apple Core ML.
    Coreml,
    /// Windows DirectML.
    Directml,
    /// The default CPU provider; always tried last even when not listed.
    Cpu,
}

impl Provider {
    pub const ALL: [Provider; 17] = [
        Provider::Rknpu,
        Provider::Qnn,
        Provider::Openvino,
        Provider::Cann,
        Provider::Tensorrt,
        Provider::Cuda,
        Provider::Rocm,
        Provider::Migraphx,
        Provider::Vitis,
        Provider::Onednn,
        Provider::Xnnpack,
        Provider::Acl,
        Provider::Armnn,
        Provider::Nnapi,
        Provider::Coreml,
        Provider::Directml,
        Provider::Cpu,
    ];

    /// The name used in the config, logs, status and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Rknpu => "rknpu",
            Provider::Qnn => "qnn",
            Provider::Openvino => "openvino",
            Provider::Cann => "cann",
            Provider::Tensorrt => "tensorrt",
            Provider::Cuda => "cuda",
            Provider::Rocm => "rocm",
            Provider::Migraphx => "migraphx",
            Provider::Vitis => "vitis",
            Provider::Onednn => "onednn",
            Provider::Xnnpack => "xnnpack",
            Provider::Acl => "acl",
            Provider::Armnn => "armnn",
            Provider::Nnapi => "nnapi",
            Provider::Coreml => "coreml",
            Provider::Directml => "directml",
            Provider::Cpu => "cpu",
        }
    }

    /// ONNX Runtime's own name for the provider (as in `onnxruntime.get_available_providers()`).
    pub fn ort_name(self) -> &'static str {
        match self {
            Provider::Rknpu => "RknpuExecutionProvider",
            Provider::Qnn => "QNNExecutionProvider",
            Provider::Openvino => "OpenVINOExecutionProvider",
            Provider::Cann => "CANNExecutionProvider",
            Provider::Tensorrt => "TensorrtExecutionProvider",
            Provider::Cuda => "CUDAExecutionProvider",
            Provider::Rocm => "ROCMExecutionProvider",
            Provider::Migraphx => "MIGraphXExecutionProvider",
            Provider::Vitis => "VitisAIExecutionProvider",
            Provider::Onednn => "DnnlExecutionProvider",
            Provider::Xnnpack => "XnnpackExecutionProvider",
            Provider::Acl => "ACLExecutionProvider",
            Provider::Armnn => "ArmNNExecutionProvider",
            Provider::Nnapi => "NnapiExecutionProvider",
            Provider::Coreml => "CoreMLExecutionProvider",
            Provider::Directml => "DmlExecutionProvider",
            Provider::Cpu => "CPUExecutionProvider",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks of `[inference] providers`: no duplicates, nothing after `cpu` (it could never be
/// reached). Returns the index and message of the first problem.
pub fn check_providers(providers: &[Provider]) -> Result<(), (usize, String)> {
    for (i, p) in providers.iter().enumerate() {
        if providers[..i].contains(p) {
            return Err((i, format!("value \"{p}\" is listed twice")));
        }
        if i > 0 && providers[i - 1] == Provider::Cpu {
            return Err((
                i,
                format!("value \"{p}\" comes after \"cpu\", which always accepts a model, so it would never be tried"),
            ));
        }
    }
    Ok(())
}
