//! Library values as readable text: headers, tables, trait trees.

use profiledb::{Change, Delta, Identifier, IdentifierInfo, Profile, TraitOp, TraitValue, Traits, WriteReceipt};

use super::table::{truncate, Table};

/// The widest a change summary gets in the history table.
const SUMMARY_WIDTH: usize = 90;

/// A value as people read it: strings quoted (so `"42"` differs from `42`),
/// times as bare RFC 3339, lists in brackets.
pub fn value(v: &TraitValue) -> String {
    match v {
        TraitValue::Time(t) => t.to_rfc3339(),
        TraitValue::List(items) => {
            let inner: Vec<String> = items.iter().map(|s| quote(s)).collect();
            format!("[{}]", inner.join(", "))
        }
        TraitValue::Str(s) => quote(s),
        TraitValue::Float(f) => float(*f),
        other => other.to_json().to_string(),
    }
}

/// A float for people: at most six decimals, without float noise
/// (`843.3899999999999` reads `843.39`); `--json` keeps the exact value.
fn float(f: f64) -> String {
    let s = format!("{f:.6}");
    let s = s.trim_end_matches('0');
    match s.strip_suffix('.') {
        Some(int) => format!("{int}.0"),
        None => s.to_owned(),
    }
}

/// Text for a terminal: control characters (ESC, line breaks...) and the
/// backslash escaped as in a JSON string (`\u001b`, `\n`, `\\`), so
/// stored bytes cannot move the cursor, recolour the terminal or fake a
/// line of output; anything else as it is. Identifiers are shown this way.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// An identifier for a terminal, [`escape`]d (`kind:value` as it is when
/// printable).
pub fn ident(i: &Identifier) -> String {
    escape(&i.to_string())
}

fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A profile: header line, trait tree, identifiers. `note` (e.g. "as of
/// version 2") goes under the header.
pub fn profile(p: &Profile, identifiers: &[Identifier], note: Option<&str>) -> String {
    profile_headed(p, identifiers, note, "IDENTIFIERS")
}

/// As [`profile`], with the identifiers under `heading` (an as-of read
/// says they are the current ones).
pub fn profile_headed(p: &Profile, identifiers: &[Identifier], note: Option<&str>, heading: &str) -> String {
    let mut out =
        format!("profile {}  version {}  created {}  updated {}\n", p.id, p.version, p.created_at, p.updated_at);
    if let Some(n) = note {
        out.push_str(&format!("({n})\n"));
    }
    out.push('\n');
    out.push_str(&traits(&p.traits));
    if !p.consent.is_empty() {
        out.push_str("\n\nCONSENT\n");
        let lines: Vec<String> = p
            .consent
            .iter()
            .map(|(purpose, c)| {
                let until = c.expires_at.map(|e| format!(" until {e}")).unwrap_or_default();
                format!("  {purpose}: {} ({}, {}{until})", c.state.name(), c.source, c.at)
            })
            .collect();
        out.push_str(&lines.join("\n"));
    }
    out.push_str(&format!("\n\n{heading}\n"));
    if identifiers.is_empty() {
        out.push_str("  (none)");
    }
    let list: Vec<String> = identifiers.iter().map(|i| format!("  {}", ident(i))).collect();
    out.push_str(&list.join("\n"));
    out
}

/// Traits as a tree: nested names indented under their parents.
pub fn traits(t: &Traits) -> String {
    if t.is_empty() {
        return "TRAITS\n  (none)".into();
    }
    let mut table = Table::new(&["TRAIT", "VALUE", "UPDATED"]);
    let mut open: Vec<&str> = Vec::new();
    for (name, entry) in t.iter() {
        let parts: Vec<&str> = name.split('.').collect();
        let (parents, leaf) = parts.split_at(parts.len() - 1);
        let common = open.iter().zip(parents).take_while(|(a, b)| a == b).count();
        open.truncate(common);
        for (depth, parent) in parents.iter().enumerate().skip(common) {
            table.row(vec![format!("{}{parent}", "  ".repeat(depth)), String::new(), String::new()]);
            open.push(parent);
        }
        let leaf = leaf.first().copied().unwrap_or(name);
        table.row(vec![
            format!("{}{leaf}", "  ".repeat(parents.len())),
            truncate(&value(&entry.value), 60),
            entry.updated_at.to_rfc3339(),
        ]);
    }
    table.render()
}

/// One operator, briefly: `set plan = "pro"`.
pub fn op(o: &TraitOp) -> String {
    match o {
        TraitOp::Set { name, value: v } => format!("set {name} = {}", value(v)),
        TraitOp::SetOnce { name, value: v } => format!("set_once {name} = {}", value(v)),
        TraitOp::Unset { name } => format!("unset {name}"),
        TraitOp::Increment { name, by } => format!("increment {name} by {}", value(by)),
        TraitOp::AddToSet { name, values } => format!("add {} to {name}", value(&TraitValue::List(values.clone()))),
        TraitOp::RemoveFromSet { name, values } => {
            format!("remove {} from {name}", value(&TraitValue::List(values.clone())))
        }
    }
}

/// What a delta changed, in one line.
pub fn change_summary(c: &Change) -> String {
    match c {
        Change::Update(ops) if ops.is_empty() => "no trait changes".into(),
        Change::Update(ops) => ops.iter().map(op).collect::<Vec<_>>().join("; "),
        Change::Merge { loser, .. } => format!("merged profile {loser} into this one"),
        Change::Unmerge { split_off, .. } => format!("split profile {split_off} back off"),
        Change::SplitFrom { survivor, .. } => format!("restored by an unmerge from profile {survivor}"),
        Change::Consent(ops) => ops.iter().map(|o| o.summary()).collect::<Vec<_>>().join("; "),
    }
}

/// Identifier changes of a delta: `+email:a@x.com -device_id:d1`.
pub fn links(d: &Delta) -> String {
    let plus = d.linked.iter().map(|i| format!("+{}", ident(i)));
    let minus = d.unlinked.iter().map(|i| format!("-{}", ident(i)));
    plus.chain(minus).collect::<Vec<_>>().join(" ")
}

/// A profile's history: a title and the table.
pub fn history(profile: profiledb::ProfileId, deltas: &[Delta], total: usize) -> String {
    let title = if deltas.len() < total {
        format!("history of profile {profile} (newest {} of {total} retained deltas)", deltas.len())
    } else {
        format!("history of profile {profile} ({total} retained deltas)")
    };
    format!("{title}\n\n{}", history_table(deltas))
}

/// Deltas as a table: version, time, cause, change, identifier changes.
pub fn history_table(deltas: &[Delta]) -> String {
    let mut t = Table::new(&["VERSION", "TIME", "CAUSE", "CHANGE", "IDENTIFIERS"]);
    for d in deltas {
        t.row(vec![
            d.version.to_string(),
            d.at.to_rfc3339(),
            d.cause.describe(),
            truncate(&change_summary(&d.change), SUMMARY_WIDTH),
            links(d),
        ]);
    }
    t.render()
}

/// A profile's identity graph as a table.
pub fn identities(profile: profiledb::ProfileId, infos: &[IdentifierInfo]) -> String {
    let mut t = Table::new(&["IDENTIFIER", "LINKED AT", "CAUSE", "ORIGIN", "DETACHED"]);
    for i in infos {
        t.row(vec![
            ident(&i.identifier),
            i.link.linked_at.to_rfc3339(),
            i.link.cause.describe(),
            if i.link.origin == profile { format!("{} (own)", i.link.origin) } else { i.link.origin.to_string() },
            if i.link.detached { "yes".into() } else { "no".into() },
        ]);
    }
    format!("identity graph of profile {profile} ({} linked)\n\n{}", infos.len(), t.render())
}

/// A write's receipt.
pub fn receipt(r: &WriteReceipt) -> String {
    let mut out = format!("profile {}  version {}{}", r.profile, r.version, if r.created { "  (created)" } else { "" });
    if !r.merged.is_empty() {
        let ids: Vec<String> = r.merged.iter().map(ToString::to_string).collect();
        let noun = if ids.len() == 1 { "profile" } else { "profiles" };
        out.push_str(&format!("\nmerged:   {noun} {} into {}", ids.join(", "), r.profile));
    }
    let list = |ids: &[Identifier]| ids.iter().map(ident).collect::<Vec<_>>().join(", ");
    if !r.linked.is_empty() {
        out.push_str(&format!("\nlinked:   {}", list(&r.linked)));
    }
    if !r.unlinked.is_empty() {
        out.push_str(&format!("\nunlinked: {}", list(&r.unlinked)));
    }
    for (ident_, why) in &r.ignored {
        out.push_str(&format!("\nignored:  {}: {}", ident(ident_), super::json::ignored_reason(why).1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_well() {
        assert_eq!(value(&TraitValue::Float(843.3899999999999)), "843.39");
        assert_eq!(value(&TraitValue::Float(2.0)), "2.0");
        assert_eq!(value(&TraitValue::Int(42)), "42");
        assert_eq!(value(&TraitValue::Str("42".into())), "\"42\"");
        assert_eq!(value(&TraitValue::List(vec!["a".into()])), "[\"a\"]");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("a\u{1b}[31mb\nc\\d\u{85}"), "a\\u001b[31mb\\nc\\\\d\\u0085");
        assert_eq!(escape("email:ann@example.com"), "email:ann@example.com");
    }
}
