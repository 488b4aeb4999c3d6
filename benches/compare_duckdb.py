#!/usr/bin/env python3
"""logsight against DuckDB on the same data, in one run (issue 11 §3).

The data set: N events (default 4,000,000) over 24 hours of 2024-05-01, half JSON request logs
in one group (`app`, 100 streams), half Loghub lines in 16 groups (one per sample, 8 streams
each) with their digits scrambled per copy, so no line repeats. Both systems get the same
events: logsight through `logsight import` (then `logsight compact` and, when the build has
it, `logsight reindex`), queried through a running `logsight serve` with the `logsight query`
client, a whole process per query as a user runs it; DuckDB as a native table with the JSON
fields pre-extracted into typed columns (its best case), queried in-process.

Each query runs once to warm up, then 5 times; the table gives the medians and the ratio
logsight / DuckDB (below 1: logsight is faster). Both answers are compared, so a fast wrong
answer shows as a mismatch.

The warm-up fills the server's cache of decoded blocks (as a person rerunning queries over one
range does); `--block-cache-mib 0` measures every run from the mapped files instead.

    pip install duckdb
    cargo build --release --bin logsight
    python3 benches/compare_duckdb.py [--events 4000000] [--work DIR] [--keep] [--reuse] [--block-cache-mib N]
"""

import argparse
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_MS = 1714521600000  # 2024-05-01T00:00:00Z
DAY_MS = 86_400_000
JSON_STREAMS = 100
TEXT_STREAMS = 8


def loghub_dir():
    env = os.environ.get("LOGSIGHT_LOGHUB")
    if env:
        return env
    d = ROOT
    while d != os.path.dirname(d):
        cand = os.path.join(d, "shared", "datasets", "loghub")
        if os.path.isdir(cand):
            return cand
        d = os.path.dirname(d)
    sys.exit("Loghub samples not found: set LOGSIGHT_LOGHUB")


class XorShift:
    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFFFFFFFFFF or 1

    def next(self, n):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFFFFFFFFFF
        s ^= s >> 7
        s ^= (s << 17) & 0xFFFFFFFFFFFFFFFF
        self.s = s
        return s % n


def scramble(line, key):
    rng = XorShift(key * 0x9E3779B97F4A7C15 | 1)
    return "".join(chr(48 + (ord(c) - 48 + rng.next(10)) % 10) if "0" <= c <= "9" else c for c in line)


METHODS = ["GET", "POST", "PUT", "DELETE"]
PATHS = ["/api/users", "/api/orders", "/api/cart", "/api/search", "/health", "/login"]


def request(rng):
    r = rng.next(100)
    level = "ERROR" if r < 2 else "WARN" if r < 12 else "INFO"
    status = {"ERROR": [500, 502, 503], "WARN": [400, 404, 429]}.get(level)
    status = status[rng.next(3)] if status else [200, 201, 204, 304][rng.next(4)]
    r = rng.next(100)
    latency = 5 + rng.next(120) if r < 90 else 100 + rng.next(900) if r < 99 else 1000 + rng.next(9000)
    method, path = METHODS[rng.next(4)], PATHS[rng.next(6)]
    return (
        '{"level":"%s","method":"%s","path":"%s/%d","status":%d,"latency_ms":%d,"bytes":%d,'
        '"user":{"id":%d,"region":"r%d"},"trace_id":"%016x%016x"}'
        % (level, method, path, rng.next(100000), status, latency, rng.next(100000),
           rng.next(1000000), rng.next(8), rng.next(2**64), rng.next(2**64))
    )


def generate(path, events):
    """Writes the events as logsight jsonl; returns (groups, the needle trace id)."""
    hub = loghub_dir()
    samples = []
    for name in sorted(os.listdir(hub)):
        if name.endswith("_2k.log"):
            with open(os.path.join(hub, name), encoding="utf-8") as f:
                lines = [l for l in f.read().splitlines() if l]
            samples.append((name[: -len("_2k.log")].lower(), lines))
    rng = XorShift(0x2545F4914F6CDD1D)
    needle_at = events // 3 * 2 // 2 * 2  # an even index: a JSON event two thirds in
    needle = None
    text_next = 0
    with open(path, "w", encoding="utf-8") as out:
        for i in range(events):
            ts = START_MS + i * DAY_MS // events
            if i % 2 == 0:
                m = request(rng)
                if i == needle_at:
                    needle = json.loads(m)["trace_id"]
                rec = {"timestamp": ts, "message": m, "group": "app", "stream": "app-%03d" % ((i // 2) % JSON_STREAMS)}
            else:
                g = text_next % len(samples)
                turn = text_next // len(samples)
                name, lines = samples[g]
                copy, line = divmod(turn, len(lines))
                text_next += 1
                m = scramble(lines[line], g * 1_000_003 + copy)
                rec = {"timestamp": ts, "message": m, "group": name, "stream": "%s-%03d" % (name, turn % TEXT_STREAMS)}
            out.write(json.dumps(rec, separators=(",", ":")))
            out.write("\n")
    return ["app"] + [n for n, _ in samples], needle


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def median_time(f, runs=5):
    f()  # warm-up
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def load(bin_, work, data, jsonl):
    """Loads the jsonl into logsight (import, compact, reindex) and into a DuckDB table."""
    shutil.rmtree(data, ignore_errors=True)
    t = time.perf_counter()
    run([bin_, "import", "--data-dir", data, "--format", "jsonl", jsonl])
    run([bin_, "compact", "--data-dir", data])
    has_reindex = subprocess.run([bin_, "reindex", "--help"], capture_output=True).returncode == 0
    if has_reindex:
        run([bin_, "reindex", "--data-dir", data])
    print("logsight: imported, compacted%s in %.1f s" % (", indexed" if has_reindex else "", time.perf_counter() - t))

    import duckdb

    con = duckdb.connect(os.path.join(work, "duck.db"))
    t = time.perf_counter()
    con.execute("DROP TABLE IF EXISTS events")
    con.execute("DROP TABLE IF EXISTS app")
    con.execute(
        """CREATE TABLE events AS
           SELECT "group" AS grp, stream, epoch_ms(timestamp) AS ts, message,
                  CASE WHEN "group" = 'app' THEN message::JSON END AS j
           FROM read_json('%s', format = 'newline_delimited',
                          columns = {timestamp: 'BIGINT', message: 'VARCHAR', "group": 'VARCHAR', stream: 'VARCHAR'})"""
        % jsonl.replace("'", "''")
    )
    con.execute(
        """CREATE TABLE app AS
           SELECT ts, stream, message, j->>'level' AS level, j->>'method' AS method,
                  (j->>'status')::INT AS status, (j->>'latency_ms')::BIGINT AS latency_ms,
                  (j->>'bytes')::BIGINT AS bytes, j->>'trace_id' AS trace_id
           FROM events WHERE grp = 'app'"""
    )
    con.execute("ALTER TABLE events DROP COLUMN j")
    con.execute("CHECKPOINT")
    print("duckdb: loaded in %.1f s" % (time.perf_counter() - t))
    con.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=4_000_000)
    ap.add_argument("--work", help="work directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--reuse", action="store_true",
                    help="with --work: reuse the data a previous --keep run left there instead of rebuilding it")
    ap.add_argument("--logsight", default=os.path.join(ROOT, "target", "release", "logsight"))
    ap.add_argument("--block-cache-mib", type=int,
                    help="the server's cache of decoded blocks (default: the server's, 256; 0 turns it off)")
    args = ap.parse_args()
    try:
        import duckdb
    except ImportError:
        sys.exit("DuckDB is not installed: pip install duckdb")
    if not os.path.exists(args.logsight):
        sys.exit("no %s: cargo build --release --bin logsight" % args.logsight)
    work = args.work or tempfile.mkdtemp(prefix="logsight-vs-duckdb-")
    os.makedirs(work, exist_ok=True)
    data, jsonl = os.path.join(work, "logsight-data"), os.path.join(work, "events.jsonl")
    bin_ = args.logsight

    reuse = args.reuse and args.work and all(
        os.path.exists(os.path.join(work, f)) for f in ("events.jsonl", "logsight-data", "duck.db", "params.json"))
    if reuse:
        with open(os.path.join(work, "params.json")) as f:
            params = json.load(f)
        if params["events"] != args.events:
            sys.exit("--reuse: %s holds %d events, not %d" % (work, params["events"], args.events))
        groups, needle = params["groups"], params["needle"]
        print("reusing the data in %s" % work)
    else:
        t = time.perf_counter()
        groups, needle = generate(jsonl, args.events)
        size = os.path.getsize(jsonl)
        print("generated %d events (%d MiB of jsonl) in %.1f s" % (args.events, size >> 20, time.perf_counter() - t))
        load(bin_, work, data, jsonl)
        with open(os.path.join(work, "params.json"), "w") as f:
            json.dump({"events": args.events, "groups": groups, "needle": needle}, f)
    con = duckdb.connect(os.path.join(work, "duck.db"))

    port = free_port()
    env = dict(os.environ)
    if args.block_cache_mib is not None:
        env["LOGSIGHT_SERVE_BLOCK_CACHE_MIB"] = str(args.block_cache_mib)
    server = subprocess.Popen(
        [bin_, "serve", "--data-dir", data, "--listen", "127.0.0.1:%d" % port, "--http-listen", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            server.terminate()
            sys.exit("the server did not start:\n%s" % server.communicate()[1][-2000:])
        # The server builds what `import` left out (the JSON field columns) in the
        # background: time queries only once every segment has all its derived artifacts.
        t = time.perf_counter()
        segdir = os.path.join(data, "segments")
        while True:
            names = set(os.listdir(segdir))
            segs = [n[: -len(".seg")] for n in names if n.endswith(".seg")]
            missing = [s for s in segs if not all(s + ext in names for ext in (".columns", ".index"))]
            if not missing:
                break
            if time.perf_counter() - t > 900:
                sys.exit("derived artifacts still missing after 15 minutes: %s" % missing)
            time.sleep(0.5)
        print("logsight: derived artifacts ready after %.1f s more" % (time.perf_counter() - t))
        endpoint = "http://127.0.0.1:%d" % port
        start = datetime.datetime.fromtimestamp(START_MS / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        end = datetime.datetime.fromtimestamp((START_MS + DAY_MS - 1000) / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        def logsight(q, gs):
            cmd = [bin_, "query", "--endpoint", endpoint, "--start", start, "--end", end, "--output", "json", "--limit", "10000"]
            for g in gs:
                cmd += ["--group", g]
            return json.loads(run(cmd + [q]))

        def duck(sql):
            return con.execute(sql).fetchall()

        regex = r"\d+\.\d+\.\d+\.\d+:\d{4,5}"
        cases = [
            ("count(*) by bin(5m), JSON group",
             "stats count(*) as n by bin(5m)", ["app"],
             "SELECT time_bucket(INTERVAL 5 MINUTE, ts) b, count(*) FROM app GROUP BY b ORDER BY b",
             lambda rows: sorted(int(r["n"]) for r in rows), lambda rows: sorted(r[1] for r in rows)),
            ('filter level = "ERROR", count by bin(5m)',
             'filter level = "ERROR" | stats count(*) as n by bin(5m)', ["app"],
             "SELECT time_bucket(INTERVAL 5 MINUTE, ts) b, count(*) FROM app WHERE level = 'ERROR' GROUP BY b ORDER BY b",
             lambda rows: sorted(int(r["n"]) for r in rows), lambda rows: sorted(r[1] for r in rows)),
            ("needle: one trace id, 17 groups, newest 100",
             'filter @message like "%s" | fields @timestamp, @message | sort @timestamp desc | limit 100' % needle, groups,
             "SELECT ts, message FROM events WHERE contains(message, '%s') ORDER BY ts DESC LIMIT 100" % needle,
             lambda rows: [r["@message"] for r in rows], lambda rows: [r[1] for r in rows]),
            ("regex no index can answer, 17 groups, counted",
             "filter @message like /%s/ | stats count(*) as n" % regex, groups,
             "SELECT count(*) FROM events WHERE regexp_matches(message, '%s')" % regex,
             lambda rows: [int(rows[0]["n"])], lambda rows: [rows[0][0]]),
            ("avg and pct(99) of latency by bin(1m)",
             "stats avg(latency_ms) as a, pct(latency_ms, 99) as p by bin(1m)", ["app"],
             "SELECT time_bucket(INTERVAL 1 MINUTE, ts) b, avg(latency_ms), quantile_disc(latency_ms, 0.99) FROM app GROUP BY b ORDER BY b",
             lambda rows: [round(float(r["a"]), 6) for r in rows], lambda rows: [round(r[1], 6) for r in rows]),
        ]
        print()
        print("| query | logsight (median of 5) | DuckDB (median of 5) | logsight / DuckDB | answers |")
        print("|---|---|---|---|---|")
        for name, q, gs, sql, norm_l, norm_d in cases:
            tl, rl = median_time(lambda: logsight(q, gs))
            td, rd = median_time(lambda: duck(sql))
            same = "same" if norm_l(rl) == norm_d(rd) else "DIFFER"
            print("| %s | %.0f ms | %.0f ms | %.2f | %s |" % (name, tl * 1000, td * 1000, tl / td, same))
    finally:
        server.terminate()
        server.wait()
        con.close()
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
