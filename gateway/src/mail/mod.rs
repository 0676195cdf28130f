//! Sending mail: the SMTP transport built once from `[mail]` (STARTTLS
//! required for `smtp://`, TLS from the first byte for `smtps://`, both
//! through rustls), the login read from a file only the gateway's user may
//! read, and one [`Mailer::send`] that turns a rendered notice into a
//! multipart message (plain text with an HTML alternative).
//!
//! What is sent, to whom and when is `service::notify`'s job; what a mail
//! says is [`render`]'s.

pub mod notice;
pub mod render;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, SmtpScheme};
use render::Rendered;

/// How long one SMTP conversation may take before the send counts as
/// failed and is retried later: housekeeping must not hang on a dead server.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `mail.console_base_url` without a trailing slash.
    pub console_base_url: String,
    pub config: MailConfig,
}

impl Mailer {
    /// The mailer of `[mail]`; a bad sender address, an unreadable or
    /// loosely protected credentials file or CA file stops start-up.
    pub fn from_config(config: &MailConfig, dir: &Path) -> Result<Self> {
        let from: Mailbox = config.from.parse().with_context(|| {
            format!(
                "mail.from '{}' is not a mail address; use e.g. \"Sekisho <sekisho@city.example.lg.jp>\"",
                config.from
            )
        })?;
        let url = &config.smtp_url;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
            .port(url.port)
            .timeout(Some(SMTP_TIMEOUT));
        if !config.danger_plaintext_loopback {
            let mut tls = TlsParameters::builder(url.host.clone());
            if let Some(ca) = &config.ca_file {
                let path = dir.join(ca);
                let pem = std::fs::read(&path).with_context(|| {
                    format!(
                        "cannot read mail.ca_file {}; put the PEM of the CA that signed the SMTP server's certificate there",
                        path.display()
                    )
                })?;
                let cert = Certificate::from_pem(&pem).with_context(|| {
                    format!("mail.ca_file {} is not a PEM certificate", path.display())
                })?;
                tls = tls.add_root_certificate(cert);
            }
            let tls = tls
                .build_rustls()
                .context("cannot set up TLS for the SMTP server")?;
            builder = builder.tls(match url.scheme {
                // Required: a server that does not offer STARTTLS is refused
                // before any login or mail is sent (no downgrade).
                SmtpScheme::StartTls => Tls::Required(tls),
                SmtpScheme::Tls => Tls::Wrapper(tls),
            });
        }
        if let Some(file) = &config.credentials_file {
            builder = builder.credentials(read_credentials(&dir.join(file))?);
        }
        Ok(Self {
            transport: builder.build(),
            from,
            console_base_url: config.console_base_url.trim_end_matches('/').to_string(),
            config: config.clone(),
        })
    }

    /// Sends one mail. The error is a sentence for the outbox and the
    /// audit log; it never holds the login.
    pub async fn send(&self, to: &str, mail: &Rendered) -> Result<(), String> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("the address '{to}' cannot be mailed: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| format!("the mail cannot be built: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("the SMTP server did not take the mail: {e}"))
    }
}

/// The SMTP login: user name on the first line, password on the second, in
/// a file of the gateway's user alone. The text read is zeroized; the
/// mail library keeps its own copy for the life of the process.
fn read_credentials(path: &Path) -> Result<Credentials> {
    let text = crate::fsutil::read_private_text(path, "the SMTP password").with_context(|| {
        format!(
            "cannot use mail.credentials_file {}; create it with the SMTP user name on the first line and the password on the second, then chmod 600",
            path.display()
        )
    })?;
    let mut lines = text.lines();
    let (Some(user), Some(password)) = (lines.next(), lines.next()) else {
        bail!(
            "{} must hold the SMTP user name on its first line and the password on its second",
            path.display()
        );
    };
    if user.trim().is_empty() || password.is_empty() {
        bail!(
            "{} has an empty user name or password; write both",
            path.display()
        );
    }
    Ok(Credentials::new(
        user.trim().to_string(),
        password.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credentials_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("smtp");
        std::fs::write(&path, "sekisho\nhunter2\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
        let error = read_credentials(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("chmod 600"), "{error}");
        assert!(!error.contains("hunter2"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(read_credentials(&path).is_ok());
        std::fs::write(&path, "only-a-user\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(read_credentials(&path).is_err());
    }
}
