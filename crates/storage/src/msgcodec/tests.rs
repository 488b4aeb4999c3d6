//! Round trips, robustness against corrupt input, and the Loghub samples.

use std::path::PathBuf;

use proptest::prelude::*;

use super::*;

fn encoded<S: AsRef<[u8]>>(messages: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(messages, &mut out);
    out
}

/// Encodes, decodes (into a buffer that already held another block) and compares.
fn round_trip<S: AsRef<[u8]>>(messages: &[S]) -> Vec<u8> {
    let buf = encoded(messages);
    let raw_bytes = messages.iter().map(|m| m.as_ref().len()).sum();
    let mut out = Messages::default();
    decode(&encoded(&["stale 123 message", "x"]), 2, 18, &mut out).expect("warm-up block");
    decode(&buf, messages.len(), raw_bytes, &mut out).expect("decodes");
    assert_eq!(out.len(), messages.len());
    assert!(out.iter().eq(messages.iter().map(|m| m.as_ref())));
    assert_eq!(out.total_bytes(), raw_bytes);
    // Blocks written in the first template format must stay readable.
    if let Some(payload) =
        template::build::<false, S>(messages, raw_bytes).filter(|_| !messages.is_empty())
    {
        let mut v1 = vec![TEMPLATE_V1];
        compress_into(&payload, 1, &mut v1);
        decode(&v1, messages.len(), raw_bytes, &mut out).expect("v1 decodes");
        assert!(out.iter().eq(messages.iter().map(|m| m.as_ref())));
    }
    buf
}

#[test]
fn edge_cases_round_trip() {
    round_trip::<&str>(&[]);
    round_trip(&[""]);
    round_trip(&["", "", ""]);
    round_trip(&["0", "00", "007", "0.000", "-1", "1e10"]);
    round_trip(&["9999999999999999999", "18446744073709551615", "99999999999999999999999"]);
    round_trip(&["blk_-1608999687919862906 x", "blk_7 y", "R02-M1-N0-C:J12-U11"]);
    round_trip(&["a\nb", "c\r\nd", "tab\there"]);
    round_trip(&["\u{0}\u{1}\u{2}\u{3}\u{4} 1\u{1}2\u{3}", "\u{3}"]);
    round_trip(&["héllo wörld 42 ß1 日本語123 😀7"]);
    round_trip(&["same 1 2 3"; 50]);
    let long = "word 1234 ".repeat(100_000);
    round_trip(&[long.as_str(), "short 5"]);
}

#[test]
fn variants_are_chosen() {
    assert_eq!(encoded::<&str>(&[])[0], EMPTY);
    assert_eq!(encoded(&["GET /index 200 12ms"; 10])[0], TEMPLATE);
}

#[test]
fn plain_variants_decode() {
    for messages in [vec!["a", "bb", ""], vec!["multi\nline", "x"]] {
        let raw_bytes = messages.iter().map(|m| m.len()).sum();
        let mut buf = Vec::new();
        encode_plain(&messages, raw_bytes, &mut buf);
        let mut out = Messages::default();
        decode(&buf, messages.len(), raw_bytes, &mut out).expect("decodes");
        assert!(out.iter().eq(messages.iter().map(|m| m.as_bytes())));
    }
}

#[test]
fn wrong_directory_counts_are_errors() {
    let messages = ["a 1", "b 2"];
    let buf = encoded(&messages);
    let mut out = Messages::default();
    assert!(decode(&buf, 3, 6, &mut out).is_err());
    assert!(decode(&buf, 2, 7, &mut out).is_err());
    assert!(decode(&buf, 2, 5, &mut out).is_err());
    assert!(decode(&buf, 0, 0, &mut out).is_err());
    assert!(out.is_empty() && out.total_bytes() == 0);
    assert!(decode(&[], 0, 0, &mut out).is_err());
    assert!(decode(&[EMPTY], 0, 0, &mut out).is_ok());
    assert!(decode(&[99, 1, 2], 1, 1, &mut out).is_err());
}

/// Decoding must not panic; if it succeeds, the directory's counts hold.
fn check_decode(buf: &[u8], count: usize, raw_bytes: usize) {
    let mut out = Messages::default();
    if decode(buf, count, raw_bytes, &mut out).is_ok() {
        assert_eq!(out.len(), count);
        assert_eq!(out.total_bytes(), raw_bytes);
    } else {
        assert!(out.is_empty());
    }
}

/// Log-like messages: words, numbers with and without leading zeros, hex, punctuation,
/// unicode, control characters, occasionally long.
fn message() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-z]{1,8}",
        4 => "[0-9]{1,22}",
        2 => "0[0-9]{0,5}",
        2 => "[0-9a-f]{4,32}",
        2 => "[ .:,=/\\-\\[\\]]{1,3}",
        1 => "\\PC{1,5}",
        1 => "[\\x00-\\x1f]{1,3}",
        1 => "x{1000,5000}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn log_like_messages_round_trip(messages in prop::collection::vec(message(), 0..60)) {
        round_trip(&messages);
    }

    #[test]
    fn any_utf8_round_trips(messages in prop::collection::vec(any::<String>(), 0..30)) {
        round_trip(&messages);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        buf in prop::collection::vec(any::<u8>(), 0..300),
        count in 0usize..50,
        raw_bytes in 0usize..2000,
    ) {
        check_decode(&buf, count, raw_bytes);
        // Also behind a valid variant byte and a valid zstd frame header.
        let mut framed = vec![TEMPLATE];
        framed.extend(zstd::bulk::compress(&buf, 1).unwrap_or_default());
        check_decode(&framed, count, raw_bytes);
    }

    #[test]
    fn corrupt_encodings_never_panic(
        messages in prop::collection::vec(message(), 1..30),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let buf = encoded(&messages);
        let count = messages.len();
        let raw_bytes = messages.iter().map(|m| m.len()).sum();
        check_decode(&buf[..cut.index(buf.len())], count, raw_bytes);
        let mut flipped = buf.clone();
        for (at, bit) in &flips {
            flipped[at.index(buf.len())] ^= 1 << bit;
        }
        check_decode(&flipped, count, raw_bytes);
    }

    #[test]
    fn corrupt_payloads_never_panic(
        messages in prop::collection::vec(message(), 1..30),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
        v1 in any::<bool>(),
    ) {
        // Flip bits in the template payload before compressing, to reach the template
        // decoder with a valid zstd frame.
        let raw_bytes: usize = messages.iter().map(|m| m.len()).sum();
        let (variant, payload) = if v1 {
            (TEMPLATE_V1, template::build::<false, _>(&messages, raw_bytes))
        } else {
            (TEMPLATE, template::build::<true, _>(&messages, raw_bytes))
        };
        if let Some(mut payload) = payload {
            for (at, bit) in &flips {
                let i = at.index(payload.len());
                payload[i] ^= 1 << bit;
            }
            let mut buf = vec![variant];
            compress_into(&payload, 1, &mut buf);
            check_decode(&buf, messages.len(), raw_bytes);
        }
    }
}

/// The Loghub 2k sample files, sorted: in `$LOGSIGHT_LOGHUB`, else the first
/// `shared/datasets/loghub` found walking up from this crate (the worktree layouts differ in
/// depth). `None` when there is no such directory.
fn loghub_files() -> Option<Vec<PathBuf>> {
    let dir = match std::env::var_os("LOGSIGHT_LOGHUB") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|a| a.join("shared/datasets/loghub"))
            .find(|d| d.is_dir())?,
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("loghub dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("_2k.log"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *_2k.log in {}", dir.display());
    Some(files)
}

#[test]
fn loghub_samples_round_trip() {
    let Some(files) = loghub_files() else {
        eprintln!("skipping: no shared/datasets/loghub above the crate; set LOGSIGHT_LOGHUB");
        return;
    };
    for path in files {
        let text = std::fs::read_to_string(&path).expect("utf-8 sample");
        let lines: Vec<&str> = text.lines().collect();
        let buf = round_trip(&lines);
        assert_eq!(buf[0], TEMPLATE, "{}", path.display());
        let zstd3 = zstd::bulk::compress(text.as_bytes(), 3).expect("zstd").len();
        assert!(buf.len() < zstd3, "{}: {} >= zstd-3 {zstd3}", path.display(), buf.len());
    }
}

/// Ratio per sample at several block sizes, next to zstd -3 of the whole file:
/// `cargo test -p logsight-storage --release -- --ignored --nocapture loghub_report`.
#[test]
#[ignore = "report, not a check"]
fn loghub_report() {
    let Some(files) = loghub_files() else {
        eprintln!("skipping: no Loghub samples");
        return;
    };
    // Ratios divide file bytes (newlines included) by encoded bytes plus 100 per block.
    let targets = [64 << 10, 256 << 10, usize::MAX];
    println!(
        "{:<12} {:>8} {:>7} {:>7} {:>7} {:>7}",
        "sample", "bytes", "zstd-3", "64K", "256K", "file"
    );
    let mut logs = [0.0f64; 4];
    for path in &files {
        let text = std::fs::read_to_string(path).expect("utf-8 sample");
        let lines: Vec<&str> = text.lines().collect();
        let zstd3 = zstd::bulk::compress(text.as_bytes(), 3).expect("zstd").len();
        let mut ratios = vec![text.len() as f64 / zstd3 as f64];
        for &target in &targets {
            let (mut total, mut start, mut size) = (0, 0, 0);
            for (i, l) in lines.iter().enumerate() {
                size += l.len();
                if size >= target || i + 1 == lines.len() {
                    total += encoded(&lines[start..=i]).len() + 100;
                    (start, size) = (i + 1, 0);
                }
            }
            ratios.push(text.len() as f64 / total as f64);
        }
        for (log, r) in logs.iter_mut().zip(&ratios) {
            *log += r.ln();
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let name = name.trim_end_matches("_2k.log");
        print!("{name:<12} {:>8}", text.len());
        ratios.iter().for_each(|r| print!(" {r:>6.1}x"));
        println!();
    }
    print!("{:<12} {:>8}", "geomean", "");
    logs.iter().for_each(|l| print!(" {:>6.1}x", (l / files.len() as f64).exp()));
    println!();
}

/// Whether `message` is an instance of `t`: text pieces verbatim, a number slot a run of
/// digits, a variable slot a run of word bytes holding a digit.
fn instance_of(t: Template<'_>, message: &[u8]) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
    let mut rest = message;
    for piece in t.pieces() {
        match piece {
            Piece::Text(text) => match rest.strip_prefix(text) {
                Some(r) => rest = r,
                None => return false,
            },
            Piece::Number | Piece::Variable => {
                let digits = piece == Piece::Number;
                let n = rest
                    .iter()
                    .take_while(|&&b| if digits { b.is_ascii_digit() } else { word(b) })
                    .count();
                if n == 0 || (!digits && !rest[..n].iter().any(u8::is_ascii_digit)) {
                    return false;
                }
                rest = &rest[n..];
            }
        }
    }
    rest.is_empty()
}

/// The templates of `messages` read from their encoding, after a full decode, and built
/// from the text: all three agree, and every message is an instance of its template.
fn check_templates<S: AsRef<[u8]>>(messages: &[S]) -> Templates {
    let buf = encoded(messages);
    let raw_bytes = messages.iter().map(|m| m.as_ref().len()).sum();
    let mut scratch = Messages::default();
    let mut read = Templates::default();
    decode_templates(&buf, messages.len(), raw_bytes, &mut scratch, &mut read).expect("reads");
    assert!(scratch.is_empty(), "no messages written");
    let mut built = Templates::default();
    Templates::build(messages, &mut built);
    let mut after = Templates::default();
    decode(&buf, messages.len(), raw_bytes, &mut scratch).expect("decodes");
    Templates::from_decoded(&scratch, &mut after).expect("from the payload");
    for other in [&built, &after] {
        assert_eq!(read.ids(), other.ids());
        assert!((0..read.len()).all(|t| read.get(t) == other.get(t)));
    }
    assert_eq!(read.ids().len(), messages.len());
    for (m, &t) in messages.iter().zip(read.ids()) {
        let t = read.get(t as usize);
        assert!(instance_of(t, m.as_ref()), "{:?} of {:?}", t, String::from_utf8_lossy(m.as_ref()));
    }
    read
}

#[test]
fn templates_are_read_without_the_messages() {
    let t = check_templates(&[
        "Failed password for root from 1.2.3.4 port 22 ssh2",
        "Failed password for root from 1.2.3.5 port 23 ssh2",
        "Invalid user admin from 10.0.0.1",
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t.ids(), [0, 0, 1]);
    // Constant columns are folded into the text: the first octets, `ssh2`; the last octet
    // and the port vary.
    let pieces: Vec<Piece<'_>> = t.get(0).pieces().collect();
    assert_eq!(
        pieces,
        [
            Piece::Text(b"Failed password for root from 1.2.3."),
            Piece::Number,
            Piece::Text(b" port "),
            Piece::Number,
            Piece::Text(b" ssh2"),
        ]
    );
    // A single message has every variable folded.
    assert_eq!(
        t.get(1).pieces().collect::<Vec<_>>(),
        [Piece::Text(b"Invalid user admin from 10.0.0.1")]
    );
    // Escaped marker bytes come back as text; string variables as such.
    let t = check_templates(&["\u{1} id=1a2b", "\u{1} id=3c4d"]);
    assert_eq!(
        t.get(0).pieces().collect::<Vec<_>>(),
        [Piece::Text(b"\x01"), Piece::Text(b" id="), Piece::Variable]
    );
    check_templates::<&str>(&[]);
}

#[test]
fn templates_of_plain_blocks_are_built_from_their_messages() {
    let messages = ["multi\nline 1", "multi\nline 2"];
    let raw_bytes = messages.iter().map(|m| m.len()).sum();
    let mut buf = Vec::new();
    encode_plain(&messages, raw_bytes, &mut buf);
    let (mut scratch, mut t) = (Messages::default(), Templates::default());
    decode_templates(&buf, 2, raw_bytes, &mut scratch, &mut t).expect("reads");
    assert_eq!(t.ids(), [0, 0]);
    assert_eq!(
        t.get(0).pieces().collect::<Vec<_>>(),
        [Piece::Text(b"multi\nline "), Piece::Number]
    );
}

#[test]
fn loghub_templates_agree() {
    let Some(files) = loghub_files() else {
        eprintln!("skipping: no Loghub samples");
        return;
    };
    for path in files {
        let text = std::fs::read_to_string(&path).expect("utf-8 sample");
        let lines: Vec<&str> = text.lines().collect();
        for chunk in lines.chunks(300) {
            check_templates(chunk);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn templates_agree_on_log_like_messages(messages in prop::collection::vec(message(), 0..40)) {
        check_templates(&messages);
    }

    #[test]
    fn corrupt_templates_never_panic(
        messages in prop::collection::vec(message(), 1..30),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
    ) {
        let raw_bytes: usize = messages.iter().map(|m| m.len()).sum();
        if let Some(mut payload) = template::build::<true, _>(&messages, raw_bytes) {
            for (at, bit) in &flips {
                let i = at.index(payload.len());
                payload[i] ^= 1 << bit;
            }
            let mut buf = vec![TEMPLATE];
            compress_into(&payload, 1, &mut buf);
            let (mut scratch, mut t) = (Messages::default(), Templates::default());
            if decode_templates(&buf, messages.len(), raw_bytes, &mut scratch, &mut t).is_ok() {
                prop_assert_eq!(t.ids().len(), messages.len());
                for &id in t.ids() {
                    prop_assert!((id as usize) < t.len());
                    let _ = t.get(id as usize).pieces().count();
                }
            } else {
                prop_assert!(t.is_empty() && t.ids().is_empty());
            }
        }
    }
}

/// Decodes `messages` screened by `keep` and checks that exactly the messages of rejected
/// templates are skipped and every other message is whole, then that the buffer still
/// decodes whole afterwards.
fn check_screened<S: AsRef<[u8]>>(messages: &[S], keep: &dyn Fn(&[u8]) -> bool) {
    let buf = encoded(messages);
    let raw_bytes = messages.iter().map(|m| m.as_ref().len()).sum();
    let mut out = Messages::default();
    let mut asked = Vec::new();
    decode_screened(&buf, messages.len(), raw_bytes, &mut out, &mut |t| {
        asked.push(t.key().to_vec());
        keep(t.key())
    })
    .expect("decodes");
    assert_eq!(out.len(), messages.len());
    let mut templates = Templates::default();
    Templates::from_decoded(&out, &mut templates).expect("templates");
    if buf[0] == TEMPLATE {
        let all: Vec<Vec<u8>> =
            (0..templates.len()).map(|t| templates.get(t).key().to_vec()).collect();
        assert_eq!(asked, all, "asked once per template, in index order");
    } else {
        assert!(asked.is_empty(), "a plain variant is decoded whole");
    }
    for (i, m) in messages.iter().enumerate() {
        let t = templates.get(templates.ids()[i] as usize);
        let skipped = buf[0] == TEMPLATE && !keep(t.key());
        assert_eq!(out.is_skipped(i), skipped, "message {i}");
        if !skipped {
            assert_eq!(out.get_bytes(i), m.as_ref(), "message {i}");
        }
    }
    decode(&buf, messages.len(), raw_bytes, &mut out).expect("whole decode after");
    assert!(out.iter().eq(messages.iter().map(|m| m.as_ref())));
    assert!((0..messages.len()).all(|i| !out.is_skipped(i)));
}

#[test]
fn screened_decode_edge_cases() {
    let msgs = ["GET /a 200 12ms", "POST /b 500 7ms", "GET /c 200 1ms", "x 1", "", "y"];
    check_screened(&msgs, &|_| true);
    check_screened(&msgs, &|_| false);
    check_screened(&msgs, &|t| t.starts_with(b"GET"));
    check_screened(&["a\nb 1", "plain"], &|_| false);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn screened_decode_skips_exactly_the_rejected_templates(
        messages in prop::collection::vec(message(), 0..40),
        salt in any::<u64>(),
    ) {
        // A fixed pseudo-random choice per template.
        let keep = |t: &[u8]| {
            t.iter().fold(salt, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)) % 3 != 0
        };
        check_screened(&messages, &keep);
    }
}
