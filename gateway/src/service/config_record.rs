//! 6.(1)④(ア): changes to how the gateway is set up are on record. Every
//! start writes a `config.start` event with the digest of the effective
//! configuration (the file with every default filled in and the command
//! line's overrides laid over it) and each setting that differs from the
//! previous start, old and new value. Someone who loosens a lockout or a
//! retention period for a day leaves two events an auditor will see.
//!
//! Secrets never enter the event: the database URL is recorded masked, as
//! it is shown everywhere else.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use sekisho_proto::audit::{Action, ObjectRef};
use sekisho_proto::vocab::Outcome;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::db::audit::{self, Record};
use crate::state::AppState;

/// Every setting as `section.key` → its value written as TOML, secrets
/// masked. Ordered, so the digest depends on nothing but the values.
pub fn settings(config: &Config) -> Result<BTreeMap<String, String>> {
    let mut value = toml::Value::try_from(config).context("cannot read the configuration back")?;
    if let Some(toml::Value::Table(database)) = value.get_mut("database") {
        database.insert(
            "url".into(),
            toml::Value::String(config.database.url.to_string()),
        );
    }
    let mut out = BTreeMap::new();
    flatten("", &value, &mut out);
    Ok(out)
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) {
    match value {
        toml::Value::Table(table) => {
            for (key, inner) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, inner, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// SHA-256 of the settings, one `key = value` line each.
pub fn digest(settings: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in settings {
        hasher.update(key.as_bytes());
        hasher.update(b" = ");
        hasher.update(value.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// Settings added, removed or changed between two starts.
fn changes(before: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<Value> {
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(now.keys()).collect();
    keys.into_iter()
        .filter(|key| before.get(*key) != now.get(*key))
        .map(|key| json!({ "key": key, "from": before.get(key), "to": now.get(key) }))
        .collect()
}

/// The settings the previous start recorded, if any start did.
fn previous(event: &sekisho_proto::AuditEvent) -> Option<BTreeMap<String, String>> {
    let detail: Value = serde_json::from_str(&event.detail).ok()?;
    serde_json::from_value(detail.get("settings")?.clone()).ok()
}

/// Writes this start's `config.start` event. Returns how many settings
/// changed since the previous start (all of them at the first).
pub async fn record_start(state: &AppState) -> Result<usize> {
    let now_settings = settings(&state.config)?;
    let now_digest = digest(&now_settings);
    let mut tx = state.db.write().await?;
    let last = audit::last_of(tx.conn(), Action::ConfigStart).await?;
    let before = last.as_ref().and_then(previous);
    let changed = match &before {
        Some(before) => changes(before, &now_settings),
        None => Vec::new(),
    };
    let count = match &before {
        Some(_) => changed.len(),
        None => now_settings.len(),
    };
    audit::append(
        tx.conn(),
        state.clock.now_ms(),
        Record {
            actor: "(gateway)".into(),
            action: Action::ConfigStart,
            object: ObjectRef::Gateway("config".into()),
            outcome: Outcome::Ok,
            source: "-".into(),
            detail: json!({
                "digest": now_digest,
                "first": before.is_none(),
                "changed": changed,
                "settings": now_settings,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r06_1_4_a_changed_setting_is_named_and_secrets_are_masked() -> Result<()> {
        let mut config = Config::default();
        config.database.url =
            crate::config::DatabaseUrl::new("postgres://sekisho:hunter2@db.example/sekisho");
        let before = settings(&config)?;
        let text = format!("{before:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(before.contains_key("auth.lockout_threshold"), "{text}");
        config.auth.lockout_threshold += 10;
        let after = settings(&config)?;
        assert_ne!(digest(&before), digest(&after));
        let changed = changes(&before, &after);
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert_eq!(changed[0]["key"], "auth.lockout_threshold");
        assert_eq!(
            digest(&before),
            digest(&settings(&{
                let mut c = config.clone();
                c.auth.lockout_threshold -= 10;
                c
            })?)
        );
        Ok(())
    }
}
