//! What technicians add to findings: acknowledgement and field notes (text, photos).
//! The principal comes from the auth layer; writes are audited there.

use super::auth::Principal;
use super::{parse_id, query_store, ApiError, ApiResult, ApiState, ErrorBody, FindingView};
use crate::store::auth::{AckResult, Note};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

const PHOTO_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];
const MAX_TEXT: usize = 4000;

pub(crate) fn routes(state: &ApiState) -> Router<ApiState> {
    // The body limit of the photo route is the configured one (plus nothing else).
    let photo_limit = state.auth.photo_max_bytes;
    Router::new()
        .route("/api/v1/findings/{id}/ack", post(acknowledge))
        .route("/api/v1/findings/{id}/notes", get(notes).post(add_note))
        .route("/api/v1/findings/{id}/photos", post(add_photo).layer(DefaultBodyLimit::max(photo_limit)))
        .route("/api/v1/notes/{id}/photo", get(photo))
}

#[derive(OpenApi)]
#[openapi(
    paths(acknowledge, notes, add_note, add_photo, photo),
    components(schemas(AckBody, NoteBody, Note, PhotoBytes)),
    modifiers(&OptionalAckBody)
)]
pub(crate) struct Doc;

/// The acknowledge body is an `AckBody` that may be left out (`required: false`), not a
/// nullable one: generated clients then send nothing when they have nothing.
struct OptionalAckBody;

impl utoipa::Modify for OptionalAckBody {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let op = doc.paths.paths.get_mut("/api/v1/findings/{id}/ack").and_then(|p| p.post.as_mut());
        if let Some(body) = op.and_then(|o| o.request_body.as_mut()) {
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// Optional remark kept with the acknowledgement.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub comment: String,
    /// The field app's id of this action (for example a UUID): sent again after a lost
    /// answer, it is applied once and answered as the first time.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub client_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The note: at least one character that is neither white space nor a control character.
    #[schema(min_length = 1, max_length = 4000, pattern = "[^\\s\\u0000-\\u001f\\u007f-\\u009f]")]
    pub text: String,
    /// The field app's id of this note: sent again after a lost answer, the note is stored
    /// once and the stored one is answered.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub client_id: Option<String>,
}

fn not_found(id: i64) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "finding_not_found", format!("no finding {id}"))
}

fn check_text(field: &str, text: &str, required: bool) -> Result<(), ApiError> {
    // Blank is white space and control characters only (the document's pattern for a note).
    if required && text.chars().all(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("{field}: must not be empty (white space and control characters only)"),
        ));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("{field}: {} characters, at most {MAX_TEXT} allowed", text.chars().count()),
        ));
    }
    Ok(())
}

/// The optional body of an acknowledgement: none, empty or an `AckBody` object (a generated
/// client sends nothing, or `Content-Type: application/json` with no bytes). JSON `null` is
/// not an `AckBody` and is refused, as the document says.
fn ack_body(headers: &HeaderMap, body: &[u8]) -> Result<AckBody, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(AckBody::default());
    }
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type `{ct}`: expected application/json (or no body)"),
        ));
    }
    serde_json::from_slice::<AckBody>(body)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_body", format!("acknowledge body: {e}")))
}

fn check_client_id(c: &Option<String>) -> Result<(), ApiError> {
    match c {
        Some(c) if c.is_empty() || c.chars().count() > 100 || c.chars().any(|ch| ch.is_control()) => {
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                format!("client_id: {} characters; expected 1 to 100 printable characters", c.chars().count()),
            ))
        }
        _ => Ok(()),
    }
}

/// Acknowledge a finding (technician). Its open/cleared state is not changed; an
/// `acknowledged` event is added. A finding is acknowledged once.
#[utoipa::path(post, path = "/api/v1/findings/{id}/ack", tag = "findings", params(("id" = i64, Path)),
    request_body(content = AckBody, description = "optional: none, empty, or an AckBody"),
    responses((status = 200, body = FindingView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "already acknowledged", body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn acknowledge(
    State(state): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<FindingView> {
    // The finding comes back in the language of Accept-Language (else the configured one).
    let lang = super::i18n::lang_of(&state, None, &headers);
    let id = parse_id(&id, "finding")?;
    let body = ack_body(&headers, &body)?;
    let (comment, client_id) = (body.comment, body.client_id);
    check_text("comment", &comment, false)?;
    check_client_id(&client_id)?;
    let user = p.user.clone();
    let now = crate::time::now_ms();
    let (result, rec) = query_store(&state, move |s| {
        let r = s.acknowledge(id, &user, &comment, now, client_id.as_deref())?;
        let rec = s.finding(id)?;
        let ack = s.ack(id)?;
        Ok((r, rec.map(|f| FindingView::new(f, ack, lang))))
    })
    .await?;
    match (result, rec) {
        (AckResult::Done, Some(v)) => {
            tracing::info!(finding = id, user = %p.user, "finding acknowledged");
            Ok(Json(v))
        }
        (AckResult::Already, Some(v)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_acknowledged",
            format!(
                "finding {id} was acknowledged by {} at {}",
                v.acknowledged.as_ref().map(|a| a.by.as_str()).unwrap_or("?"),
                v.acknowledged.as_ref().map(|a| a.at.as_str()).unwrap_or("?")
            ),
        )),
        _ => Err(not_found(id)),
    }
}

/// Field notes of a finding, oldest first.
#[utoipa::path(get, path = "/api/v1/findings/{id}/notes", tag = "notes", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Note>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn notes(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult<Vec<Note>> {
    let id = parse_id(&id, "finding")?;
    let (exists, notes) = query_store(&state, move |s| Ok((s.finding(id)?.is_some(), s.notes(id)?))).await?;
    if !exists {
        return Err(not_found(id));
    }
    Ok(Json(notes))
}

/// Add a text note to a finding (technician).
#[utoipa::path(post, path = "/api/v1/findings/{id}/notes", tag = "notes", params(("id" = i64, Path)),
    request_body = NoteBody,
    responses((status = 201, body = Note), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn add_note(
    State(state): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Json(body): Json<NoteBody>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let id = parse_id(&id, "finding")?;
    check_text("text", &body.text, true)?;
    check_client_id(&body.client_id)?;
    let now = crate::time::now_ms();
    let note =
        query_store(&state, move |s| s.add_note(id, &p.user, &body.text, None, now, body.client_id.as_deref())).await?;
    note.map(|n| (StatusCode::CREATED, Json(n))).ok_or_else(|| not_found(id))
}

/// The raw bytes of an image.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct PhotoBytes(#[allow(dead_code)] Vec<u8>);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PhotoQuery {
    /// Caption for the photo.
    #[serde(default)]
    text: String,
    /// The field app's id of this note (see NoteBody.client_id).
    #[param(min_length = 1, max_length = 100, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    client_id: Option<String>,
}

/// Attach a photo to a finding (technician): the raw image as the body, `Content-Type`
/// image/jpeg, image/png or image/webp (the image's first bytes decide when they show one of
/// the three, so `image/*` or `application/octet-stream` work too), at most `[api] photo_max_kib`.
#[utoipa::path(post, path = "/api/v1/findings/{id}/photos", tag = "notes", params(("id" = i64, Path), PhotoQuery),
    request_body(content((PhotoBytes = "image/jpeg"), (PhotoBytes = "image/png"), (PhotoBytes = "image/webp")),
        description = "image/jpeg, image/png or image/webp"),
    responses((status = 201, body = Note), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 507, description = "photo storage full: the photos kept (those of open findings) fill `[api] photo_quota_mib`", body = ErrorBody)))]
async fn add_photo(
    State(state): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    super::ApiQuery(q): super::ApiQuery<PhotoQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let id = parse_id(&id, "finding")?;
    check_text("text", &q.text, false)?;
    check_client_id(&q.client_id)?;
    let mime = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut mime = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    // The bytes say which image it is when they can: a generic type (`image/*`, bytes) or a
    // wrong one (a generated client sends one declared type for every image) is corrected.
    if let Some(sniffed) = sniff(&body) {
        if sniffed != mime {
            tracing::debug!(finding = id, declared = %mime, sniffed, "photo type taken from its bytes");
        }
        mime = sniffed.to_string();
    }
    if !PHOTO_TYPES.contains(&mime.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type `{mime}`: expected image/jpeg, image/png or image/webp"),
        ));
    }
    if body.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_body", "empty photo"));
    }
    let now = crate::time::now_ms();
    let (policy, bytes) = (state.retention, body.len() as u64);
    // Room and insert under one store lock: two uploads cannot both take the last room.
    let stored = query_store(&state, move |s| match s.make_room_for_photo(bytes, now, &policy)? {
        Ok(()) => s.add_note(id, &p.user, &q.text, Some((&body, &mime)), now, q.client_id.as_deref()).map(Ok),
        Err(stored) => Ok(Err(stored)),
    })
    .await?;
    let note = stored.map_err(|stored| {
        tracing::warn!(finding = id, photo_bytes = bytes, stored_bytes = stored, quota_bytes = policy.photo_quota_bytes,
            "photo refused: the photo quota is full with photos of open findings");
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "photo_storage_full",
            format!(
                "photo storage is full: {stored} bytes of photos are kept (photos of open findings are never removed) and this {bytes}-byte photo would exceed [api] photo_quota_mib = {} MiB; save the note as text, or ask an administrator to raise the quota",
                policy.photo_quota_bytes / (1024 * 1024)
            ),
        )
    })?;
    note.map(|n| (StatusCode::CREATED, Json(n))).ok_or_else(|| not_found(id))
}

/// The image type of a photo's first bytes: JPEG, PNG or WebP.
fn sniff(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// The photo of a note.
#[utoipa::path(get, path = "/api/v1/notes/{id}/photo", tag = "notes", params(("id" = i64, Path)),
    responses((status = 200, content_type = "image/*", body = PhotoBytes), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn photo(State(state): State<ApiState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id, "note")?;
    let found = query_store(&state, move |s| s.note_photo(id)).await?;
    let (bytes, mime) = found
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "photo_not_found", format!("note {id} has no photo")))?;
    Ok(([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "private, max-age=86400".to_string())], bytes)
        .into_response())
}
