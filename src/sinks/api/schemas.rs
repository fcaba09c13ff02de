//! Documentation-only shapes of answers built as JSON objects (issue 14: every route of the
//! OpenAPI document has a typed response, so that a generated client has a model for it).
//! The handlers keep building their answers; these say which fields they carry.
#![allow(dead_code)]

use utoipa::ToSchema;

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
