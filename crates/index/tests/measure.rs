//! Filter sizes and token-policy costs on the compression test's fleet shape (16 Loghub
//! samples, 100 streams each, 10 seals, compacted; one event carries a rare token and a
//! 32-hex identifier): prints the table the crate doc quotes, and checks that every
//! configuration finds the planted event. Slow-ish: `cargo test -p logsight-index --test
//! measure -- --ignored --nocapture`.

use std::time::Instant;

use logsight_index::{BuildOptions, Requirement, SegmentIndex, TokenPolicy, segment_index};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};

fn loghub() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/datasets/loghub"))
        .find(|p| p.is_dir())
        .expect("Loghub samples")
}

#[test]
#[ignore = "a measurement: run by hand"]
fn filter_sizes_on_the_fleet_shape() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Store::open(dir.path(), opts).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(loghub())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("_2k.log"))
        .collect();
    files.sort();
    let streams = 100;
    let mut raw = 0u64;
    let mut samples = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().replace("_2k.log", "");
        let g = LogGroupName::new(name.as_str()).unwrap();
        store.create_group(&g).unwrap();
        for s in 0..streams {
            store
                .create_stream(&g, &LogStreamName::new(format!("i-{s:04}").as_str()).unwrap())
                .unwrap();
        }
        samples.push((name, std::fs::read_to_string(f).unwrap()));
    }
    for round in 0..10 {
        for (name, text) in &samples {
            let mut by: Vec<Vec<LogEvent>> = vec![Vec::new(); streams];
            for (i, l) in text.lines().enumerate().skip(round * 200).take(200) {
                let planted;
                let l = if name == "OpenSSH" && i == 1234 {
                    planted = format!("{l} {PLANTED}");
                    planted.as_str()
                } else {
                    l
                };
                raw += l.len() as u64;
                let ts = 1_700_000_000_000 + i as i64 * 100;
                by[i % streams].push(LogEvent::new(ts, ts, l).unwrap());
            }
            for (s, ev) in by.iter().enumerate().filter(|(_, e)| !e.is_empty()) {
                store.append(name, &format!("i-{s:04}"), ev).unwrap();
            }
        }
        store.flush().unwrap();
    }
    store.compact_all(|_| ()).unwrap();
    let segs = store.segments();
    let seg_bytes: u64 = segs.iter().map(|s| s.bytes).sum();
    let blocks: u64 = segs.iter().map(|s| s.blocks).sum();
    eprintln!(
        "{} segments, {blocks} blocks, {raw} message bytes, {seg_bytes} stored ({:.2}x)",
        segs.len(),
        raw as f64 / seg_bytes as f64
    );
    let queries: [(&str, &[u8]); 3] = [
        ("Failed password for", b"Failed password for"),
        ("exact rare token", b" zq81x "),
        ("32-hex infix", b"9afb2e53f18d12ab9b4a1c3d13e3c24e"),
    ];
    eprintln!(
        "| short bits/key | long bits/key | numbers | index bytes | of segment bytes | ratio with index | build ms | {} |",
        queries.map(|(q, _)| format!("`{q}`: blocks, µs")).join(" | ")
    );
    let mut sizes = Vec::new();
    for (short_bits, long_bits, numbers) in [
        (2, 8, false),
        (3, 8, false),
        (4, 10, false),
        (6, 10, false),
        (4, 10, true),
        (10, 10, false),
    ] {
        let opts = BuildOptions { policy: TokenPolicy { numbers }, short_bits, long_bits };
        let (mut bytes, mut build) = (0u64, 0f64);
        let mut looks = vec![(0usize, 0f64); queries.len()];
        for s in &segs {
            let seg = store.segment(s.id).unwrap();
            let t = Instant::now();
            let a = segment_index::build(&seg, opts).unwrap();
            build += t.elapsed().as_secs_f64();
            bytes += a.len() as u64;
            let ix = SegmentIndex::open(&a).unwrap();
            for ((_, q), (blocks, secs)) in queries.iter().zip(looks.iter_mut()) {
                let req = Requirement::substring(q);
                let t = Instant::now();
                for _ in 0..100 {
                    ix.candidates(&req).unwrap();
                }
                *secs += t.elapsed().as_secs_f64() / 100.0;
                *blocks += ix.candidates(&req).unwrap().count();
            }
        }
        let looks: Vec<String> =
            looks.iter().map(|(b, s)| format!("{b} of {blocks}, {:.1}", s * 1e6)).collect();
        eprintln!(
            "| {short_bits} | {long_bits} | {numbers} | {bytes} | {:.1}% | {:.2}x | {:.0} | {} |",
            bytes as f64 * 100.0 / seg_bytes as f64,
            raw as f64 / (seg_bytes + bytes) as f64,
            build * 1e3,
            looks.join(" | ")
        );
        // The planted event's block is always a candidate.
        assert!(looks.iter().skip(1).all(|l| !l.starts_with("0 ")), "{looks:?}");
        sizes.push(bytes);
    }
    assert!(sizes[0] < sizes[2] && sizes[2] < sizes[3], "{sizes:?}");
}

const PLANTED: &str = "session zq81x trace 9afb2e53f18d12ab9b4a1c3d13e3c24e";
