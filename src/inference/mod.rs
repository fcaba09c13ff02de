//! ONNX inference: finds and loads ONNX Runtime, loads models with their manifests
//! (hash and shapes verified), computes the manifest's features from pipeline windows and
//! scores them on the first execution provider of the configured preference that accepts
//! the model (CPU last).

pub mod batch;
pub mod eval;
pub mod features;
pub mod manifest;
pub mod parity;
pub mod providers;
pub mod registry;
pub mod reload;
pub mod rknn;
pub mod stats;

pub use manifest::{FeatureSpec, Manifest, Placement, Statistic};

pub use crate::config::inference::Provider;
use crate::pipeline::{AssetState, WindowProblem};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error("ONNX Runtime library not found; looked in: {}. Fix: install it (`pip install onnxruntime==1.31.1` gives onnxruntime/capi/libonnxruntime.so.1.31.1), then set [inference] runtime_path in the config or the ORT_DYLIB_PATH environment variable to that file", looked.join("; "))]
    RuntimeNotFound { looked: Vec<String> },
    #[error("{path}: cannot load ONNX Runtime: {message}")]
    RuntimeLoad { path: PathBuf, message: String },
    #[error("{file}: {message}")]
    Manifest { file: PathBuf, message: String },
    #[error("{file}: sha256 is {actual}, but the manifest says {expected}: the model file is not the one the manifest describes")]
    Hash { file: PathBuf, expected: String, actual: String },
    #[error("{file}: {message}")]
    Model { file: PathBuf, message: String },
    #[error("model `{model}`: inference failed: {message}")]
    Run { model: String, message: String },
}

static ENVIRONMENT: OnceLock<(PathBuf, ort::environment::Environment)> = OnceLock::new();

/// Where the runtime library may be: the configured path, `ORT_DYLIB_PATH`, then standard
/// locations, in that order.
pub fn runtime_candidates(configured: Option<&Path>) -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = configured {
        c.push(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        c.push(PathBuf::from(p));
    }
    // Debian's multiarch directory for the architecture this binary was built for.
    let multiarch = match std::env::consts::ARCH {
        "x86_64" => "/usr/lib/x86_64-linux-gnu",
        "aarch64" => "/usr/lib/aarch64-linux-gnu",
        "arm" => "/usr/lib/arm-linux-gnueabihf",
        _ => "/usr/lib64",
    };
    for dir in ["/usr/lib/edgecite", "/usr/local/lib", "/usr/lib", multiarch] {
        c.push(Path::new(dir).join("libonnxruntime.so"));
        c.extend(versioned_libraries(Path::new(dir)));
    }
    c
}

/// The `libonnxruntime.so.1.x[.y]` files in `dir` (what distribution and Yocto packages install
/// without the development symlink), newest release first.
pub fn versioned_libraries(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let version: Vec<u32> =
                name.strip_prefix("libonnxruntime.so.")?.split('.').map(|n| n.parse().ok()).collect::<Option<_>>()?;
            Some((version, e.path()))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Load ONNX Runtime once per process. Returns the library path in use.
pub fn init_runtime(configured: Option<&Path>) -> Result<PathBuf, InferenceError> {
    if let Some((path, _)) = ENVIRONMENT.get() {
        return Ok(path.clone());
    }
    let candidates = runtime_candidates(configured);
    let Some(path) = candidates.iter().find(|p| p.is_file()).cloned() else {
        return Err(InferenceError::RuntimeNotFound {
            looked: candidates.iter().map(|p| p.display().to_string()).collect(),
        });
    };
    let load_err = |message: String| InferenceError::RuntimeLoad { path: path.clone(), message };
    let env = ort::init_from(&path)
        .map_err(|e| {
            let e = e.to_string();
            if e.contains("expected version") {
                load_err(format!("{e}: edgecite needs ONNX Runtime {MIN_RUNTIME} or later (ort API level 22)"))
            } else {
                load_err(e)
            }
        })?
        .with_name("edgecite")
        .build()
        .map_err(|e| load_err(e.to_string()))?;
    let _ = ENVIRONMENT.set((path.clone(), env));
    tracing::info!(library = %path.display(), version = runtime_version().as_deref().unwrap_or("unknown"),
        providers = %providers::available().iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","),
        "ONNX Runtime loaded");
    Ok(path)
}

/// The loaded ONNX Runtime library, opened once more for the C entry points ort does not wrap.
pub(crate) fn runtime_library() -> Result<(PathBuf, &'static libloading::Library), String> {
    static LIB: OnceLock<Result<libloading::Library, String>> = OnceLock::new();
    let path = runtime_path().ok_or("ONNX Runtime is not loaded")?;
    // SAFETY: ort has loaded this library already (this takes another reference to it), so
    // its initialisers have run.
    let lib = LIB.get_or_init(|| unsafe { libloading::Library::new(&path) }.map_err(|e| e.to_string()));
    let lib = lib.as_ref().map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, lib))
}

/// The oldest ONNX Runtime release edgecite runs on: ort is built for API level 22
/// (Cargo.toml, feature `api-22`), and the library must provide at least that level.
pub const MIN_RUNTIME: &str = "1.22";

/// The loaded ONNX Runtime's release, e.g. "1.24.1" (`OrtGetApiBase()->GetVersionString()`).
pub fn runtime_version() -> Option<String> {
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    let (_, lib) = runtime_library().ok()?;
    // SAFETY: OrtGetApiBase has this signature in every release; the string it returns is static.
    unsafe {
        let base = lib.get::<GetApiBase>(b"OrtGetApiBase\0").ok()?();
        if base.is_null() {
            return None;
        }
        let v = ((*base).GetVersionString)();
        (!v.is_null()).then(|| std::ffi::CStr::from_ptr(v).to_string_lossy().into_owned())
    }
}

/// The registered plugin EP libraries: (name, path, the EP names their devices belong to).
static EP_LIBRARIES: Mutex<Vec<(String, PathBuf, Vec<String>)>> = Mutex::new(Vec::new());

/// Register `[[inference.ep_libraries]]` with the loaded runtime (once per name and process).
/// Returns the errors, each naming the library; the `plugin` provider then has the devices
/// of the libraries that registered.
pub fn register_ep_libraries(libs: &[crate::config::inference::EpLibrary]) -> Vec<String> {
    let Some((_, env)) = ENVIRONMENT.get() else { return Vec::new() };
    let mut done = EP_LIBRARIES.lock().unwrap_or_else(|p| p.into_inner());
    let mut errors = Vec::new();
    for lib in libs {
        if done.iter().any(|(n, _, _)| *n == lib.name) {
            continue;
        }
        let before: Vec<_> = env.devices().map(|d| ort::AsPointer::ptr(&d)).collect();
        match env.register_ep_library(lib.name.clone(), &lib.path) {
            Ok(()) => {
                let mut eps: Vec<String> = Vec::new();
                for d in env.devices().filter(|d| !before.contains(&ort::AsPointer::ptr(d))) {
                    let ep = d.ep().unwrap_or("?").to_string();
                    tracing::info!(library = %lib.name, ep = %ep, device = ?d.hardware_device().ty(),
                        vendor = d.hardware_device().vendor().unwrap_or("?"), "plugin EP device");
                    if !eps.contains(&ep) {
                        eps.push(ep);
                    }
                }
                if eps.is_empty() {
                    let all: Vec<String> = env
                        .devices()
                        .map(|d| format!("{} {:?}", d.ep().unwrap_or("?"), d.hardware_device().ty()))
                        .collect();
                    errors.push(format!(
                        "EP library {} ({}): registered, but it added no device (devices: {})",
                        lib.name,
                        lib.path.display(),
                        all.join(", ")
                    ));
                }
                done.push((lib.name.clone(), lib.path.clone(), eps));
            }
            Err(e) => {
                let e = format!("EP library {} ({}): cannot register: {e}", lib.name, lib.path.display());
                tracing::error!(error = %e, "plugin EP library not loaded");
                errors.push(e);
            }
        }
    }
    errors
}

/// The EP names of the registered plugin libraries' devices.
pub fn plugin_eps() -> Vec<String> {
    EP_LIBRARIES.lock().unwrap_or_else(|p| p.into_inner()).iter().flat_map(|(_, _, eps)| eps.clone()).collect()
}

/// The ONNX Runtime library in use, once loaded.
pub fn runtime_path() -> Option<PathBuf> {
    ENVIRONMENT.get().map(|(p, _)| p.clone())
}

/// The ONNX Runtime environment, once loaded (for benchmarks that build bare sessions).
pub fn environment() -> Option<&'static ort::environment::Environment> {
    ENVIRONMENT.get().map(|(_, e)| e)
}

/// A loaded model: its manifest and one reusable session.
pub struct Model {
    pub manifest: Manifest,
    pub dir: PathBuf,
    /// The execution provider the session runs on.
    pub provider: &'static str,
    /// The preferred providers that were skipped for this model, each with the reason.
    pub fallbacks: Vec<String>,
    /// Whether the provider runs every node of the model (`all`) or ONNX Runtime gave the
    /// nodes it does not support to the CPU provider (`partial`).
    pub placement: &'static str,
    /// The provider options passed (from `[inference.provider_options.<provider>]`).
    pub provider_options: Vec<(String, String)>,
    pub stats: stats::ModelStats,
    /// Scores computed in a batch ahead of the evaluation pass (see `batch`).
    pub prescored: batch::Prescored,
    session: Mutex<Backend>,
}

/// What runs a model: an ONNX Runtime session, or an RKNN context.
enum Backend {
    Ort(ort::session::Session),
    Rknn(rknn::Session),
}

/// Where the `rknn` provider finds librknnrt (`[inference] rknn_runtime_path`); set before loading.
static RKNN_RUNTIME: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Use `path` for librknnrt (the config's `rknn_runtime_path`) when the `rknn` provider loads.
pub fn set_rknn_runtime(path: Option<&Path>) {
    *RKNN_RUNTIME.lock().unwrap_or_else(|p| p.into_inner()) = path.map(Path::to_path_buf);
}

/// An RKNN context for the model directory's .rknn file (error: why it cannot run there).
fn rknn_session(dir: &Path, manifest: &Manifest) -> Result<rknn::Session, String> {
    let name = manifest.rknn_file.as_deref().unwrap_or("model.rknn");
    let file = dir.join(name);
    let bytes = std::fs::read(&file).map_err(|e| {
        format!("no {name} next to {} ({e}); convert the model with rknn-toolkit2 (cross/README.md)", manifest.file)
    })?;
    let Some(expected) = &manifest.rknn_sha256 else {
        return Err(format!(
            "the manifest has no rknn_sha256, so {name} is not pinned; add its sha256 to the manifest"
        ));
    };
    let actual = hex::encode(Sha256::digest(&bytes));
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(format!("{}: sha256 is {actual}, but the manifest says {expected}", file.display()));
    }
    let configured = RKNN_RUNTIME.lock().unwrap_or_else(|p| p.into_inner()).clone();
    rknn::Session::new(configured.as_deref(), &bytes, manifest.features.len())
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("name", &self.manifest.name).field("version", &self.manifest.version).finish()
    }
}

/// The features of one evaluation, with the window they were computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub values: Vec<f32>,
    /// Features scored beyond their trained range (on a side the manifest's `extrapolate`
    /// names): index, and whether above it.
    pub beyond: Vec<(usize, bool)>,
}

/// Why no features (and so no score) can be computed now.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureProblem {
    Unbound {
        role: String,
    },
    Window {
        role: String,
        problem: WindowProblem,
    },
    OutOfDomain {
        role: String,
        value: f64,
        min: f64,
        max: f64,
    },
    /// Valid, but beyond the range the model was trained on, on a side it does not judge.
    Untrained {
        role: String,
        value: f64,
        min: f64,
        max: f64,
    },
    /// A value in the window is missing or unreadable (CSV evaluation).
    Missing {
        role: String,
    },
}

impl std::fmt::Display for FeatureProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeatureProblem::Unbound { role } => write!(f, "role `{role}` is not bound to a point"),
            FeatureProblem::Window { role, problem } => write!(f, "{role}: {problem}"),
            FeatureProblem::Missing { role } => write!(f, "{role}: a value in the window is missing or bad"),
            FeatureProblem::OutOfDomain { role, value, min, max } => {
                write!(f, "{role} = {value:.4} is outside the model's domain of validity [{min}, {max}]")
            }
            FeatureProblem::Untrained { role, value, min, max } => write!(
                f,
                "{role} = {value:.4} is {} the range the model was trained on [{min}, {max}]; the model does not judge values there",
                if value > max { "above" } else { "below" }
            ),
        }
    }
}

impl Model {
    /// Load `dir/manifest.toml` and the model file it names on CPU; verify hash, input and output.
    pub fn load(dir: &Path) -> Result<Model, InferenceError> {
        Self::load_with(dir, &[], &Default::default())
    }

    /// Load a model on the first of `preferred` (then CPU) that registers and accepts it, each
    /// provider with its options.
    pub fn load_with(
        dir: &Path,
        preferred: &[Provider],
        options: &crate::config::inference::ProviderOptions,
    ) -> Result<Model, InferenceError> {
        let manifest = Manifest::load(&dir.join("manifest.toml"))?;
        let file = dir.join(&manifest.file);
        let bytes = std::fs::read(&file)
            .map_err(|e| InferenceError::Model { file: file.clone(), message: format!("cannot read: {e}") })?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(&manifest.sha256) {
            return Err(InferenceError::Hash { file, expected: manifest.sha256.clone(), actual });
        }
        let (_, env) = ENVIRONMENT.get().ok_or_else(|| InferenceError::Model {
            file: file.clone(),
            message: "ONNX Runtime is not loaded (init_runtime was not called or failed)".into(),
        })?;
        let model_err = |message: String| InferenceError::Model { file: file.clone(), message };
        let mut fallbacks = Vec::new();
        let mut chosen = None;
        for p in providers::preference(preferred) {
            let opts = crate::config::inference::provider_option_strings(options, p);
            let attempt = if p == Provider::Rknn {
                rknn_session(dir, &manifest).map(|s| (Backend::Rknn(s), "all"))
            } else {
                session_on(env, &bytes, p, &opts).map(|(s, placement)| (Backend::Ort(s), placement))
            };
            match attempt {
                Ok((s, placement)) => {
                    chosen = Some((p, s, placement, opts));
                    break;
                }
                Err(why) if p == Provider::Cpu => return Err(model_err(why)),
                Err(why) => {
                    tracing::warn!(model = %manifest.name, provider = p.as_str(), reason = %why,
                        "execution provider not used for this model; trying the next one");
                    fallbacks.push(format!("{p}: {why}"));
                }
            }
        }
        let (provider, session, placement, provider_options) = chosen.expect("CPU either succeeds or returns");
        // An RKNN context checked its input and output shapes when it was created.
        if let Backend::Ort(session) = &session {
            check_outlet(session.inputs(), &manifest.input.name, &manifest.input.shape, "input").map_err(&model_err)?;
            let out_shape = [manifest.input.shape[0], 1];
            check_outlet(session.outputs(), &manifest.output.name, &out_shape, "output").map_err(&model_err)?;
        }
        if fallbacks.is_empty() {
            tracing::info!(model = %manifest.name, version = %manifest.version, provider = provider.as_str(),
                nodes = placement, options = ?provider_options, file = %file.display(), "model loaded");
        } else {
            tracing::warn!(model = %manifest.name, version = %manifest.version, provider = provider.as_str(),
                nodes = placement, skipped = %fallbacks.join("; "), file = %file.display(),
                "model loaded on a fallback execution provider");
        }
        Ok(Model {
            manifest,
            dir: dir.to_path_buf(),
            provider: provider.as_str(),
            fallbacks,
            placement,
            provider_options,
            stats: Default::default(),
            prescored: Default::default(),
            session: Mutex::new(session),
        })
    }

    /// Features from the asset's windows, as the manifest defines them; domain checked.
    pub fn features(&self, asset: &AssetState, now_ms: i64) -> Result<Features, FeatureProblem> {
        compute_features(&self.manifest, |spec| {
            let role = asset.role(&spec.role).ok_or_else(|| FeatureProblem::Unbound { role: spec.role.clone() })?;
            let w = role
                .good_window(spec.window, now_ms, asset.stale_after_ms)
                .map_err(|problem| FeatureProblem::Window { role: spec.role.clone(), problem })?;
            Ok(w.iter().filter_map(|s| s.value).collect())
        })
    }

    /// The asset's score for these features: the batched one if it was computed for exactly
    /// them at `now_ms`, else a run of its own.
    pub fn score_for(&self, asset: &str, now_ms: i64, features: &[f32]) -> Result<f32, InferenceError> {
        match self.prescored.take(asset, now_ms, features) {
            Some(s) => Ok(s),
            None => self.score(features),
        }
    }

    /// Score one feature vector.
    pub fn score(&self, features: &[f32]) -> Result<f32, InferenceError> {
        Ok(self.score_batch(features, 1)?[0])
    }

    /// Score `rows` feature vectors laid out row after row.
    pub fn score_batch(&self, features: &[f32], rows: usize) -> Result<Vec<f32>, InferenceError> {
        let run_err = |message: String| InferenceError::Run { model: self.manifest.name.clone(), message };
        let n = self.manifest.features.len();
        if features.len() != rows * n {
            return Err(run_err(format!("expected {rows} x {n} features, got {}", features.len())));
        }
        // A view of the caller's buffer: no copy of the batch.
        let mut backend = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let started = std::time::Instant::now();
        let session = match &mut *backend {
            Backend::Ort(s) => s,
            Backend::Rknn(s) => {
                let result = s.run(features, rows).map_err(run_err).and_then(|v| {
                    if v.len() == rows {
                        Ok(v)
                    } else {
                        Err(run_err(format!("expected {rows} scores, got {}", v.len())))
                    }
                });
                return self.account(result, started);
            }
        };
        let tensor =
            ort::value::TensorRef::from_array_view(([rows, n], features)).map_err(|e| run_err(e.to_string()))?;
        let result = (|| {
            let outputs = session
                .run(ort::inputs![self.manifest.input.name.as_str() => tensor])
                .map_err(|e| run_err(e.to_string()))?;
            let (_, data) = outputs[self.manifest.output.name.as_str()]
                .try_extract_tensor::<f32>()
                .map_err(|e| run_err(e.to_string()))?;
            if data.len() != rows {
                return Err(run_err(format!("expected {rows} scores, got {}", data.len())));
            }
            Ok(data.to_vec())
        })();
        self.account(result, started)
    }

    /// Count a run's outcome in the model's stats.
    fn account(
        &self,
        result: Result<Vec<f32>, InferenceError>,
        started: std::time::Instant,
    ) -> Result<Vec<f32>, InferenceError> {
        let rows = result.as_ref().map(|v| v.len()).unwrap_or(0);
        match &result {
            Ok(scores) => {
                self.stats.record(rows, started.elapsed().as_micros() as u64);
                let bad = scores.iter().filter(|s| !s.is_finite()).count();
                if bad > 0 {
                    self.stats.non_finite(bad);
                }
            }
            Err(_) => self.stats.error(),
        }
        result
    }

    /// The input roles, in input order, without repeats.
    pub fn roles(&self) -> Vec<String> {
        let mut roles: Vec<String> = Vec::new();
        for f in &self.manifest.features {
            if !roles.contains(&f.role) {
                roles.push(f.role.clone());
            }
        }
        roles
    }
}

/// The manifest's features from the windows `window` returns per feature; each value is
/// checked against the feature's domain of validity (a NaN, undefined, value is outside) and
/// its trained range ([`FeatureSpec::place`]).
pub fn compute_features(
    manifest: &Manifest,
    mut window: impl FnMut(&FeatureSpec) -> Result<Vec<f64>, FeatureProblem>,
) -> Result<Features, FeatureProblem> {
    let mut values = Vec::with_capacity(manifest.features.len());
    let mut beyond = Vec::new();
    for (i, spec) in manifest.features.iter().enumerate() {
        let xs = window(spec)?;
        let v = spec.compute(&xs);
        let role = || spec.role.clone();
        match spec.place(v) {
            Placement::Trained => {}
            Placement::Beyond { above } => beyond.push((i, above)),
            Placement::Invalid => {
                return Err(FeatureProblem::OutOfDomain {
                    role: role(),
                    value: v,
                    min: spec.valid_min,
                    max: spec.valid_max,
                })
            }
            Placement::Untrained => {
                return Err(FeatureProblem::Untrained {
                    role: role(),
                    value: v,
                    min: spec.trained_min,
                    max: spec.trained_max,
                })
            }
        }
        values.push(v as f32);
    }
    Ok(Features { values, beyond })
}

/// A session for `bytes` with provider `p` registered, and whether `p` runs all its nodes
/// (error: why `p` cannot take the model).
fn session_on(
    env: &ort::environment::Environment,
    bytes: &[u8],
    p: Provider,
    options: &[(String, String)],
) -> Result<(ort::session::Session, &'static str), String> {
    // The plugin provider says itself why it has no device (plugin_devices).
    if p != Provider::Cpu && p != Provider::Plugin {
        match providers::is_available(p) {
            Ok(true) => {}
            Ok(false) => {
                let have: Vec<&str> = providers::available().iter().map(|p| p.as_str()).collect();
                return Err(format!(
                    "not in this ONNX Runtime build (it has: {}); install the vendor's ONNX Runtime with {} and point [inference] runtime_path at it",
                    have.join(", "),
                    p.ort_name()
                ));
            }
            Err(e) => return Err(format!("cannot ask ONNX Runtime for its providers: {e}")),
        }
    }
    let build = |strict: bool| -> Result<ort::session::Session, String> {
        let mut b = ort::session::Session::builder(env).map_err(|e| e.to_string())?;
        b = b.with_intra_threads(1).map_err(|e| e.to_string())?;
        if strict {
            // Refuse the session if any node would go to the CPU provider: tells whether
            // `p` runs the whole model.
            b = b.with_config_entry("session.disable_cpu_ep_fallback", "1").map_err(|e| e.to_string())?;
        }
        if p == Provider::Plugin {
            b = plugin_devices(env, b, options)?;
        } else {
            providers::register(p, &mut b, options).map_err(|e| format!("registration failed: {e}"))?;
        }
        b.commit_from_memory(bytes).map_err(|e| {
            if p == Provider::Cpu {
                format!("ONNX Runtime rejected the model: {e}")
            } else {
                format!("registered, but the session could not be created with it: {e}")
            }
        })
    };
    if p == Provider::Cpu {
        return build(false).map(|s| (s, "all"));
    }
    match build(true) {
        Ok(s) => Ok((s, "all")),
        Err(_) => build(false).map(|s| (s, "partial")),
    }
}

/// Append the plugin libraries' devices (of the configured type, if any) to the session.
fn plugin_devices(
    env: &ort::environment::Environment,
    b: ort::session::builder::SessionBuilder,
    options: &[(String, String)],
) -> Result<ort::session::builder::SessionBuilder, String> {
    let eps = plugin_eps();
    let names: Vec<String> =
        EP_LIBRARIES.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|l| l.0.clone()).collect();
    if names.is_empty() {
        return Err("no plugin EP library is registered ([[inference.ep_libraries]] lists none, or they failed)".into());
    }
    let want = options.iter().find(|(k, _)| k == "device").map(|(_, v)| v.to_uppercase());
    let devices: Vec<_> = env
        .devices()
        .filter(|d| d.ep().is_ok_and(|e| eps.iter().any(|x| x == e)))
        .filter(|d| want.as_deref().is_none_or(|w| format!("{:?}", d.hardware_device().ty()) == w))
        .collect();
    if devices.is_empty() {
        return Err(format!(
            "the plugin libraries ({}) offer no {}device here",
            names.join(", "),
            want.map(|w| format!("{w} ")).unwrap_or_default()
        ));
    }
    b.with_devices(devices, None).map_err(|e| format!("registration failed: {e}"))
}

fn check_outlet(outlets: &[ort::value::Outlet], name: &str, shape: &[i64], what: &str) -> Result<(), String> {
    let names: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
    let o = outlets
        .iter()
        .find(|o| o.name() == name)
        .ok_or_else(|| format!("manifest {what} `{name}` is not in the model; the model's {what}s are {names:?}"))?;
    let actual: Vec<i64> = o.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default();
    if o.dtype().tensor_type() != Some(ort::value::TensorElementType::Float32) {
        return Err(format!("model {what} `{name}` has type {:?}; the manifest says f32", o.dtype()));
    }
    let fits = actual.len() == shape.len() && actual.iter().zip(shape).all(|(a, m)| *a == *m || *a < 0 || *m < 0);
    if !fits {
        return Err(format!("model {what} `{name}` has shape {actual:?}; the manifest says {shape:?}"));
    }
    Ok(())
}

/// The model directories under `models_dir`: each sub-directory with a manifest.toml.
pub fn model_dirs(models_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(models_dir) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> =
        entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("manifest.toml").is_file()).collect();
    dirs.sort();
    dirs
}

/// Load every model under `models_dir` (each sub-directory with a manifest.toml). A model
/// that fails to load is reported and skipped; the rest run.
pub fn load_all(models_dir: &Path) -> (Vec<Model>, Vec<InferenceError>) {
    let (models, errors) = load_dirs(&model_dirs(models_dir), &[], &Default::default());
    (models, errors.into_iter().map(|(_, e)| e).collect())
}

/// Load the models in `dirs`; the errors name the directory they belong to.
pub fn load_dirs(
    dirs: &[PathBuf],
    preferred: &[Provider],
    options: &crate::config::inference::ProviderOptions,
) -> (Vec<Model>, Vec<(PathBuf, InferenceError)>) {
    let mut models = Vec::new();
    let mut errors = Vec::new();
    for dir in dirs {
        match Model::load_with(dir, preferred, options) {
            Ok(m) => models.push(m),
            Err(e) => {
                tracing::error!(dir = %dir.display(), error = %e, "model rejected; the others still run");
                errors.push((dir.clone(), e));
            }
        }
    }
    (models, errors)
}

/// What loading the configured models gave.
#[derive(Debug, Default)]
pub struct Loaded {
    pub models: Vec<std::sync::Arc<Model>>,
    /// Errors to report (runtime missing, models rejected).
    pub errors: Vec<String>,
    pub rejected: Vec<registry::Rejected>,
    /// Model directories that cannot run, each with the reason (their criteria abstain).
    pub unavailable: Vec<(PathBuf, String)>,
}

/// Load the models of an `[inference]` section: runtime first (only when there is a model),
/// then each model on its preferred execution provider. Never fails as a whole.
pub fn load_configured(cfg: &crate::config::inference::InferenceConfig) -> Loaded {
    let dirs = model_dirs(&cfg.models_dir);
    if !cfg.enabled {
        let why = "inference disabled in config ([inference] enabled = false)";
        return Loaded { unavailable: dirs.into_iter().map(|d| (d, why.to_string())).collect(), ..Default::default() };
    }
    // ONNX Runtime costs about 19 MiB once loaded: load it only when there is a model.
    if dirs.is_empty() {
        tracing::info!(models_dir = %cfg.models_dir.display(), "no models configured; ONNX Runtime not loaded");
        return Loaded::default();
    }
    if let Err(e) = init_runtime(cfg.runtime_path.as_deref()) {
        tracing::error!(error = %e, "ONNX Runtime unavailable; model criteria will abstain");
        let why = format!("ONNX Runtime unavailable: {e}");
        return Loaded {
            errors: vec![e.to_string()],
            rejected: dirs.iter().map(|d| registry::Rejected::new(d.clone(), why.clone())).collect(),
            unavailable: dirs.into_iter().map(|d| (d, why.clone())).collect(),
            ..Default::default()
        };
    }
    set_rknn_runtime(cfg.rknn_runtime_path.as_deref());
    let lib_errors = register_ep_libraries(&cfg.ep_libraries);
    let (models, errors) = load_dirs(&dirs, &cfg.providers, &cfg.provider_options);
    Loaded {
        models: models.into_iter().map(std::sync::Arc::new).collect(),
        errors: lib_errors.into_iter().chain(errors.iter().map(|(_, e)| e.to_string())).collect(),
        rejected: errors.iter().map(|(d, e)| registry::Rejected::new(d.clone(), e.to_string())).collect(),
        unavailable: errors.into_iter().map(|(d, e)| (d, format!("model rejected: {e}"))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_runtime_libraries_are_found_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "libonnxruntime.so.1.22.1",
            "libonnxruntime.so.1.9.0",
            "libonnxruntime.so.1.24",
            "libonnxruntime.so.1.x",
            "other.so.1.2",
        ] {
            std::fs::write(dir.path().join(f), b"").unwrap();
        }
        let names: Vec<String> = versioned_libraries(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["libonnxruntime.so.1.24", "libonnxruntime.so.1.22.1", "libonnxruntime.so.1.9.0"]);
    }
}
