use super::*;

fn artifact(blocks: &[&[&str]]) -> SegmentColumns {
    let mut w = format::Writer::new(ValueSetPolicy::default());
    for msgs in blocks {
        w.block(msgs.len(), columns_of(msgs.iter().copied())).unwrap();
    }
    SegmentColumns::open(w.finish().into()).unwrap()
}

fn column(cols: &SegmentColumns, block: usize, name: &str) -> Option<Column> {
    let b = cols.block(block).unwrap();
    b.field(name).map(|f| cols.read(b, f).unwrap())
}

#[test]
fn kind_is_valid() {
    assert_eq!(kind().as_str(), KIND);
}

#[test]
fn typed_cells_round_trip_with_absent_rows_and_mixed_types() {
    let msgs: &[&str] = &[
        r#"{"latency_ms": 12, "path": "/a", "ok": true}"#,
        "plain text line",
        r#"{"latency_ms": 7.5, "path": "/b", "ok": null}"#,
        r#"{"latency_ms": "slow", "path": "/a", "n": {"x": [1, -2]}}"#,
        r#"{"latency_ms": -9223372036854775808, "big": 18446744073709551615}"#,
    ];
    let cols = artifact(&[msgs]);
    assert_eq!(cols.blocks(), 1);
    let lat = column(&cols, 0, "latency_ms").unwrap();
    assert_eq!(lat.len(), 5);
    assert_eq!(lat.cell(0), Cell::Int(12));
    assert_eq!(lat.cell(1), Cell::Absent);
    assert_eq!(lat.cell(2), Cell::Float(7.5));
    let Cell::Str(i) = lat.cell(3) else { panic!("{:?}", lat.cell(3)) };
    assert_eq!(lat.text(i), "slow");
    assert_eq!(lat.cell(4), Cell::Int(i64::MIN));
    let path = column(&cols, 0, "path").unwrap();
    assert_eq!(path.dict(), ["/a", "/b"]);
    assert_eq!(path.cell(3), path.cell(0));
    let ok = column(&cols, 0, "ok").unwrap();
    assert_eq!((ok.cell(0), ok.cell(2), ok.cell(3)), (Cell::Bool(true), Cell::Null, Cell::Absent));
    assert_eq!(column(&cols, 0, "n.x.1").unwrap().cell(3), Cell::Int(-2));
    assert_eq!(column(&cols, 0, "big").unwrap().cell(4), Cell::Float(18446744073709551615.0));
    assert!(column(&cols, 0, "missing").is_none());
    // Statistics: numbers stored as numbers bound min/max; strings and others are flagged.
    let meta = cols.block(0).unwrap().field("latency_ms").unwrap();
    assert_eq!(meta.present, 4);
    assert_eq!(meta.numeric, Some((i64::MIN as f64, 12.0)));
    assert!(meta.has_text && !meta.has_other);
    let ok = cols.block(0).unwrap().field("ok").unwrap();
    assert_eq!((ok.numeric, ok.has_text, ok.has_other), (None, false, true));
}

#[test]
fn a_name_reached_twice_keeps_the_first_value() {
    let cols = artifact(&[&[r#"{"a.b": 1, "a": {"b": 2}}"#]]);
    let mut first = None;
    flatten(&parse_object(r#"{"a.b": 1, "a": {"b": 2}}"#).unwrap(), |k, v| {
        if k == "a.b" && first.is_none() {
            first = v.as_i64();
        }
    });
    assert_eq!(column(&cols, 0, "a.b").unwrap().cell(0), Cell::Int(first.unwrap()));
}

#[test]
fn near_unique_strings_keep_statistics_only() {
    let msgs: Vec<String> = (0..200)
        .map(|i| format!(r#"{{"trace":"t{i:08x}","level":"L{}","n":{i}}}"#, i % 3))
        .collect();
    let cols = artifact(&[&msgs.iter().map(String::as_str).collect::<Vec<_>>()]);
    let b = cols.block(0).unwrap();
    let trace = b.field("trace").unwrap();
    assert!(!trace.stored && trace.has_text && trace.present == 200);
    assert!(matches!(cols.read(b, trace), Err(ColumnsError::NotStored)));
    assert!(b.field("level").unwrap().stored && b.field("n").unwrap().stored);
    assert_eq!(column(&cols, 0, "n").unwrap().cell(199), Cell::Int(199));
}

#[test]
fn blocks_without_json_are_covered_and_empty() {
    let cols = artifact(&[&["a", "b"], &[r#"{"k":1}"#]]);
    assert_eq!(cols.blocks(), 2);
    assert_eq!(cols.block(0).unwrap().rows(), 2);
    assert_eq!(cols.block(0).unwrap().fields().count(), 0);
    assert_eq!(column(&cols, 1, "k").unwrap().cell(0), Cell::Int(1));
    assert!(cols.block(2).is_none());
}

#[test]
fn every_damaged_byte_is_detected() {
    let mut w = format::Writer::new(ValueSetPolicy::default());
    let msgs = [r#"{"a": 1, "s": "x"}"#, r#"{"a": 2.5, "s": "y"}"#];
    w.block(2, columns_of(msgs.iter().copied())).unwrap();
    let good = w.finish();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        // Either the open fails or reading every column does: never different data.
        let Ok(cols) = SegmentColumns::open(bad.into()) else { continue };
        let b = cols.block(0).unwrap();
        let reads: Vec<_> = b.fields().map(|(_, f)| cols.read(b, f)).collect();
        assert!(reads.iter().any(Result::is_err), "byte {i} flipped unnoticed");
    }
    for cut in [0, 8, good.len() - 1] {
        assert!(SegmentColumns::open(good[..cut].to_vec().into()).is_err());
    }
}

#[test]
fn builds_from_a_sealed_segment() {
    use logsight_model::{LogEvent, LogGroupName, LogStreamName};
    use logsight_storage::{Store, StoreOptions};
    let tmp = tempfile::tempdir().unwrap();
    let opts = StoreOptions { background: false, sync: false, ..Default::default() };
    let store = Store::open(tmp.path(), opts).unwrap();
    let g = LogGroupName::new("g").unwrap();
    store.create_group(&g).unwrap();
    store.create_stream(&g, &LogStreamName::new("s").unwrap()).unwrap();
    let events: Vec<LogEvent> = (0..100)
        .map(|i| {
            let m = if i % 3 == 0 { format!("text {i}") } else { format!(r#"{{"i":{i}}}"#) };
            LogEvent::new(i, i, m).unwrap()
        })
        .collect();
    store.append("g", "s", &events).unwrap();
    store.flush().unwrap();
    let report = store.derive_missing(&ColumnsDeriver::default()).unwrap();
    assert_eq!(report.built, 1);
    let id = store.segments()[0].id;
    let cols = SegmentColumns::open(store.artifact(id, &kind()).unwrap().unwrap()).unwrap();
    let seg = store.segment(id).unwrap();
    assert_eq!(cols.blocks(), seg.blocks().len());
    let b = cols.block(0).unwrap();
    let i = cols.read(b, b.field("i").unwrap()).unwrap();
    let present: Vec<i64> = (0..b.rows())
        .filter_map(|r| match i.cell(r) {
            Cell::Int(v) => Some(v),
            _ => None,
        })
        .collect();
    let want: Vec<i64> = (0..100).filter(|i| i % 3 != 0).collect();
    assert_eq!(present, want);
}

#[test]
fn string_values_are_summarised_in_the_directory() {
    let mut msgs: Vec<String> = (0..300)
        .map(|i| {
            format!(
                r#"{{"level":"{}","path":"/p/{}","code":"{}","n":{i}}}"#,
                ["INFO", "WARN"][i % 2],
                i % 100,
                if i % 50 == 0 { " 42".to_string() } else { format!("c{}", i % 3) }
            )
        })
        .collect();
    msgs.push(r#"{"level": 7, "flag": true}"#.into());
    let cols = artifact(&[&msgs.iter().map(String::as_str).collect::<Vec<_>>()]);
    let b = cols.block(0).unwrap();
    let level = b.field("level").unwrap();
    let set = level.values.as_ref().unwrap();
    assert!(set.may_contain("INFO") && set.may_contain("WARN"));
    assert!(!set.may_contain("ERROR") && !set.may_contain("7") && !set.may_contain("info"));
    assert_eq!(set.encoded_len(), 2 + 2 * 8, "an exact set of two hashes");
    assert!(!level.numeric_text && level.numeric == Some((7.0, 7.0)));
    // 100 distinct paths: a Bloom filter.
    let path = b.field("path").unwrap().values.as_ref().unwrap();
    assert!((0..100).all(|i| path.may_contain(&format!("/p/{i}"))));
    assert!(set.encoded_len() < path.encoded_len() && path.encoded_len() < 200);
    let code = b.field("code").unwrap();
    assert!(code.numeric_text && code.values.as_ref().unwrap().may_contain(" 42"));
    let flag = b.field("flag").unwrap();
    assert!(flag.values.is_none() && !flag.numeric_text && !flag.has_text);
    // Near-unique strings: not stored, still summarised (up to the cap).
    let trace: Vec<String> = (0..200).map(|i| format!(r#"{{"trace":"t{i:08x}"}}"#)).collect();
    let cols = artifact(&[&trace.iter().map(String::as_str).collect::<Vec<_>>()]);
    let t = cols.block(0).unwrap().field("trace").unwrap();
    assert!(!t.stored && t.values.as_ref().unwrap().may_contain("t000000c7"));
}

#[test]
fn value_sets_follow_the_policy() {
    let msgs: Vec<String> = (0..100).map(|i| format!(r#"{{"s":"v{i}"}}"#)).collect();
    let block = |policy| {
        let mut w = format::Writer::new(policy);
        w.block(msgs.len(), columns_of(msgs.iter().map(String::as_str))).unwrap();
        SegmentColumns::open(w.finish().into()).unwrap().block(0).unwrap().field("s").cloned()
    };
    assert!(block(ValueSetPolicy::NONE).unwrap().values.is_none());
    let capped = ValueSetPolicy { exact_max: 10, bloom_bits: 10, bloom_max: 99 };
    assert!(block(capped).unwrap().values.is_none());
    let exact = ValueSetPolicy { exact_max: 100, bloom_bits: 0, bloom_max: 0 };
    assert_eq!(block(exact).unwrap().values.unwrap().encoded_len(), 2 + 100 * 8);
}

/// A version 1 artifact (`testdata/v1.columns`, written by that version's writer for six
/// events `{"level": INFO|ERROR, "status": 200..205}` in one block) is reported as
/// outdated, never read.
#[test]
fn an_artifact_of_version_1_is_outdated() {
    let v1 = include_bytes!("../testdata/v1.columns");
    assert!(matches!(SegmentColumns::open(v1.to_vec().into()), Err(ColumnsError::Outdated(1))));
    // A version this build does not know is damage.
    let mut future = v1.to_vec();
    let at = future.len() - 12;
    future[at..at + 4].copy_from_slice(&9u32.to_le_bytes());
    assert!(matches!(SegmentColumns::open(future.into()), Err(ColumnsError::Corrupt(_))));
}
