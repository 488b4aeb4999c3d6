//! Parsing a Logs Insights query as long as CloudWatch allows (10,000 characters).
//!
//! Run: `cargo bench -p logsight --bench parse_query`. Target: under 1 ms per parse.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use logsight_query_lang::insights::{self, MAX_QUERY_CHARS};

/// A realistic query of just under 10,000 characters: a parse, many filters and computed
/// fields of the kinds dashboards generate, then aggregation, sort and limit.
fn long_query() -> String {
    let head = "fields @timestamp, @message, @logStream, @log # raw events\n\
        | parse @message \"[*] * request=* status=* latency=*ms\" as level, service, request, status, latency\n";
    let tail = "| stats count(*) as requests, avg(latency) as mean, pct(latency, 99) as p99, \
        count_distinct(request) as uniques by bin(5m) as t, service\n\
        | sort requests desc, t asc\n| limit 100";
    let mut query = head.to_string();
    for n in 0.. {
        let section = format!(
            "| filter (status >= {lo} and status < {hi} or level = \"ERROR\") and @message not like /(?i)healthcheck-{n}/ \
             and service in [\"api\", \"auth-{n}\", 'billing'] and not ispresent(`debug-{n}`)\n\
             | fields toMillis(@timestamp) - queryStartTime() as age{n}, concat(service, \":\", request) as key{n}, \
             jsonParse(body).items[{n}].id as item{n}, if(latency > {lo} * 1.5, \"slow\", \"ok\") as speed{n}\n",
            lo = 100 + n,
            hi = 600 + n,
        );
        if query.len() + section.len() + tail.len() > MAX_QUERY_CHARS {
            break;
        }
        query.push_str(&section);
    }
    query.push_str(tail);
    query
}

fn bench_parse(c: &mut Criterion) {
    let query = long_query();
    assert!(query.chars().count() <= MAX_QUERY_CHARS);
    assert!(query.chars().count() > MAX_QUERY_CHARS - 500, "query is {} chars", query.len());
    if let Err(e) = insights::parse(&query) {
        panic!("benchmark query is malformed:\n{}", e.render(&query));
    }
    let mut group = c.benchmark_group("logsight_query_lang::insights::parse");
    group.bench_function("10k_chars", |b| b.iter(|| insights::parse(black_box(&query))));
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
