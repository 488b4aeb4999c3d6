//! A damaged or tampered data directory through the real binary and server: refused with a
//! clear message, repaired, verified, and damaged data answered as corruption.

use logsight_proto::v1 as pb;
use tonic::Code;

use crate::support::{TestServer, create, logsight, logsight_ok, now_ms};

fn segments(data: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(data.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

fn flip(path: &std::path::Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_lost_catalog_is_refused_then_repaired_and_verify_finds_a_damaged_block() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_string_lossy().into_owned();
    let input: String = (0..50).map(|i| format!("line {i} of the app log\n")).collect();
    logsight_ok(&["import", "--data-dir", &d, "--group", "app", "-"], input.as_bytes());
    let clean = logsight(&["verify", "--data-dir", &d], b"");
    assert_eq!(clean.status.code(), Some(0), "{}", String::from_utf8_lossy(&clean.stdout));
    assert!(String::from_utf8_lossy(&clean.stdout).contains("no damage"));

    std::fs::remove_file(data.join("catalog.json")).unwrap();
    let out = logsight(&["export", "--data-dir", &d, "--group", "app"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no catalog.json") && err.contains("logsight repair"), "{err}");
    assert!(err.contains(".seg"), "the message names the files: {err}");
    let out = logsight_ok(&["repair", "--data-dir", &d], b"");
    assert!(out.contains("1 groups"), "{out}");
    let export = logsight_ok(&["export", "--data-dir", &d, "--group", "app"], b"");
    assert_eq!(export.lines().count(), 50);

    let seg = segments(&data).remove(0);
    flip(&seg, 12); // inside the first block
    let out = logsight(&["verify", "--data-dir", &d], b"");
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("block checksum mismatch") && stdout.contains("1 problems"),
        "{stdout}"
    );
    let inspect = logsight_ok(&["inspect", "--data-dir", &d, "--output", "json"], b"");
    let doc: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let damaged = doc["damaged_blocks"].as_array().unwrap();
    assert_eq!(damaged.len(), 1, "{doc}");
    assert!(damaged[0].as_str().unwrap().contains("block checksum mismatch"));
}

#[test]
fn reading_through_a_damaged_block_is_a_data_corruption_error() {
    let mut server = TestServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let now = now_ms();
    rt.block_on(async {
        let mut c = server.client().await;
        create(&mut c, "g", &["s"]).await;
        let events =
            (0..20).map(|i| pb::InputLogEvent { timestamp: now + i, message: format!("e{i}") });
        c.put_log_events(pb::PutLogEventsRequest {
            log_group_name: "g".into(),
            log_stream_name: "s".into(),
            log_events: events.collect(),
            sequence_token: None,
        })
        .await
        .unwrap();
    });
    server.shutdown();
    flip(&segments(server.dir.path())[0], 12);
    server.restart();
    rt.block_on(async {
        let mut c = server.client().await;
        let err = c
            .get_log_events(pb::GetLogEventsRequest {
                log_group_name: "g".into(),
                log_stream_name: "s".into(),
                start_from_head: Some(true),
                ..Default::default()
            })
            .await
            .expect_err("a damaged block is never answered as a short page");
        assert_eq!(err.code(), Code::DataLoss, "{}", err.message());
        assert!(err.message().starts_with("DataCorruptionException: "), "{}", err.message());
    });
}
