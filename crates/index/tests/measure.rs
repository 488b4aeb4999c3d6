//! Granularity and token-policy costs on the compression test's fleet shape (16 Loghub
//! samples, 100 streams each, 10 seals, compacted): prints the table the crate doc quotes, and
//! checks the ordering the decision rests on. Slow-ish: `cargo test -p logsight-index --test
//! measure -- --ignored --nocapture`.

use std::time::Instant;

use logsight_index::{
    BuildOptions, Granularity, Requirement, SegmentIndex, TokenPolicy, segment_index,
};
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
fn block_documents_cost_less_than_event_documents() {
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
    eprintln!(
        "| document per | numbers | index bytes | of segment bytes | ratio with index | build ms | lookup µs (`like \"Failed password for\"`) |"
    );
    let mut sizes = Vec::new();
    for granularity in [Granularity::Block, Granularity::Event] {
        for numbers in [false, true] {
            let opts = BuildOptions { granularity, policy: TokenPolicy { numbers } };
            let (mut bytes, mut build, mut look) = (0u64, 0f64, 0f64);
            for s in &segs {
                let seg = store.segment(s.id).unwrap();
                let t = Instant::now();
                let a = segment_index::build(&seg, opts).unwrap();
                build += t.elapsed().as_secs_f64();
                bytes += a.len() as u64;
                let ix = SegmentIndex::open(&a).unwrap();
                let t = Instant::now();
                for _ in 0..100 {
                    ix.candidates(&Requirement::substring(b"Failed password for")).unwrap();
                }
                look += t.elapsed().as_secs_f64() / 100.0;
            }
            eprintln!(
                "| {granularity:?} | {numbers} | {bytes} | {:.1}% | {:.2}x | {:.0} | {:.0} |",
                bytes as f64 * 100.0 / seg_bytes as f64,
                raw as f64 / (seg_bytes + bytes) as f64,
                build * 1e3,
                look * 1e6
            );
            sizes.push(bytes);
        }
    }
    assert!(sizes[0] < sizes[2] && sizes[1] < sizes[3], "{sizes:?}");
    assert!(sizes[0] < sizes[1], "{sizes:?}");
}
