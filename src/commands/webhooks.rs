//! `webhooks register | list | remove`: the only commands that write to Pipedrive, and only when
//! the user runs them. They manage the webhooks (v2, every action) that deliver changes to
//! `listen`. Registration is idempotent: what already exists is listed, not created again.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::config::Config;
use crate::http::RetryPolicy;
use crate::output::Output;
use crate::protocol::airbyte::LogLevel;

/// Webhook objects and the stream their events go to (archived deals and leads are routed by
/// `listen` from the record itself).
pub const OBJECTS: &[(&str, &str)] = &[
    ("deal", "deals"),
    ("person", "persons"),
    ("organization", "organizations"),
    ("activity", "activities"),
    ("product", "products"),
    ("pipeline", "pipelines"),
    ("stage", "stages"),
    ("user", "users"),
    ("note", "notes"),
    ("lead", "leads"),
    ("project", "projects"),
    ("task", "tasks"),
    ("board", "project_boards"),
    ("phase", "project_phases"),
    ("deal_product", "deal_products"),
    ("deal_installment", "deal_installments"),
];

/// Names of the webhooks this connector creates start with this, so `remove --all` only ever
/// removes its own.
const NAME_PREFIX: &str = "source-pipedrive ";

/// Token costs of the Webhooks API, from the reference's table: a list, and a write or delete
/// of a single item.
const LIST_TOKENS: u32 = 10;
const CREATE_TOKENS: u32 = 10;
const DELETE_TOKENS: u32 = 6;

fn existing(config: &Config) -> Result<Vec<Value>> {
    let client = super::client_beside_syncs(config, RetryPolicy::default(), None);
    let listed = client
        .get_json("/v1/webhooks", &[], LIST_TOKENS)
        .context("listing the company's webhooks")?;
    Ok(listed.body["data"].as_array().cloned().unwrap_or_default())
}

/// Creates a webhook per object that has none yet for `url`.
pub fn register(config: &Config, url: &str, objects: &[String], out: &mut Output) -> Result<()> {
    let Some((user, password)) = &config.webhook_auth else {
        bail!("set `webhook_user` and `webhook_password` in the config: Pipedrive sends them with every delivery and `listen` checks them");
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("--url {url:?} must be the absolute http(s) URL Pipedrive will deliver to");
    }
    let objects: Vec<&str> = if objects.is_empty() {
        OBJECTS.iter().map(|(o, _)| *o).collect()
    } else {
        objects.iter().map(String::as_str).collect()
    };
    for o in &objects {
        if !OBJECTS.iter().any(|(known, _)| known == o) {
            let known: Vec<&str> = OBJECTS.iter().map(|(o, _)| *o).collect();
            bail!(
                "unknown object {o:?}; objects with a stream: {}",
                known.join(", ")
            );
        }
    }
    let have = existing(config)?;
    let client = super::client_beside_syncs(config, RetryPolicy::default(), None);
    let (mut created, mut kept) = (0, 0);
    for object in objects {
        let same = have.iter().find(|w| {
            w["subscription_url"] == url
                && w["event_object"] == object
                && w["event_action"] == "*"
                && w["version"] == "2.0"
        });
        if let Some(w) = same {
            kept += 1;
            let paused = if w["is_active"] == json!(0) || w["is_active"] == json!(false) {
                " (inactive: Pipedrive paused it after failed deliveries; remove and register it again)"
            } else {
                ""
            };
            out.log(
                LogLevel::Info,
                &format!("webhook {} for {object} exists{paused}", w["id"]),
            )?;
            continue;
        }
        let body = json!({
            "subscription_url": url,
            "event_action": "*",
            "event_object": object,
            "name": format!("{NAME_PREFIX}{object}"),
            "http_auth_user": user,
            "http_auth_password": password.expose(),
            "version": "2.0",
        });
        let made = client
            .post_json("/v1/webhooks", &body, CREATE_TOKENS)
            .with_context(|| format!("creating the webhook for {object}"))?;
        created += 1;
        out.log(
            LogLevel::Info,
            &format!("webhook {} for {object} created", made.body["data"]["id"]),
        )?;
    }
    out.log(
        LogLevel::Info,
        &format!("webhooks for {url}: {created} created, {kept} already there"),
    )?;
    out.flush()?;
    Ok(())
}

/// The company's webhooks, as RECORD messages of the `webhooks` stream.
pub fn list(config: &Config, out: &mut Output) -> Result<()> {
    for w in existing(config)? {
        out.record("webhooks", &w)?;
    }
    out.flush()?;
    Ok(())
}

/// Removes the given webhooks, or with `all` every webhook this connector registered.
pub fn remove(config: &Config, all: bool, ids: &[u64], out: &mut Output) -> Result<()> {
    let by_id = !ids.is_empty();
    if all == by_id {
        bail!("give either --all or webhook ids");
    }
    let targets: Vec<u64> = if all {
        existing(config)?
            .iter()
            .filter(|w| {
                w["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(NAME_PREFIX))
            })
            .filter_map(|w| w["id"].as_u64())
            .collect()
    } else {
        ids.to_vec()
    };
    let client = super::client_beside_syncs(config, RetryPolicy::default(), None);
    for id in &targets {
        client
            .delete(&format!("/v1/webhooks/{id}"), DELETE_TOKENS)
            .with_context(|| format!("removing webhook {id}"))?;
        out.log(LogLevel::Info, &format!("webhook {id} removed"))?;
    }
    out.log(
        LogLevel::Info,
        &format!("{} webhook(s) removed", targets.len()),
    )?;
    out.flush()?;
    Ok(())
}
