//! Identity: `identify` (link identifiers, merging their profiles),
//! `merge` (the same, explicit, for two known identifiers), `unmerge`, and
//! `identifier remove|link`.

use profiledb::{Cause, Identifier, ProfileId, Update};
use serde_json::{json, Value};

use super::{resolve, Ctx};
use crate::cli::{IdentifierCommand, IdentifyArgs, MergeArgs, UnmergeArgs};
use crate::error::CliError;
use crate::open;
use crate::output::{json as js, text};
use crate::parse::{self, Target};

/// `identify IDENTIFIER...`.
pub fn identify(ctx: &Ctx, a: &IdentifyArgs) -> Result<(), CliError> {
    let ids: Vec<Identifier> = a.identifiers.iter().map(|s| parse::identifier(s)).collect::<Result<_, _>>()?;
    let db = open::for_writing(&ctx.db)?;
    let receipt = db.identify(&ids, Update::new().cause(Cause::Admin("identify".into())))?;
    ctx.out.emit(&js::receipt(&receipt), || text::receipt(&receipt))
}

/// `merge A B`: both must exist; fails when the identity rules refuse.
pub fn merge(ctx: &Ctx, m: &MergeArgs) -> Result<(), CliError> {
    let a = parse::identifier(&m.a)?;
    let b = parse::identifier(&m.b)?;
    let db = open::for_writing(&ctx.db)?;
    let known = |i: &Identifier| {
        db.resolve(i)?.ok_or_else(|| {
            CliError::NotFound(format!(
                "no profile has identifier {i} (merge joins two existing profiles; `identify` links new identifiers)"
            ))
        })
    };
    let (pa, pb) = (known(&a)?, known(&b)?);
    let receipt = db.identify(&[a.clone(), b.clone()], Update::new().cause(Cause::Admin("merge".into())))?;
    let (ra, rb) = (known(&a)?, known(&b)?);
    if ra != rb {
        let reasons: Vec<String> =
            receipt.ignored.iter().map(|(i, why)| format!("{i}: {}", js::ignored_reason(why).1)).collect();
        return Err(CliError::Refused(format!(
            "the identity rules refused to merge profiles {pa} and {pb}: {}",
            if reasons.is_empty() { "no reason given".to_owned() } else { reasons.join("; ") }
        )));
    }
    let mut v = js::receipt(&receipt);
    if let Value::Object(o) = &mut v {
        o.insert("already_merged".into(), Value::Bool(pa == pb));
    }
    ctx.out.emit(&v, || {
        if pa == pb {
            format!("{a} and {b} already reach the same profile\n{}", text::receipt(&receipt))
        } else {
            text::receipt(&receipt)
        }
    })
}

/// `unmerge IDENTIFIER`: splits its origin profile back off.
pub fn unmerge(ctx: &Ctx, a: &UnmergeArgs) -> Result<(), CliError> {
    let ident = parse::identifier(&a.identifier)?;
    if !a.yes {
        return Err(CliError::Usage(format!(
            "unmerge cannot be undone: the profile {ident} came from is split off the one it merged into, which is \
             rebuilt without it, and both histories record the split (merging them again does not restore the \
             history as it was); add --yes to confirm"
        )));
    }
    let db = open::for_writing(&ctx.db)?;
    let live = resolve(&db, &Target::Identifier(ident.clone()))?;
    let r = db.unmerge(live, &ident)?;
    let v = json!({
        "restored": r.restored.0,
        "from": r.from.0,
        "identifiers": js::identifier_list(&r.identifiers),
        "events_moved": r.events,
    });
    ctx.out.emit(&v, || {
        let ids: Vec<String> = r.identifiers.iter().map(ToString::to_string).collect();
        let events = match r.events {
            Some(n) => format!("{n} events moved back (rollups of both rebuilt)"),
            None => "events and rollups stayed with the survivor (its timeline no longer holds them all)".to_owned(),
        };
        format!(
            "split profile {} back off profile {}\nmoved back: {}\n{events}",
            r.restored,
            r.from,
            if ids.is_empty() { "(none)".to_owned() } else { ids.join(", ") }
        )
    })
}

/// `identifier remove|link`.
pub fn identifier(ctx: &Ctx, cmd: IdentifierCommand) -> Result<(), CliError> {
    match cmd {
        IdentifierCommand::Remove { identifier, yes } => {
            let ident = parse::identifier(&identifier)?;
            if !yes {
                return Err(CliError::Usage(format!(
                    "identifier remove cannot be undone: {ident} is detached from its profile onto one of its own \
                     and never stitched again (`identifier link` attaches it again, but what came through it stays \
                     on the profile it leaves); add --yes to confirm"
                )));
            }
            let db = open::for_writing(&ctx.db)?;
            let from = resolve(&db, &Target::Identifier(ident.clone()))?;
            let own = db.remove_identifier(from, &ident)?;
            let v = json!({"identifier": ident.to_string(), "from": from.0, "profile": own.0, "detached": true});
            ctx.out
                .emit(&v, || format!("removed {ident} from profile {from}; it now lives, detached, on profile {own}"))
        }
        IdentifierCommand::Suppressed { identifier } => {
            let ident = parse::identifier(&identifier)?;
            let db = open::for_reading(&ctx.db)?;
            let suppressed = db.is_suppressed(&ident)?;
            let v = json!({"identifier": ident.to_string(), "suppressed": suppressed});
            ctx.out.emit(&v, || {
                if suppressed {
                    format!("{ident} is suppressed (erased or anonymized): writes carrying it are refused")
                } else {
                    format!("{ident} is not suppressed")
                }
            })
        }
        IdentifierCommand::Link { identifier, to } => {
            let ident = parse::identifier(&identifier)?;
            let target = match (&to.to, to.to_id) {
                (Some(s), _) => Target::Identifier(parse::identifier(s)?),
                (None, Some(id)) => Target::Id(ProfileId(id)),
                (None, None) => return Err(CliError::Usage("give --to IDENTIFIER or --to-id N".into())),
            };
            let db = open::for_writing(&ctx.db)?;
            let profile = resolve(&db, &target)?;
            let before = db.resolve(&ident)?;
            db.link_identifier(profile, &ident)?;
            let v = json!({"identifier": ident.to_string(), "profile": profile.0, "was_on": before.map(|p| p.0)});
            ctx.out.emit(&v, || match before {
                Some(p) if p != profile => format!("linked {ident} to profile {profile} (moved from profile {p})"),
                _ => format!("linked {ident} to profile {profile}"),
            })
        }
    }
}
