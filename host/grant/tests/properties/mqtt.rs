//! MQTT topic filters: matching against a recursive reference matcher, and
//! `covers` never allowing a topic the wider filter does not match.

use baton_grant::mqtt::TopicFilter;
use proptest::prelude::*;

/// Levels that filters and topics are made of: literals, an empty level and a
/// `$` level, so that every special case of the matching rules comes up.
const LEVELS: [&str; 5] = ["a", "b", "", "$sys", "c"];

fn level() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&LEVELS[..])
}

fn filter() -> impl Strategy<Value = Vec<&'static str>> {
    (
        prop::collection::vec(prop_oneof![3 => level(), 1 => Just("+")], 1..5),
        any::<bool>(),
    )
        .prop_map(|(mut levels, hash)| {
            if hash {
                levels.push("#");
            }
            levels
        })
}

/// What a `#` can be narrowed to.
const DEEPER: [&[&str]; 5] = [&["#"], &["a", "#"], &["+"], &[], &["+", "+"]];

/// A filter and, most of the time, a near variant of it: some `+` made
/// literal (or `#`, which is wider), `#` replaced by deeper levels.
/// Otherwise an unrelated filter.
fn wide_and_narrow() -> impl Strategy<Value = (Vec<&'static str>, Vec<&'static str>)> {
    filter().prop_flat_map(|wide| {
        let narrowed: Vec<BoxedStrategy<Vec<&'static str>>> = wide
            .iter()
            .map(|&level| match level {
                "+" => prop::sample::select(&["+", "a", "", "$sys", "#"][..])
                    .prop_map(|l| vec![l])
                    .boxed(),
                "#" => prop::sample::select(&DEEPER[..])
                    .prop_map(<[&str]>::to_vec)
                    .boxed(),
                literal => Just(vec![literal]).boxed(),
            })
            .collect();
        let narrow = prop_oneof![
            3 => narrowed.prop_map(|parts| parts.concat()),
            1 => filter(),
        ];
        (Just(wide), narrow)
    })
}

fn topic() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(level(), 1..7)
}

/// MQTT 5 §4.7, written as directly as possible.
fn reference_match(filter: &[&str], topic: &[&str]) -> bool {
    let dollar = topic.first().is_some_and(|t| t.starts_with('$'));
    if dollar && matches!(filter.first(), Some(&"+" | &"#")) {
        return false;
    }
    fn go(filter: &[&str], topic: &[&str]) -> bool {
        match (filter, topic) {
            (["#"], _) => true,
            ([], []) => true,
            (["+", f @ ..], [_, t @ ..]) => go(f, t),
            ([l, f @ ..], [t0, t @ ..]) => l == t0 && go(f, t),
            _ => false,
        }
    }
    go(filter, topic)
}

/// A topic that `filter` matches (unless the `$` rule forbids it), with `+`
/// and `#` filled in from `fill`.
fn instantiate(filter: &[&'static str], fill: &[&'static str]) -> Vec<&'static str> {
    let deep = fill.len() % 3;
    let mut fill = fill.iter().copied().cycle();
    let mut out = Vec::new();
    for &level in filter {
        match level {
            "+" => out.extend(fill.next()),
            "#" => out.extend(fill.by_ref().take(deep)),
            literal => out.push(literal),
        }
    }
    if out.is_empty() {
        out.push("a");
    }
    out
}

fn parse(levels: &[&str]) -> Option<TopicFilter> {
    levels.join("/").parse().ok()
}

proptest! {
    #[test]
    fn matching_agrees_with_the_reference(f in filter(), t in topic()) {
        let Some(parsed) = parse(&f) else { return Ok(()) };
        prop_assert_eq!(parsed.matches(&t.join("/")), reference_match(&f, &t));
    }

    #[test]
    fn a_covered_filter_never_matches_more(
        (wide, narrow) in wide_and_narrow(),
        fill in prop::collection::vec(level(), 1..4),
    ) {
        let (Some(w), Some(n)) = (parse(&wide), parse(&narrow)) else { return Ok(()) };
        prop_assert!(w.covers(&w));
        let t = instantiate(&narrow, &fill);
        if w.covers(&n) && n.matches(&t.join("/")) {
            prop_assert!(w.matches(&t.join("/")), "{w} covers {n} but not {}", t.join("/"));
        }
    }

    #[test]
    fn covering_a_plain_topic_is_matching_it(wide in filter(), t in topic()) {
        let (Some(w), Some(n)) = (parse(&wide), parse(&t)) else { return Ok(()) };
        prop_assert_eq!(w.covers(&n), w.matches(&t.join("/")));
    }
}
