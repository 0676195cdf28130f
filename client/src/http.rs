//! The typed HTTPS client every command talks to the gateway through.
//!
//! It owns the TLS policy (only the CA the clerk was given, TLS 1.2 or
//! newer, host names checked, HTTPS only, no redirects) so no command can
//! loosen it, and it turns every answer that is not a success into one
//! sentence: the gateway's own `ErrorBody.message`, or the "log in again"
//! hint on 401. Bodies that may be large (uploads, packages) are streamed by
//! the callers through `send_stream`/`Api::put_chunks`; everything else is a
//! small JSON exchange with a timeout.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use sekisho_proto::{API_PREFIX, ErrorBody};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{Config, same_origin};
use crate::session::Session;

/// Small JSON calls: generous for a slow office network, but a hung
/// gateway still ends in a message instead of a frozen terminal.
const JSON_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

fn load_ca(ca: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(ca).with_context(|| {
        format!(
            "could not read the CA certificate {}; check the path given with --ca or SEKISHO_CA",
            ca.display()
        )
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
        format!(
            "{} is not a PEM certificate file; ask your system administrator for the gateway's CA certificate",
            ca.display()
        )
    })?;
    if certs.is_empty() {
        anyhow::bail!(
            "{} holds no certificate; ask your system administrator for the gateway's CA certificate",
            ca.display()
        );
    }
    Ok(certs)
}

/// Sekisho's one TLS policy, applied to the blocking and the async builder
/// alike (they are different types with the same methods).
macro_rules! with_tls_policy {
    ($builder:expr, $certs:expr) => {{
        $builder
            .tls_backend_rustls()
            // Only the gateway's CA: no built-in or system roots.
            .tls_certs_only($certs)
            .tls_version_min(reqwest::tls::Version::TLS_1_2)
            .https_only(true)
            // A redirect would be the gateway pointing us somewhere we did
            // not choose; the API never uses them.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(Duration::from_secs(30))
            .user_agent(concat!("sekisho/", env!("CARGO_PKG_VERSION")))
    }};
}

/// Builds the one kind of HTTP client Sekisho uses, trusting only `ca`.
pub fn build_client(ca: &Path) -> Result<Client> {
    // Per-request timeouts are set by the callers: a whole-request limit
    // would cut off a large upload.
    with_tls_policy!(Client::builder(), load_ca(ca)?)
        .timeout(None::<Duration>)
        .build()
        .context("could not set up the secure connection (TLS)")
}

fn build_async_client(ca: &Path) -> Result<reqwest::Client> {
    with_tls_policy!(reqwest::Client::builder(), load_ca(ca)?)
        .build()
        .context("could not set up the secure connection (TLS)")
}

/// A client bound to one gateway, with or without a session token.
pub struct Api {
    client: Client,
    ca: std::path::PathBuf,
    base: Url,
    token: Option<SecretString>,
    username: Option<String>,
}

impl Api {
    /// A client that sends no token (login).
    pub fn anonymous(cfg: &Config, gateway: Url) -> Result<Api> {
        Ok(Api {
            client: build_client(cfg.ca_path()?)?,
            ca: cfg.ca_path()?.to_path_buf(),
            base: gateway,
            token: None,
            username: None,
        })
    }

    /// A client for the stored session. Refuses to send the token to a
    /// gateway other than the one that issued it.
    pub fn with_session(cfg: &Config, session: &Session) -> Result<Api> {
        let issued_by = crate::config::parse_gateway(&session.gateway).with_context(|| {
            "the session file names an unusable gateway; log in again with `sekisho login --user NAME`"
        })?;
        if let Some(asked) = &cfg.gateway()?
            && !same_origin(asked, &issued_by)
        {
            anyhow::bail!(
                "you are logged in to {} but asked for {}; log in to that gateway with `sekisho login --user {}`",
                crate::config::display_origin(&issued_by),
                crate::config::display_origin(asked),
                session.username
            );
        }
        Ok(Api {
            client: build_client(cfg.ca_path()?)?,
            ca: cfg.ca_path()?.to_path_buf(),
            base: issued_by,
            token: Some(session.token.clone()),
            username: Some(session.username.clone()),
        })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// GET whose body is streamed by the caller (file content).
    pub fn get_stream(&self, url: Url) -> Result<Response> {
        self.send(self.request(Method::GET, url))
    }

    /// POST with a JSON body whose answer is streamed by the caller.
    pub fn post_stream<B: Serialize + ?Sized>(&self, url: Url, body: &B) -> Result<Response> {
        self.send(self.request(Method::POST, url).json(body))
    }

    pub fn ca(&self) -> &Path {
        &self.ca
    }

    pub fn token(&self) -> Option<&SecretString> {
        self.token.as_ref()
    }

    /// `/api/v1/<segments...>`, each segment percent-encoded so a user or
    /// transfer name can never change the route.
    pub fn url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| anyhow::anyhow!("the gateway address cannot carry a path"))?;
            path.clear();
            for part in API_PREFIX.split('/').filter(|p| !p.is_empty()) {
                path.push(part);
            }
            for segment in segments {
                path.push(segment);
            }
        }
        Ok(url)
    }

    /// A path the gateway handed us (an upload slot), kept on the same
    /// gateway so the token cannot be sent elsewhere.
    pub fn url_from_path(&self, path: &str) -> Result<Url> {
        let url = self
            .base
            .join(path)
            .with_context(|| format!("the gateway gave an unusable upload address '{path}'"))?;
        if !same_origin(&url, &self.base) || !path.starts_with(API_PREFIX) {
            anyhow::bail!(
                "the gateway gave an upload address outside its API ('{path}'); nothing was sent. Tell your system administrator."
            );
        }
        Ok(url)
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let builder = self.client.request(method, url);
        match &self.token {
            Some(token) => builder.bearer_auth(token.expose_secret()),
            None => builder,
        }
    }

    pub fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T> {
        let resp = self.send(self.request(Method::GET, url).timeout(JSON_TIMEOUT))?;
        read_json(resp)
    }

    pub fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        url: Url,
        body: &B,
    ) -> Result<T> {
        let resp = self.send(
            self.request(Method::POST, url)
                .timeout(JSON_TIMEOUT)
                .json(body),
        )?;
        read_json(resp)
    }

    /// POST without a body, for actions named by the route alone.
    pub fn post_empty<T: DeserializeOwned>(&self, url: Url) -> Result<T> {
        let resp = self.send(self.request(Method::POST, url).timeout(JSON_TIMEOUT))?;
        read_json(resp)
    }

    pub fn put<B: Serialize + ?Sized, T: DeserializeOwned>(&self, url: Url, body: &B) -> Result<T> {
        let resp = self.send(
            self.request(Method::PUT, url)
                .timeout(JSON_TIMEOUT)
                .json(body),
        )?;
        read_json(resp)
    }

    /// DELETE whose answer is `204 No Content`.
    pub fn delete_no_answer(&self, url: Url) -> Result<()> {
        self.send(self.request(Method::DELETE, url).timeout(JSON_TIMEOUT))?;
        Ok(())
    }

    /// POST whose answer is `204 No Content`.
    pub fn post_no_answer<B: Serialize + ?Sized>(&self, url: Url, body: Option<&B>) -> Result<()> {
        let mut builder = self.request(Method::POST, url).timeout(JSON_TIMEOUT);
        if let Some(body) = body {
            builder = builder.json(body);
        }
        self.send(builder)?;
        Ok(())
    }

    /// PUTs a large body (`len` bytes, as pieces from `chunks`) with
    /// reqwest's async client on a small runtime of its own. No overall
    /// timeout: a large file on a slow line may take hours, and TCP
    /// keepalive notices a dead gateway.
    pub fn put_chunks<T: DeserializeOwned>(
        &self,
        url: Url,
        len: u64,
        chunks: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    ) -> Result<T> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("could not start the upload")?;
        let client = build_async_client(&self.ca)?;
        let stream = futures_util::stream::unfold(chunks, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let mut request = client
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(stream));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose_secret());
        }
        let base = self.base.clone();
        let (status, body) = runtime.block_on(async move {
            let resp = request.send().await.map_err(|e| {
                anyhow::anyhow!(
                    "the upload to {} failed: {e}",
                    crate::config::display_origin(&base)
                )
            })?;
            let status = resp.status();
            let body = resp
                .bytes()
                .await
                .context("the gateway's answer was cut off")?;
            Ok::<_, anyhow::Error>((status, body))
        })?;
        if !status.is_success() {
            return Err(error_for(
                status,
                &body,
                self.token.is_some(),
                self.username.as_deref(),
            ));
        }
        serde_json::from_slice(&body).context("the gateway's answer could not be read")
    }

    fn send(&self, builder: RequestBuilder) -> Result<Response> {
        let resp = builder
            .send()
            .map_err(|e| describe_send_error(e, &self.base))?;
        check_status(resp, self.token.is_some(), self.username.as_deref())
    }
}

/// A package being downloaded from a public link: its headers, and a
/// reader over its body.
pub struct Download {
    pub headers: reqwest::header::HeaderMap,
    pub content_length: Option<u64>,
    pub body: ChunkReader,
}

/// Size of the pieces handed from the network thread to the reader.
const DOWNLOAD_PIECE: usize = 1 << 20;

/// POSTs to a public link (no token) and streams the answer. A thread of
/// its own runs reqwest's async client and hands the body over in 1 MiB
/// pieces: the blocking client's reader wakes the caller for every 16 KiB
/// TLS record, which costs more than decrypting it.
pub fn download(ca: &Path, url: &Url, idle_timeout: Duration) -> Result<Download> {
    let client = build_async_client(ca)?;
    let (head_tx, head_rx) =
        std::sync::mpsc::sync_channel::<Result<(reqwest::header::HeaderMap, Option<u64>)>>(1);
    let (body_tx, body_rx) = std::sync::mpsc::sync_channel::<std::io::Result<bytes::Bytes>>(4);
    let url = url.clone();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                let _ = head_tx.send(Err(anyhow::anyhow!("could not start the download: {e}")));
                return;
            }
        };
        runtime.block_on(async move {
            let sent = tokio::time::timeout(idle_timeout, client.post(url.clone()).send()).await;
            let mut resp = match sent {
                Ok(Ok(resp)) => resp,
                Ok(Err(e)) => {
                    let _ = head_tx.send(Err(describe_send_error(e, &url)));
                    return;
                }
                Err(_) => {
                    let _ = head_tx.send(Err(anyhow::anyhow!(
                        "the gateway did not answer in time; try again later"
                    )));
                    return;
                }
            };
            let status = resp.status();
            if !status.is_success() {
                let body = resp.bytes().await.unwrap_or_default();
                let _ = head_tx.send(Err(error_for(status, &body, false, None)));
                return;
            }
            let _ = head_tx.send(Ok((resp.headers().clone(), resp.content_length())));
            let mut piece = bytes::BytesMut::with_capacity(DOWNLOAD_PIECE);
            loop {
                match tokio::time::timeout(idle_timeout, resp.chunk()).await {
                    Ok(Ok(Some(chunk))) => {
                        piece.extend_from_slice(&chunk);
                        if piece.len() >= DOWNLOAD_PIECE {
                            if body_tx.send(Ok(piece.split().freeze())).is_err() {
                                return;
                            }
                            piece.reserve(DOWNLOAD_PIECE);
                        }
                    }
                    Ok(Ok(None)) => {
                        if !piece.is_empty() {
                            let _ = body_tx.send(Ok(piece.freeze()));
                        }
                        return;
                    }
                    Ok(Err(e)) => {
                        let _ = body_tx.send(Err(std::io::Error::other(format!(
                            "the download broke off: {}",
                            e.without_url()
                        ))));
                        return;
                    }
                    Err(_) => {
                        let _ = body_tx.send(Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the gateway stopped sending",
                        )));
                        return;
                    }
                }
            }
        });
    });
    let (headers, content_length) = head_rx
        .recv()
        .map_err(|_| anyhow::anyhow!("the download stopped before it began"))??;
    Ok(Download {
        headers,
        content_length,
        body: ChunkReader {
            pieces: body_rx,
            current: bytes::Bytes::new(),
        },
    })
}

/// Reads the pieces the network thread hands over.
pub struct ChunkReader {
    pieces: std::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.pieces.recv() {
                Ok(piece) => self.current = piece?,
                // The sender is gone after the last piece: end of body.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

fn describe_send_error(err: reqwest::Error, base: &Url) -> anyhow::Error {
    let host = base.host_str().unwrap_or("the gateway");
    let hint = if err.is_timeout() {
        format!("the gateway at {host} did not answer in time; try again later")
    } else if err.is_connect() {
        if error_chain_mentions(&err, "certificate") {
            format!(
                "could not make a trusted connection to {host}: its certificate was not signed by the CA you gave (--ca / SEKISHO_CA) or does not name this host"
            )
        } else {
            format!(
                "could not connect to the gateway at {host}; check the address (--gateway / SEKISHO_GATEWAY) and that the gateway is running"
            )
        }
    } else if err.is_body() || err.is_request() {
        format!("the connection to {host} broke off while sending")
    } else {
        format!("could not talk to the gateway at {host}")
    };
    // The URL may hold a download token: keep it out of messages.
    anyhow::Error::new(err.without_url()).context(hint)
}

fn error_chain_mentions(err: &(dyn std::error::Error + 'static), word: &str) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if e.to_string().to_lowercase().contains(word) {
            return true;
        }
        current = e.source();
    }
    false
}

fn check_status(resp: Response, had_token: bool, username: Option<&str>) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.bytes().unwrap_or_default();
    Err(error_for(status, &body, had_token, username))
}

/// One sentence for an error answer: the gateway's own message, or the
/// "log in again" hint on 401.
fn error_for(
    status: StatusCode,
    body: &[u8],
    had_token: bool,
    username: Option<&str>,
) -> anyhow::Error {
    let body: Option<ErrorBody> = serde_json::from_slice(body).ok();
    if status == StatusCode::UNAUTHORIZED && had_token {
        return SessionEnded(session_ended_message(username)).into();
    }
    match body {
        // The gateway's sentence is written for clerks; show it as it is.
        Some(body) => anyhow::anyhow!(body.message),
        None => anyhow::anyhow!(
            "the gateway answered \"{}\" without an explanation; try again, and tell your system administrator if it keeps happening",
            status
        ),
    }
}

/// The gateway no longer accepts the stored token (401).
#[derive(Debug)]
pub struct SessionEnded(String);

impl std::fmt::Display for SessionEnded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SessionEnded {}

pub fn session_ended_message(username: Option<&str>) -> String {
    format!(
        "Your session has ended; log in again with `sekisho login --user {}`.",
        username.unwrap_or("NAME")
    )
}

fn read_json<T: DeserializeOwned>(resp: Response) -> Result<T> {
    let bytes = resp
        .bytes()
        .context("the connection to the gateway broke off while reading its answer")?;
    serde_json::from_slice(&bytes).context(
        "the gateway's answer could not be understood; this client and the gateway may be different versions",
    )
}

/// One file of a multipart upload: the name the gateway records (display
/// only) and where it is read from.
pub struct UploadFile {
    pub name: String,
    pub path: std::path::PathBuf,
    pub size: u64,
}

/// POSTs files as `multipart/form-data` (field `file`, repeated), each
/// streamed from disk in 1 MiB pieces, never read whole into memory. Used
/// for upload links (no token) and media intake (with the session's token).
pub fn post_files<T: DeserializeOwned>(
    ca: &Path,
    url: Url,
    token: Option<&SecretString>,
    files: &[UploadFile],
) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the upload")?;
    let client = build_async_client(ca)?;
    let origin = url.clone();
    let (status, body) = runtime.block_on(async move {
        let mut form = reqwest::multipart::Form::new();
        for file in files {
            let handle = tokio::fs::File::open(&file.path)
                .await
                .with_context(|| format!("cannot open {}", file.path.display()))?;
            let stream = tokio_util::io::ReaderStream::with_capacity(handle, 1 << 20);
            let part = reqwest::multipart::Part::stream_with_length(
                reqwest::Body::wrap_stream(stream),
                file.size,
            )
            .file_name(file.name.clone())
            .mime_str("application/octet-stream")?;
            form = form.part("file", part);
        }
        let mut request = client
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .multipart(form);
        if let Some(token) = token {
            request = request.bearer_auth(token.expose_secret());
        }
        let resp = request.send().await.map_err(|e| {
            anyhow::anyhow!(
                "the upload to {} failed: {e}",
                crate::config::display_origin(&origin)
            )
        })?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .context("the gateway's answer was cut off")?;
        Ok::<_, anyhow::Error>((status, body))
    })?;
    if !status.is_success() {
        return Err(error_for(status, &body, token.is_some(), None));
    }
    serde_json::from_slice(&body).context("the gateway's answer could not be read")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_message_names_the_user() {
        assert_eq!(
            session_ended_message(Some("alice")),
            "Your session has ended; log in again with `sekisho login --user alice`."
        );
        assert!(session_ended_message(None).contains("--user NAME"));
    }
}
