//! The paging rules' unit tests: next pages, keyset moves, anchors, list ends, cursor repeats.

use super::*;

/// A page's records (as text) and what it says ahead, from a body given as a `Value`.
struct Parsed {
    records: Vec<String>,
    ahead: Ahead,
}

fn page(paging: Paging, shape: Records, body: Value) -> Result<Parsed> {
    let text = body.to_string();
    let p = parse_page(paging, shape, Envelope::parse(&text)?)?;
    Ok(Parsed {
        records: p
            .records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect(),
        ahead: p.ahead,
    })
}

#[test]
fn every_shape_of_data() {
    let nested = page(
        Paging::Single,
        Records::Nested("goals"),
        json!({"success": true, "data": {"goals": [{"id": "g1"}, {"id": "g2"}]}}),
    )
    .unwrap();
    assert_eq!(nested.records, [r#"{"id":"g1"}"#, r#"{"id":"g2"}"#]);
    let one = page(
        Paging::Single,
        Records::Object,
        json!({"success": true, "data": {"can_add": true}}),
    )
    .unwrap();
    assert_eq!(one.records, [r#"{"can_add":true}"#]);
    for empty in [
        json!({"success": true, "data": null}),
        json!({"success": true}),
    ] {
        for shape in [Records::Data, Records::Nested("goals"), Records::Object] {
            let p = page(Paging::Single, shape, empty.clone()).unwrap();
            assert!(p.records.is_empty(), "{empty} {shape:?}");
        }
    }
    let no_goals = json!({"success": true, "data": {"goals": null}});
    let p = page(Paging::Single, Records::Nested("goals"), no_goals);
    assert!(p.unwrap().records.is_empty());
    let err = page(Paging::Single, Records::Data, json!({"data": {"a": 1}}));
    assert!(format!("{:#}", err.err().unwrap()).contains("is an object, not a list"));
}

#[test]
fn what_pages_say_of_the_rest() {
    let cursor = Paging::Cursor { limit: 500 };
    let offset = Paging::Offset { limit: 500 };
    let ahead = |paging, extra: Value| {
        page(
            paging,
            Records::Data,
            json!({"success": true, "data": [], "additional_data": extra}),
        )
        .map(|p| p.ahead)
    };
    assert_eq!(
        ahead(cursor, json!({"next_cursor": "abc"})).unwrap(),
        Ahead::Cursor(Some("abc".into()))
    );
    for end in [json!({"next_cursor": null}), json!({"next_cursor": ""})] {
        assert_eq!(
            ahead(cursor, end.clone()).unwrap(),
            Ahead::Cursor(None),
            "{end}"
        );
    }
    for unsaid in [json!({}), Value::Null] {
        assert_eq!(
            ahead(cursor, unsaid.clone()).unwrap(),
            Ahead::Unsaid,
            "{unsaid}"
        );
    }
    assert!(ahead(cursor, json!({"next_cursor": 5})).is_err());
    assert_eq!(
        ahead(
            offset,
            json!({"pagination": {"more_items_in_collection": true, "next_start": 2}})
        )
        .unwrap(),
        Ahead::More(Some(true))
    );
    assert_eq!(
        ahead(
            offset,
            json!({"start": 2, "limit": 2, "more_items_in_collection": false})
        )
        .unwrap(),
        Ahead::More(Some(false)),
        "leads' flat form"
    );
    assert_eq!(ahead(offset, Value::Null).unwrap(), Ahead::More(None));
}

#[test]
fn unusable_pages_are_errors() {
    assert!(page(Paging::Single, Records::Data, json!([1])).is_err());
    assert!(page(
        Paging::Single,
        Records::Data,
        json!({"success": false, "error": "x"})
    )
    .is_err());
    assert!(page(
        Paging::Single,
        Records::Data,
        json!({"success": true, "data": "x"})
    )
    .is_err());
}

#[test]
fn a_cursor_seen_before_ends_in_an_error_however_far_back() {
    let mut c = Cursors::default();
    assert!(c.advance(Some("A".into())).unwrap());
    assert!(c.advance(Some("B".into())).unwrap());
    let e = c.advance(Some("A".into())).unwrap_err().to_string();
    assert!(e.contains("next_cursor A again"), "{e}");
    let mut c = Cursors::default();
    assert!(!c.advance(None).unwrap(), "null ends the list");
}

/// A page that does not say whether more follow (no `next_cursor`) ends the list only when it
/// is short; a full one fails it: `/api/v2/persons` pages of 500 without `additional_data`
/// once ended a stream after its first page, silently.
#[test]
fn a_full_page_without_next_cursor_fails_instead_of_ending_the_list() {
    let mut p = Pager::Cursor(Cursors::new(3));
    let t = |len| Tail {
        len,
        ..Tail::default()
    };
    assert!(
        !p.advance(t(2), 0, Ahead::Unsaid).unwrap(),
        "a short page ends it"
    );
    let e = p.advance(t(3), 0, Ahead::Unsaid).unwrap_err().to_string();
    assert!(e.contains("does not say whether more follow"), "{e}");
    assert!(
        !p.advance(t(3), 0, Ahead::Cursor(None)).unwrap(),
        "null ends it"
    );
}

/// A page of records named by their letter, each in the second its digit says.
fn tail(page: &[(&str, i64)]) -> Tail {
    Tail::of(page.len(), |i| page[i].0.to_string(), |i| Some(page[i].1))
}

fn locate(o: &mut Offsets, page: &[(&str, i64)]) -> Option<usize> {
    o.locate(page.len(), |i| page[i].0.to_string()).unwrap()
}

/// Reads one page: where its new records begin, and whether the list goes on.
fn read(o: &mut Offsets, page: &[(&str, i64)], more: Option<bool>) -> (Option<usize>, bool) {
    match locate(o, page) {
        None => (None, true),
        Some(from) => (Some(from), o.advance(&tail(page), from, more).unwrap()),
    }
}

fn at(o: &Offsets) -> (Option<i64>, u64) {
    (o.since, o.start)
}

#[test]
fn the_tail_counts_the_records_of_the_last_second() {
    assert_eq!(tail(&[("a", 1), ("b", 2), ("c", 2)]).run, 2);
    assert_eq!(tail(&[("a", 2), ("b", 2)]).run, 2);
    assert_eq!(tail(&[]), Tail::default());
    let unknown = Tail::of(2, |i| i.to_string(), |_| None);
    assert_eq!((unknown.run, unknown.last.as_deref()), (0, Some("1")));
}

#[test]
fn keyset_pages_start_at_the_last_record_within_its_second() {
    let mut o = Offsets::new(Some(0));
    assert_eq!(at(&o), (Some(0), 0));
    assert_eq!(
        read(
            &mut o,
            &[("a", 1), ("b", 2), ("c", 3), ("d", 3)],
            Some(true)
        ),
        (Some(0), true)
    );
    // d is the second record of second 3: the next page filters from 3, starts at 1.
    assert_eq!(at(&o), (Some(3), 1));
    assert_eq!(
        read(
            &mut o,
            &[("d", 3), ("e", 3), ("f", 3), ("g", 3)],
            Some(true)
        ),
        (Some(1), true)
    );
    // Still second 3: the group goes on past one page.
    assert_eq!(at(&o), (Some(3), 4));
    assert_eq!(
        read(&mut o, &[("g", 3), ("h", 4)], Some(true)),
        (Some(1), true)
    );
    assert_eq!(at(&o), (Some(4), 0));
    assert_eq!(read(&mut o, &[("h", 4)], Some(false)), (Some(1), false));
}

#[test]
fn a_keyset_page_without_its_anchor_reads_the_second_again() {
    let mut o = Offsets::new(Some(0));
    read(&mut o, &[("a", 1), ("b", 5), ("c", 5)], Some(true));
    assert_eq!(at(&o), (Some(5), 1));
    // b was edited (it left second 5): the page at 1 begins with what followed c.
    assert_eq!(read(&mut o, &[("d", 6)], Some(true)), (None, true));
    assert_eq!(at(&o), (Some(5), 0), "second 5 from its start");
    assert_eq!(
        read(&mut o, &[("c", 5), ("d", 6)], Some(false)),
        (Some(0), false)
    );
}

#[test]
fn an_offset_page_finds_its_anchor_where_records_moved_it() {
    let mut o = Offsets::new(None);
    read(
        &mut o,
        &[("a", 0), ("b", 0), ("c", 0), ("d", 0)],
        Some(true),
    );
    assert_eq!(at(&o), (None, 3));
    // Two records were added before d: it is two places later, still on the page.
    assert_eq!(
        read(
            &mut o,
            &[("x", 0), ("y", 0), ("d", 0), ("e", 0)],
            Some(true)
        ),
        (Some(3), true)
    );
    assert_eq!(at(&o), (None, 6));
    // Three records before e went away: look back 2, then 4, where e is.
    assert_eq!(
        read(&mut o, &[("g", 0), ("h", 0)], Some(true)),
        (None, true)
    );
    assert_eq!(at(&o), (None, 4));
    assert_eq!(
        read(&mut o, &[("f", 0), ("g", 0)], Some(true)),
        (None, true)
    );
    assert_eq!(at(&o), (None, 2));
    assert_eq!(
        read(&mut o, &[("e", 0), ("f", 0), ("g", 0)], Some(false)),
        (Some(1), false)
    );
}

#[test]
fn an_anchor_that_cannot_be_found_reads_the_list_again_a_bounded_number_of_times() {
    let mut o = Offsets::new(None);
    read(&mut o, &[("a", 0), ("b", 0)], Some(true));
    assert_eq!(at(&o), (None, 1));
    // b went away: back 2 reaches the start, where b is not either: that page is read
    // as the list's first.
    assert_eq!(read(&mut o, &[("c", 0)], Some(true)), (None, true));
    assert_eq!(at(&o), (None, 0));
    assert_eq!(
        read(&mut o, &[("a", 0), ("c", 0)], Some(true)),
        (Some(0), true)
    );
    assert_eq!(o.restarts, 1);
    // Further back than a page would leave a gap: start over.
    let mut o = Offsets::new(None);
    read(&mut o, &[("a", 0), ("b", 0), ("c", 0)], Some(true));
    read(&mut o, &[("c", 0), ("d", 0), ("e", 0)], Some(true));
    assert_eq!(at(&o), (None, 4));
    assert_eq!(read(&mut o, &[("z", 0)], Some(true)), (None, true));
    assert_eq!(at(&o), (None, 2));
    assert_eq!(read(&mut o, &[("z", 0)], Some(true)), (None, true));
    assert_eq!((at(&o), o.restarts), ((None, 0), 1));
    let mut failed = None;
    for _ in 0..=MAX_RESTARTS {
        o.anchor = Some(Anchor {
            id: "gone".into(),
            at: 0,
            back: 0,
            span: 1,
        });
        if let Err(e) = o.locate(1, |_| "other".into()) {
            failed = Some(e.to_string());
            break;
        }
    }
    assert!(failed
        .unwrap()
        .contains("stopping rather than risk skipping"));
}

#[test]
fn lists_end_where_the_server_says_or_at_a_page_with_nothing_new() {
    // No pagination block: a short page is not the end; a page with nothing new is.
    let mut o = Offsets::new(None);
    assert_eq!(read(&mut o, &[("a", 0), ("b", 0)], None), (Some(0), true));
    assert_eq!(read(&mut o, &[("b", 0)], None), (Some(1), false));
    // Nothing new after the record checked against, but records came before it: they
    // moved it, and what follows it is asked for.
    let mut o = Offsets::new(None);
    read(&mut o, &[("a", 0), ("b", 0)], None);
    assert_eq!(read(&mut o, &[("x", 0), ("b", 0)], None), (Some(2), true));
    assert_eq!(at(&o), (None, 2));
    assert_eq!(read(&mut o, &[("b", 0), ("c", 0)], None), (Some(1), true));
    // The server says there is no more: the end, whatever the page's length.
    let mut o = Offsets::new(None);
    assert_eq!(read(&mut o, &[("a", 0)], Some(false)), (Some(0), false));
    // It says there is more, and serves the same page again: an error, not a loop.
    let mut o = Offsets::new(None);
    read(&mut o, &[("a", 0), ("b", 0)], Some(true));
    let from = locate(&mut o, &[("b", 0)]).unwrap();
    let e = o.advance(&tail(&[("b", 0)]), from, Some(true)).unwrap_err();
    assert!(e.to_string().contains("same page again"), "{e}");
    let mut o = Offsets::new(None);
    assert!(
        o.advance(&tail(&[]), 0, Some(true)).is_err(),
        "more, but nothing served"
    );
}
