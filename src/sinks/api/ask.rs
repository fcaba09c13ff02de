//! `GET /api/v1/ask?q=&asset=&lang=&limit=`: ranked reference passages with citations and
//! highlights, tied to the asset's open findings when `asset` is given. Below the
//! relevance floor: `supported = false`, the reason, and the nearest references marked
//! `nearest = true`. No generated text. The same [`answer`] serves `edgecite ask`.

use super::{query_store, ApiError, ApiState};
use crate::config::packs::Lang;
use crate::diagnose::lab::LabDiagnoser;
use crate::diagnose::pack::PackSet;
use crate::knowledge::glossary::Glossary;
use crate::knowledge::search::query::Lexicon;
use crate::knowledge::search::{RefIndex, SearchError};
use crate::store::FindingFilter;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the knowledge routes need: the packs, the lab DGA diagnoser, the reference index
/// and the default language.
pub struct Knowledge {
    pub packs: PackSet,
    pub lab: LabDiagnoser,
    pub refs: Mutex<RefIndex>,
    pub language: Lang,
    /// Set when the reference index on disk could not be used and was rebuilt (or is kept
    /// in memory): why, for `/healthz`. Search still answers from the built-in library.
    pub refs_degraded: Option<String>,
    /// Each configured asset's class and parameters, for questions asked from it.
    pub assets: HashMap<String, AssetContext>,
}

/// Whether the file itself is broken (then it is moved aside and rebuilt).
fn is_corrupt(e: &SearchError) -> bool {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e {
        SearchError::Corrupt { .. } => true,
        SearchError::Db { source: rusqlite::Error::SqliteFailure(f, _), .. } => {
            matches!(f.code, DatabaseCorrupt | NotADatabase)
        }
        _ => false,
    }
}

/// Open the reference index at `path` with the built-in library loaded. A file that cannot
/// be used must not stop the daemon (issue 13 items 3 and 9): a corrupt one (or not a
/// database) is moved aside and a fresh index is built from the library; on other errors
/// (disk full, I/O), or if the rebuild fails, the index lives in memory. The second value
/// says what happened.
fn open_refs(
    path: &std::path::Path,
    lib: &crate::knowledge::Library,
) -> Result<(RefIndex, Option<String>), KnowledgeError> {
    let first = RefIndex::open(path).and_then(|mut r| {
        if let Some(p) = r.quick_check()? {
            return Err(SearchError::Corrupt { path: path.display().to_string(), problem: p });
        }
        r.load_library(lib)?;
        Ok(r)
    });
    let e = match first {
        Ok(r) => return Ok((r, None)),
        Err(e) => e,
    };
    if !is_corrupt(&e) {
        // A full disk or an I/O error says nothing about the file: it stays as it is, and
        // the index lives in memory until the next start.
        let why = format!("{e}; the reference index is in memory until the next start");
        tracing::error!(refs_db = %path.display(), problem = %why, "reference index unusable");
        let mut r = RefIndex::in_memory()?;
        r.load_library(lib)?;
        return Ok((r, Some(why)));
    }
    let aside = path.with_extension(format!("db.broken-{}", crate::time::now_ms()));
    let moved = std::fs::rename(path, &aside).is_ok();
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(side));
    }
    let why = if moved {
        format!("{e}; moved to {} and rebuilt from the built-in library (import documents again with `edgecite refs import`)", aside.display())
    } else {
        format!("{e}; rebuilt from the built-in library")
    };
    tracing::error!(refs_db = %path.display(), problem = %why, "reference index unusable");
    match RefIndex::open(path).and_then(|mut r| r.load_library(lib).map(|_| r)) {
        Ok(r) => Ok((r, Some(why))),
        Err(e2) => {
            let mut r = RefIndex::in_memory()?;
            r.load_library(lib)?;
            Ok((r, Some(format!("{why}; the new file failed too ({e2}): the index is in memory"))))
        }
    }
}

/// Why the packs, glossaries or reference index cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error(transparent)]
    Pack(#[from] crate::diagnose::pack::PackError),
    #[error(transparent)]
    Glossary(#[from] crate::knowledge::glossary::GlossaryError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Lab(#[from] crate::diagnose::lab::LabError),
}

impl Knowledge {
    /// Load the packs and their glossaries, open the reference index and refresh its
    /// built-in content.
    pub fn open(cfg: &crate::config::packs::PacksConfig, in_memory: bool) -> Result<Knowledge, KnowledgeError> {
        let packs = PackSet::load(cfg.builtin, &cfg.dirs)?;
        let glossary = Glossary::load(cfg.builtin, &cfg.dirs)?;
        let (mut refs, refs_degraded) = if in_memory {
            let mut r = RefIndex::in_memory()?;
            r.load_library(&packs.library)?;
            (r, None)
        } else {
            open_refs(&cfg.refs_db, &packs.library)?
        };
        if !cfg.dirs.is_empty() || !cfg.builtin {
            refs.set_lexicon(Arc::new(Lexicon::new(glossary)))?;
        }
        Ok(Knowledge {
            lab: LabDiagnoser::new(&packs)?,
            packs,
            refs: Mutex::new(refs),
            language: cfg.language,
            refs_degraded,
            assets: HashMap::new(),
        })
    }

    /// Know the configured assets' classes and parameters (`asset=` on /api/v1/ask).
    pub fn with_assets(mut self, assets: &[crate::config::AssetConfig]) -> Knowledge {
        self.assets = assets.iter().map(|a| (a.id.clone(), AssetContext::new(a, &self.packs))).collect();
        self
    }
}

pub use crate::knowledge::ask::{answer, AskResponse, AskResult, AssetContext, AssetEvidence};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/ask", get(ask))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(ask))]
pub(crate) struct Doc;

/// The query parameters of `/api/v1/ask`, for the OpenAPI document (the handler reads them
/// from a map so that an unknown parameter is named in the error).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AskParams {
    /// The question: 1 to 500 characters, not only spaces.
    #[param(min_length = 1, max_length = 500, pattern = r"\S")]
    q: String,
    /// An asset id: its open findings' cited passages rank first, then passages of its class
    /// and naming its parameter values (machine group, foundation, voltage and insulation
    /// class); 404 if unknown.
    asset: Option<String>,
    /// `en` or `zh` (else `Accept-Language`, else `[packs] language`).
    #[param(pattern = "^(en|zh|zh-CN)$")]
    lang: Option<String>,
    /// How many passages, 1 to 50 (default 5).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<u32>,
}

fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_query", message)
}

/// The language of a request: `lang=`, else `Accept-Language`, else the configured default.
pub(crate) fn request_lang(param: Option<&str>, headers: &HeaderMap, default: Lang) -> Result<Lang, ApiError> {
    match param {
        Some("en") => Ok(Lang::En),
        Some("zh") | Some("zh-CN") => Ok(Lang::Zh),
        Some(other) => Err(bad(format!("lang=`{other}`: expected en or zh"))),
        None => Ok(headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Lang::from_accept_language)
            .unwrap_or(default)),
    }
}

/// Ranked reference passages with citations and highlights, or "no supported answer" with
/// the nearest references; tied to the asset's open findings when `asset` is given.
#[utoipa::path(get, path = "/api/v1/ask", tag = "references",
    params(AskParams),
    responses((status = 200, description = "query, lang, supported, reason, results (with matched terms and sentences), depends_on, context_note, asset_context, asset_evidence", body = super::schemas::AskAnswer),
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
async fn ask(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<AskResponse>, ApiError> {
    let know = state.knowledge.clone();
    let mut query = None;
    let mut asset = None;
    let mut limit = 5usize;
    for (k, v) in &q {
        match k.as_str() {
            "q" => query = Some(v.clone()),
            "asset" => asset = Some(v.clone()),
            "lang" => {}
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=50).contains(n))
                    .ok_or_else(|| bad(format!("limit=`{v}`: expected a whole number from 1 to 50")))?
            }
            other => return Err(bad(format!("unknown query parameter `{other}`: expected q, asset, lang or limit"))),
        }
    }
    let query =
        query.filter(|s| !s.trim().is_empty()).ok_or_else(|| bad("missing q: the question to search for".into()))?;
    if query.chars().count() > 500 {
        return Err(bad(format!("q is {} characters long: at most 500", query.chars().count())));
    }
    let lang = request_lang(q.get("lang").map(|s| s.as_str()), &headers, know.language)?;
    let context = asset.as_ref().and_then(|a| know.assets.get(a).cloned());
    let findings = match asset {
        None => None,
        Some(a) => {
            let known = state.live.read().unwrap_or_else(|p| p.into_inner()).assets.iter().any(|x| x.id == a);
            if !known {
                return Err(ApiError::new(StatusCode::NOT_FOUND, "asset_not_found", format!("no asset `{a}`")));
            }
            let filter = FindingFilter { state: Some("open".into()), asset: Some(a), limit: None, severity: None };
            Some(query_store(&state, move |s| s.findings(&filter)).await?)
        }
    };
    tokio::task::spawn_blocking(move || {
        let refs = know.refs.lock().unwrap_or_else(|p| p.into_inner());
        answer(&refs, &query, lang, limit, context.as_ref(), findings.as_deref())
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map(Json)
    .map_err(|e| {
        tracing::error!(error = %e, "reference search failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "search_error", e.to_string())
    })
}

/// Shared handle type for the state.
pub type SharedKnowledge = Arc<Knowledge>;
