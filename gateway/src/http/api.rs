//! The internal JSON API (`/api/v1`): thin handlers that call
//! [`crate::service`]. No handler decides a permission itself.
//!
//! Each handler carries its `#[utoipa::path]`: the request body and path
//! parameters come from its extractors, the answers it can give are listed
//! (the errors as the shared responses of [`super::openapi`]). The router is
//! built from those attributes alone, so the served document is the routing
//! table.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use sekisho_proto::deletion::{DecideDisposal, DeletionCertificate, DisposalView, DisposeRequest};
use sekisho_proto::inbound::{
    ClassifyRequest, CloseIncident, CreateUploadRequest, InboundFileView, IncidentView,
    ReleaseOriginal, UploadAnswer, UploadRequestCreated,
};
use sekisho_proto::media::{
    ArrivalView, CarryIn, MediumDisposalRequest, MediumDisposalView, MediumView, RegisterMedium,
    WrittenReport,
};
use sekisho_proto::{
    ApproveRequest, AuditCheckpoint, AuditFilter, AuditKey, AuditPage, ChangeEmailRequest,
    ChangePasswordRequest, ChangeRoleRequest, CreateRecipientRequest, CreateTransferRequest,
    CreateUserRequest, DelegationView, ErrorBody, FileEntry, Health, LinkView, LoginRequest,
    LoginResponse, NewAccount, RecipientView, RejectRequest, RevocationView, RevokeRequest,
    SetDelegation, SubmitRequest, SubmitResponse, SuspensionView, TransferCreated, TransferSummary,
    TransferView, UserInfo, UserSummary,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::routes;

use super::client_addr::ClientAddr;
use super::extract::{Authed, DeclaredLength};
use super::openapi::{self as doc, Documented};
use super::throttling;
use crate::error::{AppError, AppResult};
use crate::policy;
use crate::service::{
    Origin, accounts, arrivals, audit, delegations, deletion, inbound, incidents, media,
    recipients, scanning, transfers,
};
use crate::state::Shared;

/// Every internal route, each with its documentation.
pub fn routes() -> Documented {
    Documented::default()
        .routes(routes!(health))
        .routes(routes!(super::ready::readyz))
        .routes(routes!(openapi_document))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(whoami))
        .routes(routes!(change_password))
        .routes(routes!(list_users, create_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(change_user_role))
        .routes(routes!(change_user_email))
        .routes(routes!(retire_user))
        .routes(routes!(list_delegations))
        .routes(routes!(set_delegation, clear_delegation))
        .routes(routes!(list_suspensions))
        .routes(routes!(list_recipients, create_recipient))
        .routes(routes!(list_transfers, create_transfer))
        .routes(routes!(show_transfer))
        .routes(routes!(upload_file))
        .routes(routes!(submit_transfer))
        .routes(routes!(approve_transfer))
        .routes(routes!(reject_transfer))
        .routes(routes!(revoke_transfer))
        .routes(routes!(list_revocations))
        .routes(routes!(transfer_links))
        .routes(routes!(record_written))
        .routes(routes!(list_disposals, request_disposal))
        .routes(routes!(show_disposal))
        .routes(routes!(approve_disposal))
        .routes(routes!(reject_disposal))
        .routes(routes!(deletion_certificates))
        .routes(routes!(list_media, register_medium))
        .routes(routes!(check_in_medium))
        .routes(routes!(carry_in_medium))
        .routes(routes!(list_arrivals))
        .routes(routes!(request_medium_disposal))
        .routes(routes!(pending_medium_disposals))
        .routes(routes!(show_medium_disposal))
        .routes(routes!(approve_medium_disposal))
        .routes(routes!(reject_medium_disposal))
        .routes(routes!(audit_events))
        .routes(routes!(audit_checkpoints, new_audit_checkpoint))
        .routes(routes!(audit_key))
        .routes(routes!(create_upload_request))
        .routes(routes!(create_intake))
        // Intake files stream to disk and are scanned there; their size is
        // bounded by the intake's own limits, not by the JSON body limit.
        .routes(routes!(intake_files).layer(DefaultBodyLimit::disable()))
        .routes(routes!(list_inbound))
        .routes(routes!(classify_inbound))
        .routes(routes!(inbound_content))
        .routes(routes!(rescan_inbound))
        .routes(routes!(release_inbound_original))
        .routes(routes!(list_incidents))
        .routes(routes!(escalate_incident))
        .routes(routes!(close_incident))
        .routes(routes!(scan_status))
}

pub fn router() -> Router<Shared> {
    routes().into_router()
}

/// Liveness
#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = doc::TAG_META,
    responses((status = 200, description = "The gateway is up; its version", body = Health))
)]
async fn health() -> Json<Health> {
    Json(Health {
        status: sekisho_proto::vocab::HealthStatus::Ok,
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// This document
///
/// OpenAPI 3.1, generated from the handlers and the wire types.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = doc::TAG_META,
    responses(
        (status = 200, description = "This document", content_type = "application/json",
            body = inline(serde_json::Value)),
        (status = 500, response = doc::Internal),
    )
)]
async fn openapi_document(State(state): State<Shared>) -> Response {
    match doc::document(&state.public_base_url).to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => AppError::Internal(
            anyhow::Error::new(e).context("cannot serialise the generated OpenAPI document"),
        )
        .into_response(),
    }
}

/// Log in with password and TOTP code
#[utoipa::path(
    post,
    path = "/api/v1/login",
    tag = doc::TAG_ACCOUNTS,
    responses(
        (status = 200, description = "A new session", body = LoginResponse),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::Internal),
    )
)]
async fn login(
    State(state): State<Shared>,
    origin: Origin,
    client: Option<Extension<ClientAddr>>,
    Json(request): Json<LoginRequest>,
) -> AppResult<Json<LoginResponse>> {
    // Per address, before any account is looked at: spraying one password
    // over many accounts is slowed here, long before any of them locks.
    throttling::check(&state.throttles.login, client.map(|Extension(c)| c))?;
    Ok(Json(accounts::login(&state, request, &origin).await?))
}

/// End this session
#[utoipa::path(
    post,
    path = "/api/v1/logout",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session has ended"),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::Internal),
    )
)]
async fn logout(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
) -> AppResult<StatusCode> {
    accounts::logout(&state, &authed.actor, &authed.token, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The logged-in user
#[utoipa::path(
    get,
    path = "/api/v1/whoami",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserInfo),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::Internal),
    )
)]
async fn whoami(authed: Authed) -> AppResult<Json<UserInfo>> {
    policy::may_view_self(&authed.actor)?;
    Ok(Json(UserInfo {
        username: authed.actor.username,
        role: authed.actor.role,
        must_change_password: authed.actor.must_change_password,
    }))
}

/// Change own password (ends all sessions)
///
/// Allowed with a temporary password; the new one must follow policy
/// 5.(4)②(ウ).
#[utoipa::path(
    post,
    path = "/api/v1/password",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; every session of the account has ended"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn change_password(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<ChangePasswordRequest>,
) -> AppResult<StatusCode> {
    accounts::change_password(&state, &authed.actor, request, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List accounts (sysadmin)
#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every account", body = Vec<UserSummary>),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn list_users(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<UserSummary>>> {
    Ok(Json(accounts::list(&state, &authed.actor).await?))
}

/// Create an account (sysadmin)
///
/// The answer carries the temporary password and the TOTP secret; they are
/// shown this once.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = NewAccount),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn create_user(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<CreateUserRequest>,
) -> AppResult<(StatusCode, Json<NewAccount>)> {
    let created = accounts::create(&state, Some(&authed.actor), &request, &origin).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Disable an account and end its sessions
///
/// A sysadmin, a manager or the CISO; nobody disables their own account.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{name}/disable",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    params(("name", description = "The account's user name")),
    responses(
        (status = 200, description = "The account, now disabled", body = UserSummary),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Enable an account (sysadmin)
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{name}/enable",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    params(("name", description = "The account's user name")),
    responses(
        (status = 200, description = "The account, now enabled", body = UserSummary),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Give an account another role and end its sessions (sysadmin)
///
/// When someone moves to another post (5.(4)①, 6.(2)②). Never one's own
/// role; a retired account cannot be changed.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{name}/role",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    params(("name", description = "The account's user name")),
    request_body = ChangeRoleRequest,
    responses(
        (status = 200, description = "The account with its new role", body = UserSummary),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn change_user_role(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(name): Path<String>,
    Json(request): Json<ChangeRoleRequest>,
) -> AppResult<Json<UserSummary>> {
    Ok(Json(
        accounts::change_role(&state, &authed.actor, &name, request.role, &origin).await?,
    ))
}

/// Give an account the e-mail address its notifications go to (sysadmin)
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{name}/email",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    params(("name", description = "The account's user name")),
    request_body = ChangeEmailRequest,
    responses(
        (status = 200, description = "The account with its new address", body = UserSummary),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn change_user_email(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(name): Path<String>,
    Json(request): Json<ChangeEmailRequest>,
) -> AppResult<Json<UserSummary>> {
    Ok(Json(
        accounts::set_email(&state, &authed.actor, &name, &request.email, &origin).await?,
    ))
}

/// Stand-ins (代理承認者) whose period has not ended
///
/// Approvers, the CISO, the system staff and auditors see them.
#[utoipa::path(
    get,
    path = "/api/v1/delegations",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Each stand-in, by the approver who is away", body = Vec<DelegationView>),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn list_delegations(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<DelegationView>>> {
    Ok(Json(delegations::list(&state, &authed.actor).await?))
}

/// Name a stand-in for an approver or the CISO, for a period
///
/// The approver themself, or a sysadmin for them. The stand-in (another
/// approver or the CISO) sees and decides the approver's queue and is
/// mailed in their place; decisions record whom they were taken for. A
/// stand-in already named is replaced.
#[utoipa::path(
    put,
    path = "/api/v1/delegations/{approver}",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    params(("approver", description = "The user name of the approver who will be away")),
    request_body = SetDelegation,
    responses(
        (status = 200, description = "The stand-in as recorded", body = DelegationView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn set_delegation(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(approver): Path<String>,
    Json(request): Json<SetDelegation>,
) -> AppResult<Json<DelegationView>> {
    Ok(Json(
        delegations::set(&state, &authed.actor, &approver, request, &origin).await?,
    ))
}

/// End a stand-in now: the approver decides their own queue again
#[utoipa::path(
    delete,
    path = "/api/v1/delegations/{approver}",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    params(("approver", description = "The user name of the approver")),
    responses(
        (status = 204, description = "The stand-in no longer decides for them"),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn clear_delegation(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(approver): Path<String>,
) -> AppResult<StatusCode> {
    delegations::clear(&state, &authed.actor, &approver, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Retire an account for good: it keeps its history and never logs in again (sysadmin)
///
/// When its holder leaves or moves away (5.(4)①, 6.(2)②). Never one's own.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users/{name}/retire",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    params(("name", description = "The account's user name")),
    responses(
        (status = 200, description = "The account, now retired", body = UserSummary),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    )
)]
async fn retire_user(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(name): Path<String>,
) -> AppResult<Json<UserSummary>> {
    Ok(Json(
        accounts::retire(&state, &authed.actor, &name, &origin).await?,
    ))
}

/// Accounts suspended recently, with their status now (CISO, sysadmin)
///
/// 7.(5)②: a suspension by a manager reaches the CISO.
#[utoipa::path(
    get,
    path = "/api/v1/admin/suspensions",
    tag = doc::TAG_ACCOUNTS,
    security(("bearer" = [])),
    params(RevocationsQuery),
    responses(
        (status = 200, description = "Newest first", body = Vec<SuspensionView>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn list_suspensions(
    State(state): State<Shared>,
    authed: Authed,
    Query(query): Query<RevocationsQuery>,
) -> AppResult<Json<Vec<SuspensionView>>> {
    Ok(Json(
        accounts::suspensions(&state, &authed.actor, query.days).await?,
    ))
}

/// Own address book
#[utoipa::path(
    get,
    path = "/api/v1/recipients",
    tag = doc::TAG_RECIPIENTS,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's recipients", body = Vec<RecipientView>),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn list_recipients(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<RecipientView>>> {
    Ok(Json(recipients::list(&state, &authed.actor).await?))
}

/// Add a recipient
#[utoipa::path(
    post,
    path = "/api/v1/recipients",
    tag = doc::TAG_RECIPIENTS,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = RecipientView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn create_recipient(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<CreateRecipientRequest>,
) -> AppResult<(StatusCode, Json<RecipientView>)> {
    let created = recipients::create(&state, &authed.actor, request, &origin).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `mine` (the default: the caller's own), `pending` (waiting for the
    /// caller's decision) or `all` (approvers, the CISO and auditors).
    scope: Option<String>,
}

/// List transfers
#[utoipa::path(
    get,
    path = "/api/v1/transfers",
    tag = doc::TAG_TRANSFERS,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The transfers in scope", body = Vec<TransferSummary>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn list_transfers(
    State(state): State<Shared>,
    authed: Authed,
    Query(query): Query<ListQuery>,
) -> AppResult<Json<Vec<TransferSummary>>> {
    let scope = query.scope.unwrap_or_default();
    Ok(Json(transfers::list(&state, &authed.actor, &scope).await?))
}

/// Create a transfer (class, purpose, recipients, files)
///
/// A send to recipients from the address book, or a carry-out onto a
/// registered medium (`medium` and `return_by`). The answer lists where to
/// `PUT` each file.
#[utoipa::path(
    post,
    path = "/api/v1/transfers",
    tag = doc::TAG_TRANSFERS,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; upload the files next", body = TransferCreated),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::TooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn create_transfer(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<CreateTransferRequest>,
) -> AppResult<(StatusCode, Json<TransferCreated>)> {
    let created = transfers::create(&state, &authed.actor, request, &origin).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One transfer (404 if not yours to see)
#[utoipa::path(
    get,
    path = "/api/v1/transfers/{id}",
    tag = doc::TAG_TRANSFERS,
    security(("bearer" = [])),
    params(("id", description = "The transfer's id")),
    responses(
        (status = 200, description = "The transfer", body = TransferView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    )
)]
async fn show_transfer(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Json<TransferView>> {
    Ok(Json(transfers::view(&state, &authed.actor, &id).await?))
}

/// Stream one file's bytes
///
/// Exactly the size declared at creation; the gateway computes the SHA-256
/// while storing and scans the file before it is kept.
#[utoipa::path(
    put,
    path = "/api/v1/transfers/{id}/files/{index}",
    tag = doc::TAG_TRANSFERS,
    security(("bearer" = [])),
    params(
        ("id", description = "The transfer's id"),
        ("index", description = "The file's `index` in `TransferCreated.uploads`"),
    ),
    request_body(
        description = "The file's bytes",
        content = inline(doc::Binary),
        content_type = "application/octet-stream"
    ),
    responses(
        (status = 200, description = "Stored: name, size and the gateway's SHA-256", body = FileEntry),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 413, response = doc::TooLarge),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Finish uploading; class III is released, I/II waits for approval
#[utoipa::path(
    post,
    path = "/api/v1/transfers/{id}/submit",
    tag = doc::TAG_TRANSFERS,
    security(("bearer" = [])),
    params(("id", description = "The transfer's id")),
    responses(
        (status = 200, description = "Submitted; passphrases are shown this once", body = SubmitResponse),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Approve (step-up TOTP, bound to the content digest)
#[utoipa::path(
    post,
    path = "/api/v1/transfers/{id}/approve",
    tag = doc::TAG_TRANSFERS,
    security(("bearer" = [])),
    params(("id", description = "The transfer's id")),
    responses(
        (status = 200, description = "Approved and released", body = TransferView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Reject with a reason (step-up TOTP)
#[utoipa::path(
    post,
    path = "/api/v1/transfers/{id}/reject",
    tag = doc::TAG_TRANSFERS,
    security(("bearer" = [])),
    params(("id", description = "The transfer's id")),
    responses(
        (status = 200, description = "Rejected; nothing was released", body = TransferView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Withdraw or revoke at once
#[utoipa::path(
    post,
    path = "/api/v1/transfers/{id}/revoke",
    tag = doc::TAG_TRANSFERS,
    security(("bearer" = [])),
    params(("id", description = "The transfer's id")),
    request_body = RevokeRequest,
    responses(
        (status = 200, description = "Revoked; its links no longer work", body = TransferView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn revoke_transfer(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(request): Json<RevokeRequest>,
) -> AppResult<Json<TransferView>> {
    Ok(Json(
        transfers::revoke(&state, &authed.actor, &id, request, &origin).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RevocationsQuery {
    /// How many days back (1 to 366; 30 when not given).
    days: Option<u32>,
}

/// Transfers the caller approved that were revoked since (approver, CISO)
///
/// 6.(1)⑧(エ): a misdirected send reaches the approver who let it out, with
/// who revoked it and why.
#[utoipa::path(
    get,
    path = "/api/v1/revocations",
    tag = doc::TAG_TRANSFERS,
    security(("bearer" = [])),
    params(RevocationsQuery),
    responses(
        (status = 200, description = "Newest first", body = Vec<RevocationView>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn list_revocations(
    State(state): State<Shared>,
    authed: Authed,
    Query(query): Query<RevocationsQuery>,
) -> AppResult<Json<Vec<RevocationView>>> {
    Ok(Json(
        transfers::revocations(&state, &authed.actor, query.days).await?,
    ))
}

/// Recipients' download links (sender only)
#[utoipa::path(
    get,
    path = "/api/v1/transfers/{id}/links",
    tag = doc::TAG_TRANSFERS,
    security(("bearer" = [])),
    params(("id", description = "The transfer's id")),
    responses(
        (status = 200, description = "One link per recipient", body = Vec<LinkView>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    )
)]
async fn transfer_links(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Json<Vec<LinkView>>> {
    Ok(Json(transfers::links(&state, &authed.actor, &id).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MediaQuery {
    /// Only media past their return date.
    overdue: Option<bool>,
}

/// The media ledger (overdue=true: only media past their return date)
#[utoipa::path(
    get,
    path = "/api/v1/media",
    tag = doc::TAG_MEDIA,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The registered media", body = Vec<MediumView>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn list_media(
    State(state): State<Shared>,
    authed: Authed,
    Query(query): Query<MediaQuery>,
) -> AppResult<Json<Vec<MediumView>>> {
    Ok(Json(
        media::list(&state, &authed.actor, query.overdue.unwrap_or(false)).await?,
    ))
}

/// Register a medium (sysadmin)
#[utoipa::path(
    post,
    path = "/api/v1/media",
    tag = doc::TAG_MEDIA,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = MediumView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn register_medium(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<RegisterMedium>,
) -> AppResult<(StatusCode, Json<MediumView>)> {
    let view = media::register(&state, &authed.actor, request, &origin).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Record the return of a carried-out medium
#[utoipa::path(
    post,
    path = "/api/v1/media/{id}/checkin",
    tag = doc::TAG_MEDIA,
    security(("bearer" = [])),
    params(("id", description = "The medium's id")),
    responses(
        (status = 200, description = "Returned", body = MediumView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Record an outside medium brought in
#[utoipa::path(
    post,
    path = "/api/v1/media/{id}/carry-in",
    tag = doc::TAG_MEDIA,
    security(("bearer" = [])),
    params(("id", description = "The medium's id (registered or not)")),
    responses(
        (status = 201, description = "Recorded; take its files in with `POST /inbox/intake` naming the medium", body = ArrivalView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn carry_in_medium(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(request): Json<CarryIn>,
) -> AppResult<(StatusCode, Json<ArrivalView>)> {
    let arrival = media::carry_in(&state, &authed.actor, &id, request, &origin).await?;
    Ok((StatusCode::CREATED, Json(arrival)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ArrivalsQuery {
    /// Only arrivals whose files were never taken in through the scan.
    unscanned: Option<bool>,
}

/// Returns and carry-ins of media, each with the scan results of its intakes
#[utoipa::path(
    get,
    path = "/api/v1/media-arrivals",
    tag = doc::TAG_MEDIA,
    security(("bearer" = [])),
    params(ArrivalsQuery),
    responses(
        (status = 200, description = "Arrivals, newest first", body = Vec<ArrivalView>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn list_arrivals(
    State(state): State<Shared>,
    authed: Authed,
    Query(query): Query<ArrivalsQuery>,
) -> AppResult<Json<Vec<ArrivalView>>> {
    Ok(Json(
        arrivals::list(&state, &authed.actor, query.unscanned.unwrap_or(false)).await?,
    ))
}

/// Ask to wipe or dispose of a medium (needs approval)
#[utoipa::path(
    post,
    path = "/api/v1/media/{id}/disposal",
    tag = doc::TAG_MEDIA,
    security(("bearer" = [])),
    params(("id", description = "The medium's id")),
    responses(
        (status = 201, description = "Requested; an approver decides", body = MediumDisposalView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Medium wipe/disposal requests waiting for your decision
#[utoipa::path(
    get,
    path = "/api/v1/media-disposals",
    tag = doc::TAG_MEDIA,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Requests the caller may decide (empty for others)",
            body = Vec<MediumDisposalView>),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::Internal),
    )
)]
async fn pending_medium_disposals(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<MediumDisposalView>>> {
    Ok(Json(media::pending_disposals(&state, &authed.actor).await?))
}

/// One medium wipe/disposal request
#[utoipa::path(
    get,
    path = "/api/v1/media-disposals/{id}",
    tag = doc::TAG_MEDIA,
    security(("bearer" = [])),
    params(("id", description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = MediumDisposalView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    )
)]
async fn show_medium_disposal(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Json<MediumDisposalView>> {
    Ok(Json(
        media::show_disposal(&state, &authed.actor, &id).await?,
    ))
}

/// Approve and record a medium wipe/disposal (step-up TOTP)
#[utoipa::path(
    post,
    path = "/api/v1/media-disposals/{id}/approve",
    tag = doc::TAG_MEDIA,
    security(("bearer" = [])),
    params(("id", description = "The request's id")),
    responses(
        (status = 200, description = "Approved and recorded", body = MediumDisposalView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Reject a medium wipe/disposal (step-up TOTP)
#[utoipa::path(
    post,
    path = "/api/v1/media-disposals/{id}/reject",
    tag = doc::TAG_MEDIA,
    security(("bearer" = [])),
    params(("id", description = "The request's id")),
    responses(
        (status = 200, description = "Rejected", body = MediumDisposalView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Record what the client wrote onto the medium of an approved carry-out
#[utoipa::path(
    post,
    path = "/api/v1/transfers/{id}/written",
    tag = doc::TAG_MEDIA,
    security(("bearer" = [])),
    params(("id", description = "The carry-out's transfer id")),
    responses(
        (status = 200, description = "Recorded", body = TransferView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Ask to dispose of stored content before its time (class III at once; I/II after approval)
#[utoipa::path(
    post,
    path = "/api/v1/disposals",
    tag = doc::TAG_DISPOSALS,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Requested (or, for class III, done)", body = DisposalView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn request_disposal(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<DisposeRequest>,
) -> AppResult<(StatusCode, Json<DisposalView>)> {
    let view = deletion::request(&state, &authed.actor, request, &origin).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Disposal requests waiting for your decision
#[utoipa::path(
    get,
    path = "/api/v1/disposals",
    tag = doc::TAG_DISPOSALS,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Requests the caller may decide (empty for others)",
            body = Vec<DisposalView>),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::Internal),
    )
)]
async fn list_disposals(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<DisposalView>>> {
    Ok(Json(deletion::pending(&state, &authed.actor).await?))
}

/// One disposal request
#[utoipa::path(
    get,
    path = "/api/v1/disposals/{id}",
    tag = doc::TAG_DISPOSALS,
    security(("bearer" = [])),
    params(("id", description = "The disposal request's id")),
    responses(
        (status = 200, description = "The request", body = DisposalView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    )
)]
async fn show_disposal(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Json<DisposalView>> {
    Ok(Json(deletion::show(&state, &authed.actor, &id).await?))
}

/// Approve a disposal (step-up TOTP)
#[utoipa::path(
    post,
    path = "/api/v1/disposals/{id}/approve",
    tag = doc::TAG_DISPOSALS,
    security(("bearer" = [])),
    params(("id", description = "The disposal request's id")),
    responses(
        (status = 200, description = "Approved; the content is being erased", body = DisposalView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Reject a disposal with a reason (step-up TOTP)
#[utoipa::path(
    post,
    path = "/api/v1/disposals/{id}/reject",
    tag = doc::TAG_DISPOSALS,
    security(("bearer" = [])),
    params(("id", description = "The disposal request's id")),
    responses(
        (status = 200, description = "Rejected; the content stays", body = DisposalView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Signed deletion certificates of an erased object
#[utoipa::path(
    get,
    path = "/api/v1/deletions/{object}",
    tag = doc::TAG_DISPOSALS,
    security(("bearer" = [])),
    params(("object", description = "A transfer's or an inbound file's id")),
    responses(
        (status = 200, description = "The certificates, verifiable offline with the audit key",
            body = Vec<DeletionCertificate>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 500, response = doc::Internal),
    )
)]
async fn deletion_certificates(
    State(state): State<Shared>,
    authed: Authed,
    Path(object): Path<String>,
) -> AppResult<Json<Vec<DeletionCertificate>>> {
    Ok(Json(
        deletion::certificates(&state, &authed.actor, &object).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Events after this sequence number: `next_after` of the previous page
    /// (default 0, from the start).
    after: Option<i64>,
    /// At most this many events (1 to 10,000; default 1,000).
    limit: Option<i64>,
    /// Documented as its own parameters (`AuditFilter`): a flattened struct
    /// is not one query parameter.
    #[serde(flatten)]
    #[param(ignore)]
    filter: AuditFilter,
}

/// Audit events in order (auditor, ciso)
#[utoipa::path(
    get,
    path = "/api/v1/audit/events",
    tag = doc::TAG_AUDIT,
    security(("bearer" = [])),
    params(AuditFilter),
    responses(
        (status = 200, description = "One page of events, oldest first", body = AuditPage),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Signed checkpoints of the audit chain, oldest first (auditor, ciso)
#[utoipa::path(
    get,
    path = "/api/v1/audit/checkpoints",
    tag = doc::TAG_AUDIT,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every checkpoint, oldest first", body = Vec<AuditCheckpoint>),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn audit_checkpoints(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<AuditCheckpoint>>> {
    Ok(Json(audit::checkpoints(&state, &authed.actor).await?))
}

/// Sign the current head now (auditor, ciso)
#[utoipa::path(
    post,
    path = "/api/v1/audit/checkpoints",
    tag = doc::TAG_AUDIT,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new checkpoint", body = AuditCheckpoint),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 409, response = doc::Conflict),
        (status = 500, response = doc::Internal),
    )
)]
async fn new_audit_checkpoint(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
) -> AppResult<(StatusCode, Json<AuditCheckpoint>)> {
    let checkpoint = audit::request_checkpoint(&state, &authed.actor, &origin).await?;
    Ok((StatusCode::CREATED, Json(checkpoint)))
}

/// The gateway's Ed25519 audit public key, for pinning
#[utoipa::path(
    get,
    path = "/api/v1/audit/key",
    tag = doc::TAG_AUDIT,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The key and its fingerprint", body = AuditKey),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn audit_key(State(state): State<Shared>, authed: Authed) -> AppResult<Json<AuditKey>> {
    Ok(Json(audit::key(&state, &authed.actor)?))
}

/// Ask an outside party for files: an expiring, limited upload link (/u/{token} on the public listener)
#[utoipa::path(
    post,
    path = "/api/v1/inbox/requests",
    tag = doc::TAG_INBOX,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The link to hand over; it is the permission",
            body = UploadRequestCreated),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn create_upload_request(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<CreateUploadRequest>,
) -> AppResult<(StatusCode, Json<UploadRequestCreated>)> {
    let created = inbound::create_request(&state, &authed.actor, request, &origin).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `POST /api/v1/inbox/intake`.
#[derive(Deserialize, ToSchema)]
struct IntakeRequest {
    /// Why the medium's files are taken in.
    purpose: String,
    /// The medium the files come from (its latest return or carry-in).
    #[serde(default)]
    medium: Option<String>,
}

#[derive(serde::Serialize, ToSchema)]
struct IntakeCreated {
    /// The intake to upload the files to.
    id: String,
}

/// Start a media intake (the caller is the sender; no link)
#[utoipa::path(
    post,
    path = "/api/v1/inbox/intake",
    tag = doc::TAG_INBOX,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Started; upload the files next", body = IntakeCreated),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 409, description = "The medium named has no recorded return or carry-in (code medium_not_arrived), or is carried out (medium_out)", body = ErrorBody),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn create_intake(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Json(request): Json<IntakeRequest>,
) -> AppResult<(StatusCode, Json<IntakeCreated>)> {
    let id = inbound::create_intake(
        &state,
        &authed.actor,
        &request.purpose,
        request.medium.as_deref(),
        &origin,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(IntakeCreated { id })))
}

/// Upload intake files (multipart, field 'file', repeatable; streamed and scanned)
#[utoipa::path(
    post,
    path = "/api/v1/inbox/intake/{id}/files",
    tag = doc::TAG_INBOX,
    security(("bearer" = [])),
    params(("id", description = "The intake's id")),
    request_body(content = inline(doc::FileParts), content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "What became of each file", body = UploadAnswer),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 410, response = doc::Gone),
        (status = 413, description = "More bytes than the intake, or an inbound storage quota, allows (code quota_full)", body = ErrorBody),
        (status = 429, description = "Uploads already running through this intake (code uploads_in_progress; Retry-After)", body = ErrorBody),
        (status = 500, response = doc::Internal),
    )
)]
async fn intake_files(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    DeclaredLength(declared): DeclaredLength,
    multipart: Multipart,
) -> AppResult<Json<UploadAnswer>> {
    Ok(Json(
        inbound::receive_intake(state, &authed.actor, &id, multipart, declared, &origin).await?,
    ))
}

/// The caller's inbound files (managers also see files left to them)
#[utoipa::path(
    get,
    path = "/api/v1/inbox/files",
    tag = doc::TAG_INBOX,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The files", body = Vec<InboundFileView>),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn list_inbound(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<InboundFileView>>> {
    Ok(Json(inbound::list(&state, &authed.actor).await?))
}

/// Set the class of a clean inbound file (I, II, III or unknown: a manager decides)
#[utoipa::path(
    post,
    path = "/api/v1/inbox/files/{id}/classify",
    tag = doc::TAG_INBOX,
    security(("bearer" = [])),
    params(("id", description = "The inbound file's id")),
    responses(
        (status = 200, description = "Classified", body = InboundFileView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
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

/// The decrypted content of a clean, classified file (requester only; headers x-sekisho-sha256, x-sekisho-size)
#[utoipa::path(
    get,
    path = "/api/v1/inbox/files/{id}/content",
    tag = doc::TAG_INBOX,
    security(("bearer" = [])),
    params(("id", description = "The inbound file's id")),
    responses(
        (status = 200, description = "The file's bytes, streamed",
            content_type = "application/octet-stream", body = inline(doc::Binary),
            headers(
                ("x-sekisho-sha256" = String, description = "SHA-256 of the bytes, lower-case hex"),
                ("x-sekisho-size" = u64, description = "Size in bytes"),
            )),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::Internal),
    )
)]
async fn inbound_content(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
) -> AppResult<Response> {
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

/// A manager releases the original of a sanitised or sanitisation-held file, with a reason and a fresh TOTP code (headers x-sekisho-sha256, x-sekisho-size describe the original)
#[utoipa::path(
    post,
    path = "/api/v1/inbox/files/{id}/original",
    tag = doc::TAG_INBOX,
    security(("bearer" = [])),
    params(("id", description = "The inbound file's id")),
    request_body = ReleaseOriginal,
    responses(
        (status = 200, description = "The original's bytes, streamed",
            content_type = "application/octet-stream", body = inline(doc::Binary),
            headers(
                ("x-sekisho-sha256" = String, description = "SHA-256 of the original, lower-case hex"),
                ("x-sekisho-size" = u64, description = "Size in bytes"),
            )),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
async fn release_inbound_original(
    State(state): State<Shared>,
    origin: Origin,
    authed: Authed,
    Path(id): Path<String>,
    Json(request): Json<ReleaseOriginal>,
) -> AppResult<Response> {
    let (file, body) =
        inbound::release_original(state, &authed.actor, &id, request, &origin).await?;
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

/// Rescan a held file (sysadmin)
#[utoipa::path(
    post,
    path = "/api/v1/inbox/files/{id}/rescan",
    tag = doc::TAG_INBOX,
    security(("bearer" = [])),
    params(("id", description = "The inbound file's id")),
    responses(
        (status = 200, description = "The file with its new verdict", body = InboundFileView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Malware incidents (managers, approvers, CISO, auditors)
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    tag = doc::TAG_INCIDENTS,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The incidents", body = Vec<IncidentView>),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn list_incidents(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<IncidentView>>> {
    Ok(Json(incidents::list(&state, &authed.actor).await?))
}

/// Escalate an incident to the approvers and the CISO (manager)
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/escalate",
    tag = doc::TAG_INCIDENTS,
    security(("bearer" = [])),
    params(("id", description = "The incident's id")),
    responses(
        (status = 200, description = "Escalated", body = IncidentView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Close an incident with a note
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/close",
    tag = doc::TAG_INCIDENTS,
    security(("bearer" = [])),
    params(("id", description = "The incident's id")),
    responses(
        (status = 200, description = "Closed", body = IncidentView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 422, response = doc::Unprocessable),
        (status = 500, response = doc::Internal),
    )
)]
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

/// Each scan engine's version and signature age (sysadmin, manager, CISO, auditor)
#[utoipa::path(
    get,
    path = "/api/v1/scan/status",
    tag = doc::TAG_SCAN,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One entry per configured engine",
            body = Vec<crate::scan::EngineStatus>),
        (status = 401, response = doc::Unauthenticated),
        (status = 403, response = doc::Forbidden),
        (status = 500, response = doc::Internal),
    )
)]
async fn scan_status(
    State(state): State<Shared>,
    authed: Authed,
) -> AppResult<Json<Vec<crate::scan::EngineStatus>>> {
    Ok(Json(scanning::status(&state, &authed.actor).await?))
}
