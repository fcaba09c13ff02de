//! `[inference]`: runtime and models paths, the ordered preference over ONNX Runtime
//! execution providers, their options and plugin libraries, the model watch; validated at
//! load.

use super::{yes, ConfigError, Doc, KeyPath};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// An ONNX Runtime execution provider edgecite can ask for. The provider itself comes with
/// the vendor's ONNX Runtime build; edgecite only registers it by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Rockchip RK1808 NPU: ONNX Runtime's RKNPU provider supports only that chip.
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
    /// Rockchip's RKNN runtime (librknnrt) for RK3566/RK3568/RK3588 NPUs: not an ONNX Runtime
    /// provider; runs the model directory's `model.rknn` (`inference::rknn`).
    Rknn,
    /// The devices of the plugin execution-provider libraries in `[[inference.ep_libraries]]`
    /// (ONNX Runtime's EP library interface, 1.22 and later).
    Plugin,
    /// The default CPU provider; always tried last even when not listed.
    Cpu,
}

impl Provider {
    pub const ALL: [Provider; 19] = [
        Provider::Rknn,
        Provider::Plugin,
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
            Provider::Rknn => "rknn",
            Provider::Plugin => "plugin",
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
            Provider::Rknn => "librknnrt (Rockchip RKNN runtime)",
            Provider::Plugin => "a plugin EP library ([[inference.ep_libraries]])",
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

/// `[inference.provider_options.<provider>]`: options passed to that execution provider when
/// it is registered, e.g. `[inference.provider_options.openvino] device_type = "NPU"`.
pub type ProviderOptions = std::collections::BTreeMap<Provider, std::collections::BTreeMap<String, toml::Value>>;

/// What a provider option's value may be.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// Any non-empty string (a path, a file name).
    Text,
    /// A whole number >= 0.
    Count,
    /// true/false, passed as "true"/"false".
    BoolWord,
    /// true/false, passed as "1"/"0".
    BoolDigit,
    /// An OpenVINO device: CPU, GPU, GPU.<n>, NPU, or AUTO:/HETERO:/MULTI: with a list of them.
    OpenvinoDevice,
}

/// The options edgecite passes through, per provider (ONNX Runtime's names and values, from
/// its execution-provider documentation). Providers not listed take no options in edgecite.
fn known_options(p: Provider) -> &'static [(&'static str, Kind)] {
    use Kind::*;
    match p {
        Provider::Openvino => &[
            ("device_type", OpenvinoDevice),
            ("precision", OneOf(&["FP32", "FP16", "ACCURACY"])),
            ("num_of_threads", Count),
            ("num_streams", Count),
            ("cache_dir", Text),
            ("load_config", Text),
            ("model_priority", OneOf(&["LOW", "MEDIUM", "HIGH", "DEFAULT"])),
            ("enable_opencl_throttling", BoolWord),
            ("enable_qdq_optimizer", BoolWord),
            ("disable_dynamic_shapes", BoolWord),
        ],
        Provider::Qnn => &[
            ("backend_path", Text),
            ("backend_type", OneOf(&["cpu", "gpu", "htp", "saver"])),
            (
                "htp_performance_mode",
                OneOf(&[
                    "burst",
                    "balanced",
                    "default",
                    "high_performance",
                    "high_power_saver",
                    "low_balanced",
                    "low_power_saver",
                    "power_saver",
                    "sustained_high_performance",
                    "extreme_power_saver",
                ]),
            ),
            ("htp_graph_finalization_optimization_mode", OneOf(&["0", "1", "2", "3"])),
            ("soc_model", Count),
            ("device_id", Count),
            ("profiling_level", OneOf(&["off", "basic", "detailed"])),
            ("enable_htp_fp16_precision", BoolDigit),
        ],
        Provider::Tensorrt => &[
            ("device_id", Count),
            ("trt_engine_cache_enable", BoolDigit),
            ("trt_engine_cache_path", Text),
            ("trt_timing_cache_enable", BoolDigit),
            ("trt_timing_cache_path", Text),
            ("trt_fp16_enable", BoolDigit),
            ("trt_int8_enable", BoolDigit),
            ("trt_max_workspace_size", Count),
        ],
        Provider::Cuda | Provider::Rocm => &[("device_id", Count), ("gpu_mem_limit", Count)],
        Provider::Cann => &[
            ("device_id", Count),
            ("npu_mem_limit", Count),
            (
                "precision_mode",
                OneOf(&[
                    "force_fp32",
                    "force_fp16",
                    "allow_fp32_to_fp16",
                    "must_keep_origin_dtype",
                    "allow_mix_precision",
                ]),
            ),
            ("enable_cann_graph", BoolDigit),
        ],
        Provider::Xnnpack => &[("intra_op_num_threads", Count)],
        // Which of the plugin libraries' devices a model uses (default: all of them).
        Provider::Plugin => &[("device", OneOf(&["cpu", "gpu", "npu"]))],
        _ => &[],
    }
}

fn openvino_device_ok(v: &str) -> bool {
    let one = |d: &str| {
        matches!(d, "CPU" | "GPU" | "NPU")
            || d.strip_prefix("GPU.").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    match v.split_once(':') {
        Some(("AUTO" | "HETERO" | "MULTI", list)) => !list.is_empty() && list.split(',').all(one),
        Some(_) => false,
        None => one(v),
    }
}

/// Check one `[inference.provider_options.<p>]` entry; Ok is the value as ONNX Runtime takes it.
pub fn check_provider_option(p: Provider, key: &str, value: &toml::Value) -> Result<String, String> {
    let known = known_options(p);
    let Some((_, kind)) = known.iter().find(|(k, _)| *k == key) else {
        if known.is_empty() {
            return Err(format!("provider \"{p}\" takes no options in edgecite"));
        }
        let names: Vec<&str> = known.iter().map(|(k, _)| *k).collect();
        return Err(format!("unknown option `{key}` for provider \"{p}\": expected one of {}", names.join(", ")));
    };
    let shown = value.to_string();
    match (kind, value) {
        (Kind::OneOf(allowed), toml::Value::String(s)) if allowed.contains(&s.as_str()) => Ok(s.clone()),
        (Kind::OneOf(allowed), _) => Err(format!("value {shown} is not allowed: expected one of {}", allowed.join(", "))),
        (Kind::Text, toml::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        (Kind::Text, _) => Err(format!("value {shown} is not allowed: expected a non-empty string")),
        (Kind::Count, toml::Value::Integer(n)) if *n >= 0 => Ok(n.to_string()),
        (Kind::Count, _) => Err(format!("value {shown} is not allowed: expected a whole number >= 0")),
        (Kind::BoolWord, toml::Value::Boolean(b)) => Ok(b.to_string()),
        (Kind::BoolDigit, toml::Value::Boolean(b)) => Ok(if *b { "1" } else { "0" }.to_string()),
        (Kind::BoolWord | Kind::BoolDigit, _) => Err(format!("value {shown} is not allowed: expected true or false")),
        (Kind::OpenvinoDevice, toml::Value::String(s)) if openvino_device_ok(s) => Ok(s.clone()),
        (Kind::OpenvinoDevice, _) => Err(format!(
            "value {shown} is not allowed: expected CPU, GPU, GPU.<n>, NPU, or AUTO:/HETERO:/MULTI: followed by a comma-separated list of them"
        )),
    }
}

/// The options of provider `p` as ONNX Runtime takes them (assumes `check_provider_option` passed).
pub fn provider_option_strings(options: &ProviderOptions, p: Provider) -> Vec<(String, String)> {
    options
        .get(&p)
        .map(|m| m.iter().filter_map(|(k, v)| check_provider_option(p, k, v).ok().map(|s| (k.clone(), s))).collect())
        .unwrap_or_default()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Path of libonnxruntime.so; if absent, `ORT_DYLIB_PATH`, then standard locations.
    pub runtime_path: Option<PathBuf>,
    #[serde(default = "default_models_dir")]
    pub models_dir: PathBuf,
    /// Execution providers in order of preference; CPU is always the last resort.
    #[serde(default)]
    pub providers: Vec<Provider>,
    /// Poll the models directory every this many ms and reload on a change (0 = off).
    #[serde(default)]
    pub watch_ms: u64,
    /// Options per execution provider (`[inference.provider_options.openvino] device_type = "NPU"`).
    #[serde(default)]
    pub provider_options: ProviderOptions,
    /// Path of librknnrt.so for the `rknn` provider; if absent, `RKNN_RUNTIME_PATH`, then
    /// /usr/lib and the other standard places.
    #[serde(default)]
    pub rknn_runtime_path: Option<PathBuf>,
    /// Plugin execution-provider libraries to register (`[[inference.ep_libraries]]`).
    #[serde(default)]
    pub ep_libraries: Vec<EpLibrary>,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        InferenceConfig {
            enabled: true,
            runtime_path: None,
            models_dir: default_models_dir(),
            providers: Vec::new(),
            watch_ms: 0,
            provider_options: Default::default(),
            rknn_runtime_path: None,
            ep_libraries: Vec::new(),
        }
    }
}

fn default_models_dir() -> PathBuf {
    "models".into()
}

impl InferenceConfig {
    pub(super) fn validate(&self, doc: &Doc, root: &KeyPath) -> Result<(), ConfigError> {
        if let Err((i, why)) = check_providers(&self.providers) {
            return Err(doc.invalid(root.key("inference").key("providers").index(i), why));
        }
        for (i, lib) in self.ep_libraries.iter().enumerate() {
            let at = root.key("inference").key("ep_libraries").index(i);
            if lib.name.trim().is_empty() {
                return Err(doc.invalid(
                    at.key("name"),
                    "value \"\" is empty: expected a name to register the library under".into(),
                ));
            }
            if self.ep_libraries[..i].iter().any(|l| l.name == lib.name) {
                return Err(doc.invalid(at.key("name"), format!("value \"{}\" is listed twice", lib.name)));
            }
            if !lib.path.is_file() {
                return Err(doc.invalid(at.key("path"), format!("{}: no such file", lib.path.display())));
            }
        }
        for (p, options) in &self.provider_options {
            for (k, v) in options {
                if let Err(why) = check_provider_option(*p, k, v) {
                    return Err(doc.invalid(root.key("inference").key("provider_options").key(p.as_str()).key(k), why));
                }
            }
        }
        if self.watch_ms != 0 && self.watch_ms < 100 {
            return Err(doc.invalid(
                root.key("inference").key("watch_ms"),
                format!("value {} is too small: expected 0 (off) or at least 100 (ms)", self.watch_ms),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_options_are_checked_by_provider() {
        let s = |v: &str| toml::Value::String(v.into());
        assert_eq!(check_provider_option(Provider::Openvino, "device_type", &s("NPU")), Ok("NPU".into()));
        assert_eq!(
            check_provider_option(Provider::Openvino, "device_type", &s("HETERO:NPU,CPU")),
            Ok("HETERO:NPU,CPU".into())
        );
        assert_eq!(check_provider_option(Provider::Openvino, "device_type", &s("GPU.1")), Ok("GPU.1".into()));
        for bad in ["npu", "TPU", "GPU.", "AUTO:", "AUTO:NPU,FPGA", "FOO:CPU"] {
            let e = check_provider_option(Provider::Openvino, "device_type", &s(bad)).unwrap_err();
            assert!(e.contains("not allowed") && e.contains(bad), "{e}");
        }
        let e = check_provider_option(Provider::Openvino, "device", &s("NPU")).unwrap_err();
        assert!(e.contains("unknown option `device`") && e.contains("device_type"), "{e}");
        let e = check_provider_option(Provider::Rknpu, "core_mask", &s("0")).unwrap_err();
        assert!(e.contains("takes no options"), "{e}");
        assert_eq!(
            check_provider_option(Provider::Tensorrt, "trt_fp16_enable", &toml::Value::Boolean(true)),
            Ok("1".into())
        );
        assert_eq!(
            check_provider_option(Provider::Openvino, "enable_qdq_optimizer", &toml::Value::Boolean(false)),
            Ok("false".into())
        );
        assert!(check_provider_option(Provider::Qnn, "device_id", &toml::Value::Integer(-1)).is_err());
        assert_eq!(check_provider_option(Provider::Qnn, "backend_path", &s("libQnnHtp.so")), Ok("libQnnHtp.so".into()));
    }
}

/// `[[inference.ep_libraries]]`: a plugin execution-provider library, registered with ONNX
/// Runtime under `name` (RegisterExecutionProviderLibrary); its devices are the `plugin`
/// provider's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpLibrary {
    pub name: String,
    pub path: std::path::PathBuf,
}
