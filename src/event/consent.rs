//! Consent changes carried by identify events, in the native format:
//!
//! ```json
//! "consent": {"marketing_email": {"state": "granted", "source": "cookie_banner",
//!                                 "expires_at": "2025-05-01T00:00:00Z"},
//!             "ads": {"state": "denied", "source": "cookie_banner"}}
//! ```
//!
//! `state` is `granted`, `denied` or `withdrawn`; `source` a non-empty
//! string; `expires_at` (grants only) an RFC 3339 string or epoch
//! milliseconds; `given_at`, when the person said it if not at the event's
//! time (same forms). The changes are applied as one
//! [`Change::Consent`](crate::Change::Consent) delta after the event's trait
//! update, given at the event's time unless `given_at` says otherwise: a
//! change given before the purpose's recorded state is kept in the history
//! but does not replace it, so consent follows event time, not arrival. They
//! are not stored on the timeline (the delta records them).

use serde_json::{Map, Value};

use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::fields::{object, string, Ctx};
use crate::profile::consent::{ConsentChange, ConsentOp, ConsentState, MAX_CONSENT_OPS};

/// Parses the `consent` object of an identify event.
pub(crate) fn parse(ctx: &Ctx<'_>, v: &Value) -> Result<Vec<ConsentOp>> {
    let map = object(ctx, "consent", v)?;
    if map.len() > MAX_CONSENT_OPS {
        return Err(ctx.field("consent", format!("at most {MAX_CONSENT_OPS} purposes, found {}", map.len())));
    }
    let mut out = Vec::with_capacity(map.len());
    for (purpose, entry) in map {
        let field = format!("consent.{purpose}");
        let entry = object(ctx, &field, entry)?;
        if let Some(k) = entry.keys().find(|k| !["state", "source", "expires_at", "given_at"].contains(&k.as_str())) {
            let known = "unknown field; a consent has state, source, expires_at, given_at";
            return Err(ctx.field(&format!("{field}.{k}"), known));
        }
        let state = match entry.get("state").map(|s| string(ctx, &format!("{field}.state"), s)).transpose()? {
            Some("granted") => ConsentState::Granted,
            Some("denied") => ConsentState::Denied,
            Some("withdrawn") => ConsentState::Withdrawn,
            Some(other) => {
                return Err(
                    ctx.field(&format!("{field}.state"), format!("{other:?} is not granted, denied or withdrawn"))
                )
            }
            None => return Err(ctx.field(&format!("{field}.state"), "is required")),
        };
        let source = match entry.get("source") {
            Some(s) => string(ctx, &format!("{field}.source"), s)?.to_owned(),
            None => return Err(ctx.field(&format!("{field}.source"), "is required")),
        };
        let expires_at = time(ctx, &field, entry, "expires_at")?;
        let given_at = time(ctx, &field, entry, "given_at")?;
        out.push(ConsentOp { purpose: purpose.clone(), change: ConsentChange { state, source, expires_at, given_at } });
    }
    Ok(out)
}

/// The optional time `name` of a consent entry: RFC 3339 or epoch milliseconds.
fn time(ctx: &Ctx<'_>, field: &str, entry: &Map<String, Value>, name: &str) -> Result<Option<Timestamp>> {
    let bad = |why: String| ctx.field(&format!("{field}.{name}"), why);
    match entry.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(Timestamp::parse(s).map_err(bad)?)),
        Some(Value::Number(n)) => {
            Ok(Some(Timestamp(n.as_i64().ok_or_else(|| bad("must be integer epoch milliseconds or RFC 3339".into()))?)))
        }
        Some(_) => Err(bad("must be an RFC 3339 string or epoch milliseconds".into())),
    }
}

/// Renders consent changes back into the native `consent` object.
pub(crate) fn to_json(ops: &[ConsentOp]) -> Value {
    let mut m = Map::new();
    for op in ops {
        let mut e = Map::new();
        e.insert("state".into(), Value::String(op.change.state.name().into()));
        e.insert("source".into(), Value::String(op.change.source.clone()));
        if let Some(t) = op.change.expires_at {
            e.insert("expires_at".into(), Value::String(t.to_rfc3339()));
        }
        if let Some(t) = op.change.given_at {
            e.insert("given_at".into(), Value::String(t.to_rfc3339()));
        }
        m.insert(op.purpose.clone(), Value::Object(e));
    }
    Value::Object(m)
}
