//! What technicians add to findings: acknowledgement and field notes (text, photos).
//! The principal comes from the auth layer; writes are audited there.

use super::auth::Principal;
use super::{parse_id, query_store, ApiError, ApiResult, ApiState, ErrorBody, FindingView};
use crate::store::auth::{AckResult, Note};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
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
    components(schemas(AckBody, NoteBody, Note, PhotoBytes))
)]
pub(crate) struct Doc;

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// Optional remark kept with the acknowledgement.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub comment: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    #[schema(min_length = 1, max_length = 4000)]
    pub text: String,
}

fn not_found(id: i64) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "finding_not_found", format!("no finding {id}"))
}

fn check_text(field: &str, text: &str, required: bool) -> Result<(), ApiError> {
    if required && text.trim().is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_body", format!("{field}: must not be empty")));
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

/// Acknowledge a finding (technician). Its open/cleared state is not changed; an
/// `acknowledged` event is added. A finding is acknowledged once.
#[utoipa::path(post, path = "/api/v1/findings/{id}/ack", tag = "findings", params(("id" = i64, Path)),
    request_body(content = Option<AckBody>, description = "optional"),
    responses((status = 200, body = FindingView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "already acknowledged", body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn acknowledge(
    State(state): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Option<Json<Option<AckBody>>>,
) -> ApiResult<FindingView> {
    // The finding comes back in the language of Accept-Language (else the configured one).
    let lang = super::i18n::lang_of(&state, None, &headers)?;
    let id = parse_id(&id, "finding")?;
    let comment = body.and_then(|b| b.0).map(|b| b.comment).unwrap_or_default();
    check_text("comment", &comment, false)?;
    let user = p.user.clone();
    let now = crate::time::now_ms();
    let (result, rec) = query_store(&state, move |s| {
        let r = s.acknowledge(id, &user, &comment, now)?;
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
    let now = crate::time::now_ms();
    let note = query_store(&state, move |s| s.add_note(id, &p.user, &body.text, None, now)).await?;
    note.map(|n| (StatusCode::CREATED, Json(n))).ok_or_else(|| not_found(id))
}

/// The raw bytes of an image.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct PhotoBytes(#[allow(dead_code)] Vec<u8>);

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PhotoQuery {
    /// Caption for the photo.
    #[serde(default)]
    text: String,
}

/// Attach a photo to a finding (technician): the raw image as the body, `Content-Type`
/// image/jpeg, image/png or image/webp, at most `[api] photo_max_kib`.
#[utoipa::path(post, path = "/api/v1/findings/{id}/photos", tag = "notes", params(("id" = i64, Path), PhotoQuery),
    request_body(content = PhotoBytes, content_type = "image/jpeg"),
    responses((status = 201, body = Note), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 507, description = "photo storage full: the photos kept (those of open findings) fill `[api] photo_quota_mib`", body = ErrorBody)))]
async fn add_photo(
    State(state): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<PhotoQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let id = parse_id(&id, "finding")?;
    check_text("text", &q.text, false)?;
    let mime = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mime = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
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
        Ok(()) => s.add_note(id, &p.user, &q.text, Some((&body, &mime)), now).map(Ok),
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

/// The photo of a note.
#[utoipa::path(get, path = "/api/v1/notes/{id}/photo", tag = "notes", params(("id" = i64, Path)),
    responses((status = 200, content_type = "image/jpeg", body = PhotoBytes), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn photo(State(state): State<ApiState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id, "note")?;
    let found = query_store(&state, move |s| s.note_photo(id)).await?;
    let (bytes, mime) = found
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "photo_not_found", format!("note {id} has no photo")))?;
    Ok(([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "private, max-age=86400".to_string())], bytes)
        .into_response())
}
