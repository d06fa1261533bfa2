//! Library values as JSON, for `--json`. The shapes are the CLI's stable
//! output contract: add fields, never rename them.

use profiledb::{Cause, Change, Delta, Identifier, IdentifierInfo, Ignored, Profile, TraitOp, WriteReceipt};
use serde_json::{json, Value};

/// A profile with its identifiers: id, version, times, nested traits.
pub fn profile(p: &Profile, identifiers: &[Identifier]) -> Value {
    let mut v = p.to_json();
    if let Value::Object(m) = &mut v {
        m.insert("identifiers".into(), identifier_list(identifiers));
    }
    v
}

/// Identifiers as `kind:value` strings.
pub fn identifier_list(ids: &[Identifier]) -> Value {
    Value::Array(ids.iter().map(|i| Value::String(i.to_string())).collect())
}

/// Why a delta or link was written.
pub fn cause(c: &Cause) -> Value {
    let mut v = match c {
        Cause::Api => json!({"kind": "api"}),
        Cause::Event { message_id, name } => json!({"kind": "event", "name": name, "message_id": message_id}),
        Cause::Admin(command) => json!({"kind": "admin", "command": command}),
        Cause::Request(id) => json!({"kind": "request", "id": id}),
    };
    if let Value::Object(m) = &mut v {
        m.insert("description".into(), Value::String(c.describe()));
    }
    v
}

/// One trait operator.
pub fn op(o: &TraitOp) -> Value {
    match o {
        TraitOp::Set { name, value } | TraitOp::SetOnce { name, value } => {
            json!({"op": o.op_name(), "name": name, "value": value.to_json()})
        }
        TraitOp::Unset { name } => json!({"op": o.op_name(), "name": name}),
        TraitOp::Increment { name, by } => json!({"op": o.op_name(), "name": name, "by": by.to_json()}),
        TraitOp::AddToSet { name, values } | TraitOp::RemoveFromSet { name, values } => {
            json!({"op": o.op_name(), "name": name, "values": values})
        }
    }
}

/// What a delta changed.
pub fn change(c: &Change) -> Value {
    match c {
        Change::Update(ops) => json!({"type": "update", "ops": ops.iter().map(op).collect::<Vec<_>>()}),
        Change::Merge { loser, result, .. } => json!({"type": "merge", "loser": loser.0, "result": result.to_json()}),
        Change::Unmerge { split_off, result, .. } => {
            json!({"type": "unmerge", "split_off": split_off.0, "result": result.to_json()})
        }
        Change::SplitFrom { survivor, result, .. } => {
            json!({"type": "split_from", "survivor": survivor.0, "result": result.to_json()})
        }
        Change::Consent(ops) => json!({"type": "consent", "ops": ops.iter().map(|o| o.to_json()).collect::<Vec<_>>()}),
    }
}

/// One history entry.
pub fn delta(d: &Delta) -> Value {
    json!({
        "version": d.version,
        "at": d.at.to_rfc3339(),
        "cause": cause(&d.cause),
        "change": change(&d.change),
        "summary": super::text::change_summary(&d.change),
        "via": identifier_list(&d.via),
        "linked": identifier_list(&d.linked),
        "unlinked": identifier_list(&d.unlinked),
    })
}

/// One identifier of an identity graph.
pub fn identity(i: &IdentifierInfo) -> Value {
    json!({
        "identifier": i.identifier.to_string(),
        "kind": i.identifier.kind(),
        "value": i.identifier.value(),
        "profile": i.link.profile.0,
        "origin": i.link.origin.0,
        "linked_at": i.link.linked_at.to_rfc3339(),
        "cause": cause(&i.link.cause),
        "detached": i.link.detached,
    })
}

/// Why an identifier was not linked: a short code and a sentence.
pub fn ignored_reason(r: &Ignored) -> (&'static str, String) {
    match r {
        Ignored::Blocked => ("blocked", "its value is on the stitching blocklist".into()),
        Ignored::Refused { max, own_profile } => {
            ("refused", format!("its kind allows at most {max} per profile; it stays on profile {own_profile}"))
        }
        Ignored::GaveWay { kind, stays_on } => {
            ("gave_way", format!("merging its profile would exceed the {kind} limit; it stays on profile {stays_on}"))
        }
        Ignored::MergeRefused { reason, stays_on } => (
            "merge_refused",
            format!("a merge rule refuses merging its profile ({reason}); it stays on profile {stays_on}"),
        ),
        Ignored::Detached { stays_on } => {
            ("detached", format!("it was removed from stitching; it stays on profile {stays_on}"))
        }
        _ => ("other", "not linked, for a reason this build of the CLI does not describe".into()),
    }
}

/// A write's receipt.
pub fn receipt(r: &WriteReceipt) -> Value {
    let ignored: Vec<Value> = r
        .ignored
        .iter()
        .map(|(i, why)| {
            let (code, text) = ignored_reason(why);
            json!({"identifier": i.to_string(), "reason": code, "detail": text})
        })
        .collect();
    json!({
        "profile": r.profile.0,
        "version": r.version,
        "created": r.created,
        "merged": r.merged.iter().map(|p| p.0).collect::<Vec<_>>(),
        "linked": identifier_list(&r.linked),
        "unlinked": identifier_list(&r.unlinked),
        "ignored": ignored,
    })
}
