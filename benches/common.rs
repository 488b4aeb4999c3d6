//! Data shared by the benchmarks: real Loghub lines.

#![allow(dead_code)]

use std::path::PathBuf;

/// The directory of the Loghub samples: `$LOGSIGHT_LOGHUB`, else the first
/// `shared/datasets/loghub` above the workspace.
pub fn loghub_dir() -> PathBuf {
    std::env::var_os("LOGSIGHT_LOGHUB")
        .map(PathBuf::from)
        .or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|a| a.join("shared/datasets/loghub"))
                .find(|d| d.is_dir())
        })
        .expect("Loghub samples: set LOGSIGHT_LOGHUB or keep shared/datasets/loghub beside the repository")
}

/// The 16 sample files, sorted by name.
pub fn loghub_files() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(loghub_dir())
        .expect("readable Loghub directory")
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.to_string_lossy().ends_with("_2k.log"))
        .collect();
    files.sort();
    files
}

/// Every line of the 16 Loghub samples, in file order (about 32,000 lines of ~140 bytes).
pub fn loghub_lines() -> Vec<String> {
    loghub_files()
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("readable sample")
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Peak resident memory of this process (VmHWM), in bytes, where Linux reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `m` with every ASCII digit shifted by `by` (mod 10): copies of a sample that repeat none of
/// each other's numbers, so benchmarks do not measure data that repeats verbatim.
pub fn rotate_digits(m: &str, by: u32) -> String {
    m.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_digit((d + by) % 10, 10).unwrap_or(c),
            None => c,
        })
        .collect()
}

/// CPU time (user and system) this process has used, in seconds, where Linux reports it
/// (`/proc/self/stat`, in clock ticks of 10 ms): throughput per CPU-second is throughput per
/// core, which holds up better than wall time on a machine shared with other work.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after it are space-separated.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// `n` generated request logs (method, path, status, latency, bytes, user, request id) whose
/// values come from a fixed xorshift, so they do not repeat in a pattern zstd could fold.
pub fn json_messages(n: usize) -> Vec<String> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let methods = ["GET", "POST", "PUT", "DELETE"];
    (0..n)
        .map(|_| {
            format!(
                r#"{{"method":"{}","path":"/api/users/{}","status":{},"latency_ms":{},"bytes":{},"user":{{"id":{},"region":"r{}"}},"request_id":"{:016x}"}}"#,
                methods[next(4) as usize],
                next(100_000),
                [200, 201, 404, 500][next(4) as usize],
                next(2_000),
                next(100_000),
                next(1_000_000),
                next(8),
                next(u64::MAX)
            )
        })
        .collect()
}
