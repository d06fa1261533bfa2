//! The accumulator layouts of formats 8 to 10: a fixture's stored rollup
//! values read back the same and keep their tag until a write to their key
//! makes compaction fold them into this build's layout.

use super::*;

/// The tags of every stored rollup value.
fn rollup_tags(db: &ProfileDb) -> std::collections::BTreeSet<u8> {
    db.dump_cf("rollup").unwrap().iter().map(|e| e.value[0]).collect()
}

/// Format 9 stored accumulators under tag `0x19`; the `0x07` values of
/// format 8 read back the same and stay as they are until a write to their
/// key makes compaction fold them (into this build's `0x1a`).
#[test]
fn the_v9_fixture_holds_lean_accumulators_and_v8_ones_decode_until_folded() {
    let (_d9, v9) = open_writable(9);
    assert_eq!(rollup_tags(&v9), [0x19].into());
    let (_d8, v8) = open_writable(8);
    assert_eq!(rollup_tags(&v8), [0x07].into(), "format 8 wrote bincode accumulators");
    let ann = v8.resolve(&id("email:ann@example.com")).unwrap().unwrap();
    let read =
        || (v8.event_stats(ann, "purchase", Window::All).unwrap(), v8.rollup(ann, "spend", Window::All).unwrap());
    let before = read();
    v8.compact().unwrap();
    assert_eq!(read(), before);
    assert_eq!(rollup_tags(&v8), [0x07].into(), "a value no write touched is copied as it is");
    // A late purchase on the day of a stored one: a 0x1a operand on a 0x07 value.
    let stored = v8.events(ann, Timestamp(0), Timestamp(i64::MAX)).unwrap();
    let earlier = stored.iter().find(|e| e.name == "purchase").expect("the fixture has purchases");
    let mut e = Event::new(EventKind::Track, "purchase", earlier.timestamp, vec![id("email:ann@example.com")]);
    e.properties.insert("amount", 25);
    v8.track(&e).unwrap();
    v8.compact().unwrap();
    assert_eq!(rollup_tags(&v8), [0x07, 0x1a].into(), "the folded keys are rewritten in the new layout");
    assert_eq!(v8.event_stats(ann, "purchase", Window::All).unwrap().count, before.0.count + 1);
    assert_profiles(&v8, 8);
    let r = v8.check().unwrap();
    assert!(r.is_clean(), "{r}");
}

/// The exact sums of format 10: the v10 fixture's decimal purchases sum
/// to 0.6, stored as two partials (`0x1a`); format 9's `0x19` values read
/// back with their sums as stored (one partial) and are rewritten as
/// `0x1a` when a write to their key makes compaction fold them, exactly
/// from then on.
#[test]
fn the_v10_fixture_holds_exact_sums_and_v9_ones_decode_until_folded() {
    let (_d10, v10) = open_writable(10);
    assert_eq!(rollup_tags(&v10), [0x1a].into());
    assert_v10(&v10);
    let (_d9, v9) = open_writable(9);
    assert_eq!(rollup_tags(&v9), [0x19].into(), "format 9 wrote one-f64 sums");
    let ann = v9.resolve(&id("email:ann@example.com")).unwrap().unwrap();
    let read =
        || (v9.event_stats(ann, "purchase", Window::All).unwrap(), v9.rollup(ann, "spend", Window::All).unwrap());
    let before = read();
    assert_eq!(before.1, RollupValue::Number(Some(175.0)));
    v9.compact().unwrap();
    assert_eq!(read(), before);
    assert_eq!(rollup_tags(&v9), [0x19].into(), "a value no write touched is copied as it is");
    // Late purchases on the day of a stored one: 0x1a operands on a 0x19 value.
    let stored = v9.events(ann, Timestamp(0), Timestamp(i64::MAX)).unwrap();
    let earlier = stored.iter().find(|e| e.name == "purchase").expect("the fixture has purchases");
    for amount in [0.1, 0.2] {
        let mut e = Event::new(EventKind::Track, "purchase", earlier.timestamp, vec![id("email:ann@example.com")]);
        e.properties.insert("amount", amount);
        v9.track(&e).unwrap();
    }
    let warm = v9.rollup(ann, "spend", Window::All).unwrap();
    v9.compact().unwrap();
    assert_eq!(rollup_tags(&v9), [0x19, 0x1a].into(), "the folded keys are rewritten in the new layout");
    assert_eq!(v9.event_stats(ann, "purchase", Window::All).unwrap().count, before.0.count + 2);
    // 175 + 0.1 + 0.2 exactly, correctly rounded (plain addition in this
    // order gives 175.29999999999998).
    assert_eq!(warm, RollupValue::Number(Some(175.3)));
    assert_eq!(v9.rollup(ann, "spend", Window::All).unwrap(), warm);
    assert_profiles(&v9, 9);
    let r = v9.check().unwrap();
    assert!(r.is_clean(), "{r}");
}
