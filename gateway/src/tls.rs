//! TLS for both listeners: rustls only, TLS 1.2 and 1.3.
//!
//! On first start the gateway makes its own small CA and a server
//! certificate for the loopback names and this host's name, so the embedded
//! default works with no set-up; clients pin `tls/ca.pem`. A deployment
//! replaces `tls/server.pem` and `tls/server.key` with its own.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fsutil;

pub fn ca_path(dir: &Path) -> PathBuf {
    dir.join("tls").join("ca.pem")
}

fn cert_path(dir: &Path) -> PathBuf {
    dir.join("tls").join("server.pem")
}

fn key_path(dir: &Path) -> PathBuf {
    dir.join("tls").join("server.key")
}

pub fn generate(dir: &Path, extra_names: &[String]) -> Result<()> {
    let tls_dir = dir.join("tls");
    fsutil::create_private_dir(&tls_dir)?;

    let ca_key = KeyPair::generate().context("cannot generate the CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut ca_name = DistinguishedName::new();
    ca_name.push(DnType::CommonName, "Sekisho gateway local CA");
    ca_params.distinguished_name = ca_name;
    ca_params.not_after = rcgen::date_time_ymd(2046, 1, 1);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca_issuer = Issuer::new(ca_params, &ca_key);

    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_string());
        }
    }
    names.extend(extra_names.iter().cloned());
    names.dedup();
    let server_key = KeyPair::generate().context("cannot generate the server key")?;
    let mut params = CertificateParams::new(names)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Sekisho gateway");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let server_cert = params.signed_by(&server_key, &ca_issuer)?;

    fsutil::write_new_private(&ca_path(dir), ca_cert.pem().as_bytes())?;
    fsutil::write_new_private(&cert_path(dir), server_cert.pem().as_bytes())?;
    fsutil::write_new_private(&key_path(dir), server_key.serialize_pem().as_bytes())?;
    // The CA key is kept beside the other keys so the certificate can be renewed.
    fsutil::write_new_private(
        &dir.join("keys").join("tls-ca.key"),
        ca_key.serialize_pem().as_bytes(),
    )?;
    Ok(())
}

pub fn server_config(dir: &Path) -> Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert_path(dir))
        .with_context(|| format!("cannot read {}", cert_path(dir).display()))?
        .collect::<Result<Vec<_>, _>>()
        .context("the server certificate is damaged")?;
    crate::keys::refuse_loose_modes(dir)?;
    let key = PrivateKeyDer::from_pem_file(key_path(dir))
        .with_context(|| format!("cannot read {}", key_path(dir).display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("cannot select TLS versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the server certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
