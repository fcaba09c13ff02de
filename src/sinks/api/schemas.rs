//! Documentation-only shapes of answers built as JSON objects (issue 14: every route of the
//! OpenAPI document has a typed response, so that a generated client has a model for it).
//! The handlers keep building their answers; these say which fields they carry.
#![allow(dead_code)]

use utoipa::ToSchema;

/// `GET /healthz`: whether the gateway works, and what is degraded.
#[derive(ToSchema)]
pub struct Health {
    /// The overall state: `healthy`, `degraded` or `down` (see DEVELOPERS.md). Without
    /// credentials the answer is this field alone.
    pub status: String,
    /// With credentials: why the state is not `healthy`, one line each.
    pub reasons: Option<Vec<String>>,
    pub version: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub site: Option<serde_json::Value>,
    pub uptime_s: Option<i64>,
    /// RFC 3339; absent before the first evaluation.
    pub last_evaluation: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub store: Option<serde_json::Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub sources: Option<Vec<serde_json::Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub models: Option<Vec<serde_json::Value>>,
    /// Models that could not be loaded, with the file and why.
    #[schema(value_type = Option<Vec<Object>>)]
    pub model_errors: Option<Vec<serde_json::Value>>,
    /// Alarm outputs that failed, with the device and why.
    #[schema(value_type = Option<Vec<Object>>)]
    pub alarm_errors: Option<Vec<serde_json::Value>>,
    /// Criteria switched off by configuration or by a failed check, with the reason.
    #[schema(value_type = Option<Vec<Object>>)]
    pub disabled_criteria: Option<Vec<serde_json::Value>>,
    /// The MQTT sink: broker, session, counters and the outbox (absent without `[mqtt]`).
    #[schema(value_type = Option<Object>)]
    pub mqtt: Option<serde_json::Value>,
}

/// `GET /api/v1/ask`: ranked passages, or no supported answer and why.
#[derive(ToSchema)]
pub struct AskAnswer {
    pub query: String,
    /// `en` or `zh`.
    pub lang: String,
    /// False when no passage supports an answer (`reason` says why; `results` are then the
    /// nearest references, each marked `nearest`).
    pub supported: bool,
    pub reason: Option<String>,
    /// Passages with their document, clause, verification and highlight.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<serde_json::Value>,
    /// Parameters the answer depends on that neither the question nor the asset fixes, each
    /// variant with its passages ("depends on the machine group").
    #[schema(value_type = Vec<Object>)]
    pub depends_on: Vec<serde_json::Value>,
    /// How the asset's parameters ranked the answer.
    pub context_note: Option<String>,
    /// With `asset`: its parameter values the search used.
    #[schema(value_type = Option<Object>)]
    pub asset_context: Option<serde_json::Value>,
    /// With `asset`: the evidence of its open findings.
    #[schema(value_type = Option<Vec<Object>>)]
    pub asset_evidence: Option<Vec<serde_json::Value>>,
}

/// `GET /api/v1/models`.
#[derive(ToSchema)]
pub struct ModelsAnswer {
    /// Bumped on every reload of the models.
    pub generation: u64,
    /// Execution providers of the loaded ONNX Runtime (empty when it is not loaded).
    pub available_providers: Vec<String>,
    /// The ONNX Runtime library (`library` path and `version`); null when it is not loaded.
    #[schema(value_type = Option<Object>)]
    pub runtime: Option<serde_json::Value>,
    /// One object per configured model: status, provider, skipped providers, latency.
    #[schema(value_type = Vec<Object>)]
    pub models: Vec<serde_json::Value>,
}
