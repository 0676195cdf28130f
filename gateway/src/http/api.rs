//! The internal JSON API (`/api/v1`): thin handlers that call
//! [`crate::service`]. No handler decides a permission itself.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use sekisho_proto::deletion::{DecideDisposal, DeletionCertificate, DisposalView, DisposeRequest};
use sekisho_proto::inbound::{
    ClassifyRequest, CloseIncident, CreateUploadRequest, InboundFileView, IncidentView,
    UploadAnswer, UploadRequestCreated,
};
use sekisho_proto::media::{
    CarryIn, MediumDisposalRequest, MediumDisposalView, MediumView, RegisterMedium, WrittenReport,
};
use sekisho_proto::{
    ApproveRequest, AuditCheckpoint, AuditFilter, AuditKey, AuditPage, ChangePasswordRequest,
    CreateRecipientRequest, CreateTransferRequest, CreateUserRequest, FileEntry, Health, LinkView,
    LoginRequest, LoginResponse, NewAccount, RecipientView, RejectRequest, SubmitRequest,
    SubmitResponse, TransferCreated, TransferSummary, TransferView, UserInfo, UserSummary,
};
use serde::Deserialize;

use super::extract::Authed;
use crate::error::AppResult;
use crate::policy;
use crate::service::{
    Origin, accounts, audit, deletion, inbound, incidents, media, recipients, scanning, transfers,
};
use crate::state::Shared;

pub const OPENAPI: &str = include_str!("openapi.json");

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/password", post(change_password))
        .route("/api/v1/admin/users", get(list_users).post(create_user))
        .route("/api/v1/admin/users/{name}/disable", post(disable_user))
        .route("/api/v1/admin/users/{name}/enable", post(enable_user))
        .route(
            "/api/v1/recipients",
            get(list_recipients).post(create_recipient),
        )
        .route(
            "/api/v1/transfers",
            get(list_transfers).post(create_transfer),
        )
        .route("/api/v1/transfers/{id}", get(show_transfer))
        .route("/api/v1/transfers/{id}/files/{index}", put(upload_file))
        .route("/api/v1/transfers/{id}/submit", post(submit_transfer))
        .route("/api/v1/transfers/{id}/approve", post(approve_transfer))
        .route("/api/v1/transfers/{id}/reject", post(reject_transfer))
        .route("/api/v1/transfers/{id}/revoke", post(revoke_transfer))
        .route("/api/v1/transfers/{id}/links", get(transfer_links))
        .route(
            "/api/v1/disposals",
            get(list_disposals).post(request_disposal),
        )
        .route("/api/v1/disposals/{id}", get(show_disposal))
        .route("/api/v1/media", get(list_media).post(register_medium))
        .route("/api/v1/media/{id}/checkin", post(check_in_medium))
        .route("/api/v1/media/{id}/carry-in", post(carry_in_medium))
        .route("/api/v1/media/{id}/disposal", post(request_medium_disposal))
        .route("/api/v1/media-disposals", get(pending_medium_disposals))
        .route("/api/v1/media-disposals/{id}", get(show_medium_disposal))
        .route(
            "/api/v1/media-disposals/{id}/approve",
            post(approve_medium_disposal),
        )
        .route(
            "/api/v1/media-disposals/{id}/reject",
            post(reject_medium_disposal),
        )
        .route("/api/v1/transfers/{id}/written", post(record_written))
        .route("/api/v1/disposals/{id}/approve", post(approve_disposal))
        .route("/api/v1/disposals/{id}/reject", post(reject_disposal))
        .route("/api/v1/deletions/{object}", get(deletion_certificates))
        .route("/api/v1/audit/events", get(audit_events))
        .route(
            "/api/v1/audit/checkpoints",
            get(audit_checkpoints).post(new_audit_checkpoint),
        )
        .route("/api/v1/audit/key", get(audit_key))
        .route("/api/v1/inbox/requests", post(create_upload_request))
        .route("/api/v1/inbox/intake", post(create_intake))
        .route(
            "/api/v1/inbox/intake/{id}/files",
            post(intake_files).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/inbox/files", get(list_inbound))
        .route("/api/v1/inbox/files/{id}/classify", post(classify_inbound))
        .route("/api/v1/inbox/files/{id}/content", get(inbound_content))
        .route("/api/v1/inbox/files/{id}/rescan", post(rescan_inbound))
        .route("/api/v1/incidents", get(list_incidents))
        .route("/api/v1/incidents/{id}/escalate", post(escalate_incident))
        .route("/api/v1/incidents/{id}/close", post(close_incident))
        .route("/api/v1/scan/status", get(scan_status))
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn login(
    State(state): State<Shared>,
    origin: Origin,
    Json(request): Json<LoginRequest>,
) -> AppResult<Json<LoginResponse>> {
    Ok(Json(accounts::login(&state, request, &origin).await?))
}

async fn logout(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
) -> AppResult<StatusCode> {
    accounts::logout(&state, &authed.actor, &authed.token, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn whoami(authed: Authed) -> AppResult<Json<UserInfo>> {
    policy::may_view_self(&authed.actor)?;
    Ok(Json(UserInfo {
        username: authed.actor.username,
        role: authed.actor.role,
        must_change_password: authed.actor.must_change_password,
    }))
}

async fn change_password(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<ChangePasswordRequest>,
) -> AppResult<StatusCode> {
    accounts::change_password(&state, &authed.actor, request, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_users(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<UserSummary>>> {
    Ok(Json(accounts::list(&state, &authed.actor).await?))
}

async fn create_user(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<CreateUserRequest>,
) -> AppResult<(StatusCode, Json<NewAccount>)> {
    let created = accounts::create(&state, Some(&authed.actor), &request, &origin).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn disable_user(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(name): Path<String>,
) -> AppResult<Json<UserSummary>> {
    Ok(Json(
        accounts::set_enabled(&state, &authed.actor, &name, false, &origin).await?,
    ))
}

async fn enable_user(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(name): Path<String>,
) -> AppResult<Json<UserSummary>> {
    Ok(Json(
        accounts::set_enabled(&state, &authed.actor, &name, true, &origin).await?,
    ))
}

async fn list_recipients(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<RecipientView>>> {
    Ok(Json(recipients::list(&state, &authed.actor).await?))
}

async fn create_recipient(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<CreateRecipientRequest>,
) -> AppResult<(StatusCode, Json<RecipientView>)> {
    let created = recipients::create(&state, &authed.actor, request, &origin).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Deserialize)]
struct ListQuery {
    scope: Option<String>,
}

async fn list_transfers(
    State(state): State<Shared>,
    authed: Authed,
    Query(query): Query<ListQuery>,
) -> AppResult<Json<Vec<TransferSummary>>> {
    let scope = query.scope.unwrap_or_default();
    Ok(Json(transfers::list(&state, &authed.actor, &scope).await?))
}

async fn create_transfer(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<CreateTransferRequest>,
) -> AppResult<(StatusCode, Json<TransferCreated>)> {
    let created = transfers::create(&state, &authed.actor, request, &origin).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn show_transfer(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Json<TransferView>> {
    Ok(Json(transfers::view(&state, &authed.actor, &id).await?))
}

async fn upload_file(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path((id, index)): Path<(String, u32)>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Json<FileEntry>> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    Ok(Json(
        transfers::upload(state, &authed.actor, &id, index, declared, body, &origin).await?,
    ))
}

async fn submit_transfer(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(request): Json<SubmitRequest>,
) -> AppResult<Json<SubmitResponse>> {
    Ok(Json(
        transfers::submit(&state, &authed.actor, &id, request, &origin).await?,
    ))
}

async fn approve_transfer(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(request): Json<ApproveRequest>,
) -> AppResult<Json<TransferView>> {
    Ok(Json(
        transfers::approve(&state, &authed.actor, &id, request, &origin).await?,
    ))
}

async fn reject_transfer(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(request): Json<RejectRequest>,
) -> AppResult<Json<TransferView>> {
    Ok(Json(
        transfers::reject(&state, &authed.actor, &id, request, &origin).await?,
    ))
}

async fn revoke_transfer(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Json<TransferView>> {
    Ok(Json(
        transfers::revoke(&state, &authed.actor, &id, &origin).await?,
    ))
}

async fn transfer_links(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Json<Vec<LinkView>>> {
    Ok(Json(transfers::links(&state, &authed.actor, &id).await?))
}

#[derive(Deserialize)]
struct MediaQuery {
    overdue: Option<bool>,
}

async fn list_media(
    State(state): State<Shared>,
    authed: Authed,
    Query(query): Query<MediaQuery>,
) -> AppResult<Json<Vec<MediumView>>> {
    Ok(Json(
        media::list(&state, &authed.actor, query.overdue.unwrap_or(false)).await?,
    ))
}

async fn register_medium(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<RegisterMedium>,
) -> AppResult<(StatusCode, Json<MediumView>)> {
    let view = media::register(&state, &authed.actor, request, &origin).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn check_in_medium(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Json<MediumView>> {
    Ok(Json(
        media::check_in(&state, &authed.actor, &id, &origin).await?,
    ))
}

async fn carry_in_medium(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(request): Json<CarryIn>,
) -> AppResult<StatusCode> {
    media::carry_in(&state, &authed.actor, &id, request, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn request_medium_disposal(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(request): Json<MediumDisposalRequest>,
) -> AppResult<(StatusCode, Json<MediumDisposalView>)> {
    let view = media::request_disposal(&state, &authed.actor, &id, request, &origin).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn pending_medium_disposals(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<MediumDisposalView>>> {
    Ok(Json(media::pending_disposals(&state, &authed.actor).await?))
}

async fn show_medium_disposal(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Json<MediumDisposalView>> {
    Ok(Json(
        media::show_disposal(&state, &authed.actor, &id).await?,
    ))
}

async fn approve_medium_disposal(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(decision): Json<DecideDisposal>,
) -> AppResult<Json<MediumDisposalView>> {
    Ok(Json(
        media::decide_disposal(&state, &authed.actor, &id, true, decision, &origin).await?,
    ))
}

async fn reject_medium_disposal(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(decision): Json<DecideDisposal>,
) -> AppResult<Json<MediumDisposalView>> {
    Ok(Json(
        media::decide_disposal(&state, &authed.actor, &id, false, decision, &origin).await?,
    ))
}

async fn record_written(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(report): Json<WrittenReport>,
) -> AppResult<Json<TransferView>> {
    Ok(Json(
        media::written(&state, &authed.actor, &id, report, &origin).await?,
    ))
}

async fn request_disposal(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<DisposeRequest>,
) -> AppResult<(StatusCode, Json<DisposalView>)> {
    let view = deletion::request(&state, &authed.actor, request, &origin).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list_disposals(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<DisposalView>>> {
    Ok(Json(deletion::pending(&state, &authed.actor).await?))
}

async fn show_disposal(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Json<DisposalView>> {
    Ok(Json(deletion::show(&state, &authed.actor, &id).await?))
}

async fn approve_disposal(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(decision): Json<DecideDisposal>,
) -> AppResult<Json<DisposalView>> {
    Ok(Json(
        deletion::decide(&state, &authed.actor, &id, true, decision, &origin).await?,
    ))
}

async fn reject_disposal(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(decision): Json<DecideDisposal>,
) -> AppResult<Json<DisposalView>> {
    Ok(Json(
        deletion::decide(&state, &authed.actor, &id, false, decision, &origin).await?,
    ))
}

async fn deletion_certificates(
    State(state): State<Shared>,
    authed: Authed,
    Path(object): Path<String>,
) -> AppResult<Json<Vec<DeletionCertificate>>> {
    Ok(Json(
        deletion::certificates(&state, &authed.actor, &object).await?,
    ))
}

#[derive(Deserialize)]
struct AuditQuery {
    after: Option<i64>,
    limit: Option<i64>,
    #[serde(flatten)]
    filter: AuditFilter,
}

async fn audit_events(
    State(state): State<Shared>,
    authed: Authed,
    Query(query): Query<AuditQuery>,
) -> AppResult<Json<AuditPage>> {
    let page = audit::events(
        &state,
        &authed.actor,
        query.after.unwrap_or(0),
        query.limit.unwrap_or(1000),
        query.filter,
    )
    .await?;
    Ok(Json(page))
}

async fn audit_checkpoints(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<AuditCheckpoint>>> {
    Ok(Json(audit::checkpoints(&state, &authed.actor).await?))
}

async fn new_audit_checkpoint(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
) -> AppResult<(StatusCode, Json<AuditCheckpoint>)> {
    let checkpoint = audit::request_checkpoint(&state, &authed.actor, &origin).await?;
    Ok((StatusCode::CREATED, Json(checkpoint)))
}

async fn audit_key(State(state): State<Shared>, authed: Authed) -> AppResult<Json<AuditKey>> {
    Ok(Json(audit::key(&state, &authed.actor)?))
}

async fn create_upload_request(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<CreateUploadRequest>,
) -> AppResult<(StatusCode, Json<UploadRequestCreated>)> {
    let created = inbound::create_request(&state, &authed.actor, request, &origin).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Deserialize)]
struct IntakeRequest {
    purpose: String,
}

#[derive(serde::Serialize)]
struct IntakeCreated {
    id: String,
}

async fn create_intake(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<IntakeRequest>,
) -> AppResult<(StatusCode, Json<IntakeCreated>)> {
    let id = inbound::create_intake(&state, &authed.actor, &request.purpose, &origin).await?;
    Ok((StatusCode::CREATED, Json(IntakeCreated { id })))
}

async fn intake_files(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    multipart: Multipart,
) -> AppResult<Json<UploadAnswer>> {
    Ok(Json(
        inbound::receive_intake(state, &authed.actor, &id, multipart, &origin).await?,
    ))
}

async fn list_inbound(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<InboundFileView>>> {
    Ok(Json(inbound::list(&state, &authed.actor).await?))
}

async fn classify_inbound(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(request): Json<ClassifyRequest>,
) -> AppResult<Json<InboundFileView>> {
    Ok(Json(
        inbound::classify(&state, &authed.actor, &id, request, &origin).await?,
    ))
}

async fn inbound_content(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<axum::response::Response> {
    let (file, body) = inbound::content(state, &authed.actor, &id, &origin).await?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = header::HeaderValue::from_str(&file.sha256) {
        headers.insert("x-sekisho-sha256", value);
    }
    if let Ok(value) = header::HeaderValue::from_str(&file.size.to_string()) {
        headers.insert("x-sekisho-size", value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

async fn rescan_inbound(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Json<InboundFileView>> {
    Ok(Json(
        inbound::rescan(state, &authed.actor, &id, &origin).await?,
    ))
}

async fn list_incidents(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<IncidentView>>> {
    Ok(Json(incidents::list(&state, &authed.actor).await?))
}

async fn escalate_incident(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Json<IncidentView>> {
    Ok(Json(
        incidents::escalate(&state, &authed.actor, &id, &origin).await?,
    ))
}

async fn close_incident(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(request): Json<CloseIncident>,
) -> AppResult<Json<IncidentView>> {
    Ok(Json(
        incidents::close(&state, &authed.actor, &id, request, &origin).await?,
    ))
}

async fn scan_status(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<crate::scan::EngineStatus>>> {
    Ok(Json(scanning::status(&state, &authed.actor).await?))
}

#[cfg(test)]
mod tests {
    /// The OpenAPI document must describe every route the router serves.
    #[test]
    fn openapi_documents_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).expect("valid JSON");
        let source = include_str!("api.rs");
        let router = source
            .split("pub fn router")
            .nth(1)
            .and_then(|rest| rest.split("async fn health").next())
            .unwrap_or("");
        let routes: Vec<&str> = router
            .split("\"/api/v1")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(routes.len() >= 19);
        for route in routes {
            let path = format!("/api/v1{route}");
            assert!(
                doc["paths"][&path].is_object(),
                "{path} is not in openapi.json"
            );
        }
    }
}
