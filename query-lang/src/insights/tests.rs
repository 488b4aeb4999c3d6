//! Table-driven tests: one line per case, input text -> canonical form, or input text ->
//! error offsets and message.

use super::functions::{FUNCTIONS, FunctionGroup};
use super::*;

/// Parses `input`, checks its canonical form, and checks that the canonical form parses to
/// the same tree and prints the same (it is a fixed point).
#[track_caller]
fn check(input: &str, canonical: &str) {
    let query = match parse(input) {
        Ok(query) => query,
        Err(e) => panic!("failed to parse {input:?}:\n{}", e.render(input)),
    };
    let printed = query.to_string();
    assert_eq!(printed, canonical, "canonical form of {input:?}");
    let reparsed = parse(&printed)
        .unwrap_or_else(|e| panic!("canonical form {printed:?} fails:\n{}", e.render(&printed)));
    assert_eq!(reparsed, query, "tree of {printed:?} differs from the tree of {input:?}");
}

#[track_caller]
fn check_error(input: &str, start: usize, end: usize, message: &str) {
    match parse(input) {
        Ok(query) => panic!("{input:?} parsed as {query}"),
        Err(e) => {
            assert_eq!(
                (e.start, e.end, e.message.as_str()),
                (start, end, message),
                "error for {input:?}:\n{}",
                e.render(input)
            );
        }
    }
}

fn run(cases: &[(&str, &str)]) {
    for (input, canonical) in cases {
        check(input, canonical);
    }
}

#[test]
fn commands() {
    run(&[
        ("fields @timestamp, @message", "fields @timestamp, @message"),
        ("fields a, b + 1 as c, concat(a, b) as d", "fields a, b + 1 as c, concat(a, b) as d"),
        ("display a, @b, c.d", "display a, @b, c.d"),
        ("filter a = 1", "filter a = 1"),
        ("where a = 1", "filter a = 1"),
        ("stats count(*)", "stats count(*)"),
        ("stats count(*) as n, avg(x) by host", "stats count(*) as n, avg(x) by host"),
        ("stats count() by bin(5m) as t, host", "stats count() by bin(5m) as t, host"),
        ("stats count(*) by bin(5m) offset 1h", "stats count(*) by bin(5m) offset 1h"),
        (
            "stats max(@timestamp) as @t | stats count() by dateceil(@t, 5m)",
            "stats max(@timestamp) as @t | stats count() by dateceil(@t, 5m)",
        ),
        ("sort @timestamp desc", "sort @timestamp desc"),
        ("sort a asc, b, c desc", "sort a asc, b, c desc"),
        ("sort strlen(a) desc", "sort strlen(a) desc"),
        ("limit 20", "limit 20"),
        ("limit any 100", "limit any 100"),
        (
            "parse @message \"[*] * The error was: *\" as level, config, exception",
            "parse @message \"[*] * The error was: *\" as level, config, exception",
        ),
        ("parse 'user=*' as user", "parse @message \"user=*\" as user"),
        (
            "parse @message /(?<user>\\w+)@(?<host>\\S+)/",
            "parse @message /(?<user>\\w+)@(?<host>\\S+)/",
        ),
        ("parse /(\\d+)/ as n multi", "parse @message /(\\d+)/ as n multi"),
        ("parse @message /x(?<n>\\d)/ multi", "parse @message /x(?<n>\\d)/ multi"),
        ("parse @message logfmt as lf", "parse @message logfmt as lf"),
        ("parse logfmt", "parse @message logfmt"),
        ("parse msg csv as a, b, c", "parse msg csv as a, b, c"),
        ("parse logfmt csv as a", "parse logfmt csv as a"),
        ("parse logfmt.x 'a*' as a", "parse logfmt.x \"a*\" as a"),
        ("fields by.x, as.y", "fields by.x, as.y"),
        ("parse csv 'x*' as a", "parse csv \"x*\" as a"),
        ("dedup a, b.c", "dedup a, b.c"),
        ("unnest items into item", "unnest items into item"),
        ("unnest jsonParse(body).list into item", "unnest jsonParse(body).list into item"),
        ("expand tags", "expand tags"),
        ("unmask", "unmask"),
        ("pattern @message", "pattern @message"),
        ("diff", "diff"),
        ("diff previousDay", "diff previousDay"),
        ("diff PREVIOUSWEEK", "diff previousWeek"),
        ("diff previousMonth", "diff previousMonth"),
        ("anomaly", "anomaly"),
        ("fillmissing", "fillmissing"),
        ("fillmissing with 0 for count", "fillmissing with 0 for count"),
        (
            "fillmissing with 0 for a, b, with \"none\" for c",
            "fillmissing with 0 for a, b, with \"none\" for c",
        ),
        ("fillmissing with 0 for a with 1 for b", "fillmissing with 0 for a, with 1 for b"),
        ("filterIndex requestId = \"abc\"", "filterIndex requestId = \"abc\""),
        ("filterindex region in [\"a\", \"b\"]", "filterIndex region in [\"a\", \"b\"]"),
        (
            "SOURCE logGroups(namePrefix: [\"/aws/lambda\"], class: [\"STANDARD\"]) | fields a",
            "SOURCE logGroups(namePrefix: [\"/aws/lambda\"], class: [\"STANDARD\"]) | fields a",
        ),
        ("source logGroups()", "SOURCE logGroups()"),
        ("SOURCE 'my-group'", "SOURCE \"my-group\""),
        ("SOURCE 'a', \"b\" start=-1d end=now", "SOURCE \"a\", \"b\" start=-1d end=now"),
        ("SOURCE lg start=-1d end=now", "SOURCE \"lg\" start=-1d end=now"),
        ("filter f in (fields f | filter x > 1)", "filter f in (fields f | filter x > 1)"),
        ("filter f not in (SOURCE 'g' | fields f)", "filter f not in (SOURCE \"g\" | fields f)"),
    ]);
}

#[test]
fn pipelines_layout_and_comments() {
    run(&[
        ("", ""),
        ("   \n\t", ""),
        ("# only a comment", ""),
        ("fields a|filter b|limit 1", "fields a | filter b | limit 1"),
        ("fields a\n| filter b\n| limit 1\n", "fields a | filter b | limit 1"),
        ("# first\nfields a # trailing\n# between\n| limit 1 # end", "fields a | limit 1"),
        ("filter a = \"#not a comment\"", "filter a = \"#not a comment\""),
        ("fields `#x`", "fields `#x`"),
        (
            "FIELDS a | FILTER a AND b OR NOT c | SORT a DESC | LIMIT ANY 5",
            "fields a | filter a and b or not c | sort a desc | limit any 5",
        ),
        ("Stats Count(*) By Bin(5M)", "stats count(*) by bin(5m)"),
        ("fields\ta ,b,\n  c", "fields a, b, c"),
        ("filter\r\na=1\r\n", "filter a = 1"),
    ]);
}

#[test]
fn names_and_backticks() {
    run(&[
        ("fields a.b.c", "fields a.b.c"),
        (
            "fields requestParameters.items.0.instanceId",
            "fields requestParameters.items.0.instanceId",
        ),
        (
            "fields @timestamp, @message, @logStream, @log, @ingestionTime, @ptr",
            "fields @timestamp, @message, @logStream, @log, @ingestionTime, @ptr",
        ),
        ("fields `foo-bar`", "fields `foo-bar`"),
        ("fields `plain`", "fields plain"),
        ("fields `@timestamp`", "fields @timestamp"),
        (
            "filter @`aws.tag.aws:cloudformation:stack-name` = \"my-stack\"",
            "filter @`aws.tag.aws:cloudformation:stack-name` = \"my-stack\"",
        ),
        ("fields m.`user.id`", "fields m.`user.id`"),
        ("fields `a.b`", "fields `a.b`"),
        ("fields `a``b`", "fields `a``b`"),
        ("fields `in`, `and`, `with`, `1a`", "fields `in`, `and`, `with`, `1a`"),
        ("fields `ünïcode`", "fields `ünïcode`"),
        ("fields _x1", "fields _x1"),
        ("fields as, by, desc, multi, into", "fields as, by, desc, multi, into"),
        ("fields count, stats, filter", "fields count, stats, filter"),
    ]);
}

#[test]
fn literals() {
    run(&[
        ("fields 0, 42, 18446744073709551615", "fields 0, 42, 18446744073709551615"),
        ("fields 1.5, 0.25, 1.0, 10.50", "fields 1.5, 0.25, 1.0, 10.5"),
        ("fields 1e3, 2.5E-3, 1e+2, 1e21", "fields 1000.0, 0.0025, 100.0, 1e21"),
        ("fields -1, -1.5, - 2", "fields -1, -1.5, -2"),
        (
            "fields \"a\", 'b', \"it's\", 'say \"hi\"'",
            "fields \"a\", \"b\", \"it's\", \"say \\\"hi\\\"\"",
        ),
        ("fields \"tab\\there\\nnew\\rline\"", "fields \"tab\\there\\nnew\\rline\""),
        (
            "fields \"back\\\\slash\", \"\\d+\", 'q\\'s', \"end\\\\\"",
            "fields \"back\\slash\", \"\\d+\", \"q's\", \"end\\\\\"",
        ),
        ("fields \"\"", "fields \"\""),
        ("fields \"\\\t\", \"a\\\"\"", "fields \"\\\\\\t\", \"a\\\"\""),
        ("fields \"ünïcode ✓\"", "fields \"ünïcode ✓\""),
        ("fields [1, \"a\", [2]], []", "fields [1, \"a\", [2]], []"),
        ("fields [ 1 ,2 ]", "fields [1, 2]"),
    ]);
}

#[test]
fn time_periods_every_unit_and_spelling() {
    run(&[
        ("stats count() by bin(100ms)", "stats count() by bin(100ms)"),
        ("stats count() by bin(100msec)", "stats count() by bin(100ms)"),
        ("stats count() by bin(100msecs)", "stats count() by bin(100ms)"),
        ("stats count() by bin(100millisecond)", "stats count() by bin(100ms)"),
        ("stats count() by bin(100milliseconds)", "stats count() by bin(100ms)"),
        ("stats count() by bin(30s)", "stats count() by bin(30s)"),
        ("stats count() by bin(30sec)", "stats count() by bin(30s)"),
        ("stats count() by bin(30secs)", "stats count() by bin(30s)"),
        ("stats count() by bin(30second)", "stats count() by bin(30s)"),
        ("stats count() by bin(30seconds)", "stats count() by bin(30s)"),
        ("stats count() by bin(5m)", "stats count() by bin(5m)"),
        ("stats count() by bin(5min)", "stats count() by bin(5m)"),
        ("stats count() by bin(5mins)", "stats count() by bin(5m)"),
        ("stats count() by bin(5minute)", "stats count() by bin(5m)"),
        ("stats count() by bin(5minutes)", "stats count() by bin(5m)"),
        ("stats count() by bin(1h)", "stats count() by bin(1h)"),
        ("stats count() by bin(1hr)", "stats count() by bin(1h)"),
        ("stats count() by bin(2hrs)", "stats count() by bin(2h)"),
        ("stats count() by bin(1hour)", "stats count() by bin(1h)"),
        ("stats count() by bin(2hours)", "stats count() by bin(2h)"),
        ("stats count() by bin(1d)", "stats count() by bin(1d)"),
        ("stats count() by bin(1day)", "stats count() by bin(1d)"),
        ("stats count() by bin(7days)", "stats count() by bin(7d)"),
        ("stats count() by bin(1w)", "stats count() by bin(1w)"),
        ("stats count() by bin(1week)", "stats count() by bin(1w)"),
        ("stats count() by bin(2weeks)", "stats count() by bin(2w)"),
        ("stats count() by bin(1mo)", "stats count() by bin(1mo)"),
        ("stats count() by bin(1mon)", "stats count() by bin(1mo)"),
        ("stats count() by bin(2mons)", "stats count() by bin(2mo)"),
        ("stats count() by bin(1month)", "stats count() by bin(1mo)"),
        ("stats count() by bin(3months)", "stats count() by bin(3mo)"),
        ("stats count() by bin(1q)", "stats count() by bin(1q)"),
        ("stats count() by bin(1qtr)", "stats count() by bin(1q)"),
        ("stats count() by bin(2qtrs)", "stats count() by bin(2q)"),
        ("stats count() by bin(1quarter)", "stats count() by bin(1q)"),
        ("stats count() by bin(2quarters)", "stats count() by bin(2q)"),
        ("stats count() by bin(1y)", "stats count() by bin(1y)"),
        ("stats count() by bin(1yr)", "stats count() by bin(1y)"),
        ("stats count() by bin(2yrs)", "stats count() by bin(2y)"),
        ("stats count() by bin(1year)", "stats count() by bin(1y)"),
        ("stats count() by bin(2years)", "stats count() by bin(2y)"),
        ("stats count() by bin(1H)", "stats count() by bin(1h)"),
        ("fields datefloor(@timestamp, 1Minutes)", "fields datefloor(@timestamp, 1m)"),
    ]);
}

#[test]
fn operators() {
    run(&[
        (
            "fields a + b, a - b, a * b, a / b, a % b, a ^ b",
            "fields a + b, a - b, a * b, a / b, a % b, a ^ b",
        ),
        ("fields a+b-c*d/e%f^g", "fields a + b - c * d / e % f ^ g"),
        (
            "filter a = 1 and b != 2 and c < 3 and d <= 4 and e > 5 and f >= 6",
            "filter a = 1 and b != 2 and c < 3 and d <= 4 and e > 5 and f >= 6",
        ),
        ("filter a=1 or b!=2", "filter a = 1 or b != 2"),
        ("filter not a", "filter not a"),
        ("filter not not a", "filter not not a"),
        ("filter statusCode in [300,400,500]", "filter statusCode in [300, 400, 500]"),
        ("filter Type not in [\"foo\",\"bar\",1]", "filter Type not in [\"foo\", \"bar\", 1]"),
        ("filter a NOT IN [1]", "filter a not in [1]"),
        ("filter @message like \"Exception\"", "filter @message like \"Exception\""),
        ("filter @message not like 'x'", "filter @message not like \"x\""),
        ("filter f1 like /(?i)Exception/", "filter f1 like /(?i)Exception/"),
        ("filter statusCode like /2\\d\\d/", "filter statusCode like /2\\d\\d/"),
        ("filter @message not like /a\\/b/", "filter @message not like /a\\/b/"),
        ("filter @message =~ /^ERROR/", "filter @message =~ /^ERROR/"),
        ("filter @message=~/x/", "filter @message =~ /x/"),
        ("filter @message =~ \"x\"", "filter @message =~ \"x\""),
        (
            "fields m.a, m.`k.x`, list[1], list[0][1], jsonParse(s).x.y, jsonParse(s)[0].z",
            "fields m.a, m.`k.x`, list[1], list[0][1], jsonParse(s).x.y, jsonParse(s)[0].z",
        ),
        (
            "fields (m).a, (m.a).`b c`, (1).x, abs(x).0",
            "fields (m).a, (m.a).`b c`, (1).x, abs(x).0",
        ),
        ("fields a / b / c", "fields a / b / c"),
        ("fields 10 % 3, 2 ^ 3", "fields 10 % 3, 2 ^ 3"),
        ("fields a[i + 1]", "fields a[i + 1]"),
    ]);
}

#[test]
fn precedence() {
    run(&[
        // Tighter operators need no parentheses; looser ones keep them.
        ("fields a + b * c", "fields a + b * c"),
        ("fields (a + b) * c", "fields (a + b) * c"),
        ("fields a * (b + c)", "fields a * (b + c)"),
        ("fields (a * b) + c", "fields a * b + c"),
        // Left associativity.
        ("fields (a - b) - c", "fields a - b - c"),
        ("fields a - (b - c)", "fields a - (b - c)"),
        ("fields a / (b * c)", "fields a / (b * c)"),
        ("fields a + (b - c)", "fields a + (b - c)"),
        // `^` is right-associative and binds tighter than unary minus.
        ("fields 2 ^ 3 ^ 2", "fields 2 ^ 3 ^ 2"),
        ("fields (2 ^ 3) ^ 2", "fields (2 ^ 3) ^ 2"),
        ("fields -2 ^ 2", "fields -2 ^ 2"),
        ("fields (-2) ^ 2", "fields (-2) ^ 2"),
        ("fields 2 ^ -1", "fields 2 ^ -1"),
        ("fields -a * b", "fields -a * b"),
        ("fields -(a * b)", "fields -(a * b)"),
        ("fields - -a", "fields --a"),
        ("fields a - -b", "fields a - -b"),
        // Boolean levels: or < and < not < comparison < arithmetic.
        ("filter a or b and c", "filter a or b and c"),
        ("filter (a or b) and c", "filter (a or b) and c"),
        ("filter a and (b or c)", "filter a and (b or c)"),
        ("filter not a and b", "filter not a and b"),
        ("filter not (a and b)", "filter not (a and b)"),
        ("filter not a = 1", "filter not a = 1"),
        ("filter (not a) = 1", "filter (not a) = 1"),
        ("filter a = 1 or b = 2 and not c in [3]", "filter a = 1 or b = 2 and not c in [3]"),
        ("filter a + 1 = b * 2", "filter a + 1 = b * 2"),
        ("filter (a = b) = c", "filter (a = b) = c"),
        ("filter (a and b) = c", "filter (a and b) = c"),
        ("filter (a like 'x') = (b in [1])", "filter (a like \"x\") = (b in [1])"),
        ("filter (((a)))", "filter a"),
        ("filter ((a or b)) or c", "filter a or b or c"),
        ("filter a or (b or c)", "filter a or (b or c)"),
        ("fields (-a)[0], (a + b).c, -abs(x).y", "fields (-a)[0], (a + b).c, -abs(x).y"),
    ]);
}

#[test]
fn function_groups() {
    run(&[
        // Numeric.
        (
            "fields abs(a), ceil(a), floor(a), greatest(a, b, c), least(a), log(a), round(a), round(a, 2), sqrt(a)",
            "fields abs(a), ceil(a), floor(a), greatest(a, b, c), least(a), log(a), round(a), round(a, 2), sqrt(a)",
        ),
        (
            "fields haversine(1, 2, 3, 4), toNumber(s), toInt(s), toLong(s), toDouble(s)",
            "fields haversine(1, 2, 3, 4), toNumber(s), toInt(s), toLong(s), toDouble(s)",
        ),
        // General.
        (
            "fields ispresent(f), coalesce(a, b, \"x\"), case(a = 1, \"one\", a = 2, \"two\", \"many\"), if(a > 1, \"y\", \"n\")",
            "fields ispresent(f), coalesce(a, b, \"x\"), case(a = 1, \"one\", a = 2, \"two\", \"many\"), if(a > 1, \"y\", \"n\")",
        ),
        (
            "fields isNumeric(f), messageSize(@message), queryStartTime(), queryEndTime(), queryTimeRange()",
            "fields isNumeric(f), messageSize(@message), queryStartTime(), queryEndTime(), queryTimeRange()",
        ),
        // String.
        (
            "fields isempty(f), isblank(f), concat(a, \"-\", b), strlen(s), toupper(s), tolower(s)",
            "fields isempty(f), isblank(f), concat(a, \"-\", b), strlen(s), toupper(s), tolower(s)",
        ),
        (
            "fields ltrim(\"xyZxyfooxyZ\",\"xyZ\"), rtrim(s), trim(\"xyZxyfooxyxyZ\",\"xyZ\"), substr(\"xyZfooxyZ\",3,3), substr(s, 1)",
            "fields ltrim(\"xyZxyfooxyZ\", \"xyZ\"), rtrim(s), trim(\"xyZxyfooxyxyZ\", \"xyZ\"), substr(\"xyZfooxyZ\", 3, 3), substr(s, 1)",
        ),
        (
            "fields replace(f, \"a\", \"b\"), strcontains(s, \"x\"), strcontains(s, \"x\", 1), regexReplace(f, \"\\d+\", \"#\")",
            "fields replace(f, \"a\", \"b\"), strcontains(s, \"x\"), strcontains(s, \"x\", 1), regexReplace(f, \"\\d+\", \"#\")",
        ),
        (
            "fields startsWith(s, \"a\"), endsWith(s, \"z\"), urlencode(s), urldecode(s), base64encode(s), base64decode(s)",
            "fields startsWith(s, \"a\"), endsWith(s, \"z\"), urlencode(s), urldecode(s), base64encode(s), base64decode(s)",
        ),
        (
            "fields split(s, \",\"), hexToAscii(h), hexToDec(h), decToHex(n)",
            "fields split(s, \",\"), hexToAscii(h), hexToDec(h), decToHex(n)",
        ),
        // JSON.
        (
            "fields jsonParse(s), jsonStringify(m), jsonArraySize(f), jsonArrayContains(f, \"v\"), jsonParse(f).x",
            "fields jsonParse(s), jsonStringify(m), jsonArraySize(f), jsonArrayContains(f, \"v\"), jsonParse(f).x",
        ),
        // Datetime.
        (
            "fields bin(5m), datefloor(@timestamp, 1h), dateceil(@t, 5m), fromMillis(n), toMillis(@timestamp), now()",
            "fields bin(5m), datefloor(@timestamp, 1h), dateceil(@t, 5m), fromMillis(n), toMillis(@timestamp), now()",
        ),
        (
            "fields parseDate(f, \"yyyy-MM-dd\"), parseDate(f, \"yyyy\", \"UTC\"), formatDate(@timestamp, \"%Y\"), strftime(@timestamp, \"%Y\", \"UTC\")",
            "fields parseDate(f, \"yyyy-MM-dd\"), parseDate(f, \"yyyy\", \"UTC\"), formatDate(@timestamp, \"%Y\"), strftime(@timestamp, \"%Y\", \"UTC\")",
        ),
        (
            "filter toMillis(@timestamp) > now() * 1000 - 3600000",
            "filter toMillis(@timestamp) > now() * 1000 - 3600000",
        ),
        // IP.
        (
            "fields isValidIp(ip), isValidIpV4(ip), isValidIpV6(ip), isIpInSubnet(ip, \"10.0.0.0/8\"), isIpv4InSubnet(ip, \"10.0.0.0/8\"), isIpv6InSubnet(ip, \"::/0\")",
            "fields isValidIp(ip), isValidIpV4(ip), isValidIpV6(ip), isIpInSubnet(ip, \"10.0.0.0/8\"), isIpv4InSubnet(ip, \"10.0.0.0/8\"), isIpv6InSubnet(ip, \"::/0\")",
        ),
        (
            "fields ipv4ToNumber(ip), isPrivateIP(ip), isPublicIP(ip), isReservedIP(ip)",
            "fields ipv4ToNumber(ip), isPrivateIP(ip), isPublicIP(ip), isReservedIP(ip)",
        ),
        // Hashing.
        ("fields md5(s), sha256(s)", "fields md5(s), sha256(s)"),
        // Aggregations.
        (
            "stats avg(x), sum(x), min(x), max(x), stddev(x), count(), count(*), count(f), count_distinct(f), pct(@duration, 95)",
            "stats avg(x), sum(x), min(x), max(x), stddev(x), count(), count(*), count(f), count_distinct(f), pct(@duration, 95)",
        ),
        (
            "stats earliest(f), latest(f), sortsFirst(f), sortsLast(f)",
            "stats earliest(f), latest(f), sortsFirst(f), sortsLast(f)",
        ),
        // Time series.
        (
            "stats rate(x, 5m), countOverTime(f), sumOverTime(x), histogram(x, 10) by bin(1m)",
            "stats rate(x, 5m), countOverTime(f), sumOverTime(x), histogram(x, 10) by bin(1m)",
        ),
        // Names ignore case and print in the registry's spelling.
        (
            "fields TOMILLIS(@timestamp), IsValidIPv4(ip), COUNT_DISTINCT(a)",
            "fields toMillis(@timestamp), isValidIpV4(ip), count_distinct(a)",
        ),
        ("stats count ( * ), sum( x )", "stats count(*), sum(x)"),
    ]);
}

/// Every registry entry parses with its fewest and most arguments, and is rejected with one
/// fewer and (when bounded) one more.
#[test]
fn every_function_arity() {
    let call = |name: &str, n: usize| {
        let args: Vec<String> = (0..n).map(|i| format!("a{i}")).collect();
        format!("fields {name}({})", args.join(", "))
    };
    for function in FUNCTIONS {
        let most = function.max_args.unwrap_or(function.min_args + 3);
        for n in [function.min_args, most] {
            let text = call(function.name, n);
            check(&text, &text);
        }
        if function.min_args > 0 {
            let text = call(function.name, function.min_args - 1);
            let e = parse(&text).expect_err(&text);
            assert!(e.message.contains(&function.arity_text()), "{text}: {}", e.message);
        }
        if let Some(max) = function.max_args {
            let text = call(function.name, max + 1);
            let e = parse(&text).expect_err(&text);
            assert!(e.message.starts_with(&format!("`{}` takes", function.name)), "{}", e.message);
        }
    }
    let groups = [
        FunctionGroup::Numeric,
        FunctionGroup::General,
        FunctionGroup::String,
        FunctionGroup::Json,
        FunctionGroup::Datetime,
        FunctionGroup::Ip,
        FunctionGroup::Hashing,
        FunctionGroup::Aggregation,
        FunctionGroup::TimeSeries,
    ];
    for group in groups {
        assert!(FUNCTIONS.iter().any(|f| f.group == group), "{group:?} has no functions");
    }
}

#[test]
fn errors() {
    let cases: &[(&str, usize, usize, &str)] = &[
        // Commands.
        ("feilds a", 0, 6, "unknown command `feilds`, did you mean `fields`?"),
        ("fields a | sotr a", 11, 15, "unknown command `sotr`, did you mean `sort`?"),
        ("frobnicate", 0, 10, "unknown command `frobnicate`"),
        ("fields a | lookup t k as f", 11, 17, "the `lookup` command is not supported yet"),
        ("join type=inner", 0, 4, "the `join` command is not supported yet"),
        ("42", 0, 2, "expected a command, found `42`"),
        ("fields a |", 10, 10, "expected a command, found end of query"),
        ("fields a | | limit 1", 11, 12, "expected a command, found `|`"),
        ("| fields a", 0, 1, "expected a command, found `|`"),
        ("fields", 6, 6, "expected an expression, found end of query"),
        ("fields a b", 9, 10, "expected `|` or end of query, found `b`"),
        ("fields a,", 9, 9, "expected an expression, found end of query"),
        ("fields a as", 11, 11, "expected a field name, found end of query"),
        ("display a + 1", 10, 11, "expected `|` or end of query, found `+`"),
        ("limit", 5, 5, "expected a number of rows, found end of query"),
        ("limit 1.5", 6, 9, "expected a whole number of rows"),
        ("limit any", 9, 9, "expected a number of rows, found end of query"),
        ("limit x", 6, 7, "expected a number of rows, found `x`"),
        ("stats count() by", 16, 16, "expected an expression, found end of query"),
        ("stats count() offset 5", 21, 22, "expected a time period such as `1h`"),
        ("sort a up", 7, 9, "expected `|` or end of query, found `up`"),
        ("unnest a", 8, 8, "expected `into`, found end of query"),
        ("unnest a into", 13, 13, "expected a field name, found end of query"),
        ("diff yesterday", 5, 14, "expected `|` or end of query, found `yesterday`"),
        ("fillmissing with 0", 18, 18, "expected `for`, found end of query"),
        ("SOURCE", 6, 6, "expected `logGroups(...)` or a log group name, found end of query"),
        ("SOURCE logGroups(namePrefix [1])", 28, 29, "expected `:`, found `[`"),
        ("SOURCE 'g' start=", 17, 17, "expected an expression, found end of query"),
        // parse.
        ("parse", 5, 5, "expected a field or a pattern, found end of query"),
        (
            "parse @message",
            14,
            14,
            "expected a glob string, a regex, `logfmt` or `csv`, found end of query",
        ),
        ("parse @message 'a*b*' as x", 15, 21, "the glob has 2 `*` but 1 name follows `as`"),
        ("parse @message 'a*' as x, y", 15, 19, "the glob has 1 `*` but 2 names follow `as`"),
        ("parse @message 'abc' as x", 15, 20, "a glob pattern needs at least one `*`"),
        ("parse @message 'a*'", 19, 19, "expected `as`, found end of query"),
        ("parse 'a*'", 10, 10, "expected `as`, found end of query"),
        ("parse @message /(?<n>x/", 16, 17, "invalid regex: unclosed group"),
        ("parse @message /(x\\/", 15, 20, "unterminated regex: missing closing /"),
        // Expressions.
        ("filter", 6, 6, "expected an expression, found end of query"),
        ("filter a =", 10, 10, "expected an expression, found end of query"),
        ("filter a = = 1", 11, 12, "expected an expression, found `=`"),
        ("filter a and", 12, 12, "expected an expression, found end of query"),
        ("filter a or or b", 12, 14, "expected an expression, found `or`"),
        ("filter not", 10, 10, "expected an expression, found end of query"),
        ("filter a < b < c", 13, 14, "comparisons can't be chained; add parentheses"),
        ("filter a = b like 'x'", 13, 17, "comparisons can't be chained; add parentheses"),
        ("filter a not b", 13, 14, "expected `in` or `like`, found `b`"),
        ("filter a in 1", 12, 13, "expected a list `[...]` or a subquery `(...)`, found `1`"),
        ("filter a in [1, 2", 17, 17, "expected `]` or `,`, found end of query"),
        ("filter a in [1 2]", 15, 16, "expected `]` or `,`, found `2`"),
        ("filter a in (fields b", 21, 21, "expected `)`, found end of query"),
        ("filter a in ()", 13, 14, "expected a command, found `)`"),
        ("filter a like b", 14, 15, "expected a string or a /regex/, found `b`"),
        ("filter a like", 13, 13, "expected a string or a /regex/, found end of query"),
        ("filter a =~ /(/", 13, 14, "invalid regex: unclosed group"),
        ("filter (a = 1", 13, 13, "expected `)`, found end of query"),
        ("filter a = 1)", 12, 13, "expected `|` or end of query, found `)`"),
        (
            "fields a / /x/",
            11,
            12,
            "a regex is only allowed after `like`, `not like`, `=~` and in `parse`",
        ),
        ("filter in = 1", 7, 9, "expected an expression, found `in`"),
        ("fields a.", 9, 9, "expected a key after `.`, found end of query"),
        ("fields abs(x).", 14, 14, "expected a key after `.`, found end of query"),
        ("fields a[1", 10, 10, "expected `]`, found end of query"),
        ("fields @", 7, 8, "expected a name after `@`, such as `@message`"),
        ("fields ``", 7, 9, "empty name in backticks"),
        ("fields `abc", 7, 11, "unterminated name: missing closing backtick"),
        ("fields \"abc", 7, 11, "unterminated string: missing closing \""),
        ("fields 'a\\'", 7, 11, "unterminated string: missing closing '"),
        (
            "fields 5x",
            7,
            9,
            "unknown time unit `x`, expected one of ms, s, m, h, d, w, mo, q, y (or a spelling such as `min`, `hours`)",
        ),
        ("fields 1.5h", 7, 11, "a time period needs a whole number, such as `90s`"),
        ("fields 99999999999999999999", 7, 27, "number too large"),
        ("fields 1e999", 7, 12, "number too large"),
        ("fields a ! b", 9, 10, "expected `|` or end of query, found `!`"),
        // Functions.
        ("stats coutn(*) by bin(5m)", 6, 11, "unknown function `coutn`, did you mean `count`?"),
        (
            "fields tomilis(@timestamp)",
            7,
            14,
            "unknown function `tomilis`, did you mean `toMillis`?",
        ),
        ("fields frobnicate(x)", 7, 17, "unknown function `frobnicate`"),
        ("fields abs()", 7, 12, "`abs` takes 1 argument, found 0"),
        ("fields abs(1, 2)", 7, 16, "`abs` takes 1 argument, found 2"),
        ("fields round(1, 2, 3)", 7, 21, "`round` takes 1 or 2 arguments, found 3"),
        ("fields now(1)", 7, 13, "`now` takes no arguments, found 1"),
        ("fields concat()", 7, 15, "`concat` takes at least 1 argument, found 0"),
        ("fields substr(\"é\")", 7, 18, "`substr` takes 2 or 3 arguments, found 1"),
        ("fields sum(*)", 11, 12, "`*` is only allowed as in `count(*)`"),
        ("stats count(*, x)", 12, 13, "`*` is only allowed as in `count(*)`"),
        ("fields abs(1", 12, 12, "expected `)` or `,`, found end of query"),
        ("fields abs(1,)", 13, 14, "expected an expression, found `)`"),
        // Offsets count characters, not bytes.
        ("fields \"é€😀\", x y", 16, 17, "expected `|` or end of query, found `y`"),
        ("fields `ünï` ?", 13, 14, "expected `|` or end of query, found `?`"),
    ];
    for (input, start, end, message) in cases {
        check_error(input, *start, *end, message);
    }
}

#[test]
fn render_points_at_the_error() {
    let query = "fields @timestamp\n| stats coutn(*) by bin(5m)";
    let err = parse(query).unwrap_err();
    assert_eq!(
        err.render(query),
        "error: unknown function `coutn`, did you mean `count`?\n \
         --> line 2, column 9\n  |\n2 | | stats coutn(*) by bin(5m)\n  |         ^^^^^\n"
    );
    assert_eq!(err.line_col(query), (2, 9));
    assert_eq!(
        err.to_string(),
        "unknown function `coutn`, did you mean `count`? (at character 26)"
    );

    let query = "filter a =";
    let err = parse(query).unwrap_err();
    assert_eq!(
        err.render(query),
        "error: expected an expression, found end of query\n --> line 1, column 11\n  |\n\
         1 | filter a =\n  |           ^\n"
    );
}

#[test]
fn deep_and_long_input_does_not_overflow() {
    let deep = format!("filter {}a{}", "(".repeat(10_000), ")".repeat(10_000));
    let e = parse(&deep).unwrap_err();
    assert!(e.message.starts_with("query nested too deeply"), "{}", e.message);
    for prefix in ["-", "not ", "[", "abs(", "a in (filter b in ("] {
        let deep = format!("filter {}", prefix.repeat(5_000));
        assert!(parse(&deep).is_err());
    }
    // Nesting right at the limit is fine.
    let ok = format!("filter {}a{}", "(".repeat(60), ")".repeat(60));
    check(&ok, "filter a");

    // A flat chain as long as the longest query CloudWatch accepts.
    let terms: Vec<String> = (0..1_200).map(|i| format!("a = {i}")).collect();
    let long = format!("filter {}", terms.join(" or "));
    assert!(long.chars().count() >= MAX_QUERY_CHARS);
    check(&long, &long);
}

/// The concrete query examples of the reference document (§1), with `…` placeholders filled
/// in with concrete values.
#[test]
fn reference_examples_parse() {
    let examples = [
        "filter @`aws.tag.aws:cloudformation:stack-name` = \"my-stack\"",
        "filter f1 like /(?i)Exception/",
        "fields a, b, expr as alias",
        "display a, b",
        "stats count(*) as a by f1, bin(5m) as t",
        "sort f desc, g asc",
        "limit 25",
        "limit any 25",
        "dedup f1, f2",
        "unmask",
        "pattern @message",
        "diff previousDay",
        "diff previousWeek",
        "diff previousMonth",
        "pattern @message | anomaly",
        "filterIndex f = \"v\"",
        "filterIndex f in [\"a\", \"b\"]",
        "SOURCE logGroups(namePrefix:[\"/aws/lambda\"], accountIdentifiers:[\"111122223333\"], class:[\"STANDARD\"])",
        "SOURCE '/aws/lambda/my-function'",
        "SOURCE lg start=-1d end=now",
        "unnest field into item",
        "expand field",
        "filter f in (fields f | filter x = 1)",
        "fillmissing",
        "fillmissing with 0 for f",
        "filter statusCode in [300,400,500]",
        "filter Type not in [\"foo\",\"bar\",1]",
        "filter statusCode like /2\\d\\d/",
        "fields toMillis(@timestamp) as t | filter t > now() * 1000 - queryStartTime()",
        "parse @message \"[*] * The error was: *\" as level, config, exception",
        "parse @message /(?<name>…)/",
        "parse @message /(\\d+\\.\\d+\\.\\d+\\.\\d+)/ as ip_addr multi",
        "parse @message logfmt as lf | fields lf.level",
        "parse @message csv as a, b, c",
        "parse @message \"url=*\" as url | parse url \"/api/*/users/*\" as v, id",
        "stats max(@timestamp) as @t by x | stats count() by dateceil(@t, 5m)",
        "stats count(*) by bin(5m) offset 1h",
        "fields 2 ^ 3, 10 % 3",
        "fields m.a.b, m.`user.id`, list[1]",
        "fields ltrim(\"xyZxyfooxyZ\",\"xyZ\"), trim(\"xyZxyfooxyxyZ\",\"xyZ\"), substr(\"xyZfooxyZ\",3,3)",
        "stats pct(@duration, 95), count(), count(*), count(f), count_distinct(f)",
        "fields jsonParse(f).x",
        "fields userIdentity.type, requestParameters.instancesSet.items.0.instanceId",
        "stats count(*) by bin(300s)",
        "fields @timestamp, @message, @ingestionTime, @logStream, @log, @ptr, @entity.x",
        "fields @requestId, @duration, @billedDuration, @type, @maxMemoryUsed, @memorySize, @xrayTraceId, @xraySegmentId",
        "fields ispresent(f), coalesce(f, g), case(a, 1, 2), if(c, 1, 0), isNumeric(f), messageSize(f)",
        "fields regexReplace(f, \"a\", \"b\"), startsWith(s, \"x\"), decToHex(255), jsonArrayContains(f, \"v\")",
        "fields parseDate(f, \"yyyy-MM-dd\", \"UTC\"), formatDate(@timestamp, \"%Y-%m-%d\"), now()",
        "stats rate(x, 5m), countOverTime(f), sumOverTime(x), histogram(x, 10)",
        "fields md5(s), sha256(s), isPrivateIP(ip), ipv4ToNumber(ip), haversine(1, 2, 3, 4)",
    ];
    for example in examples {
        if let Err(e) = parse(example) {
            panic!("{example}\n{}", e.render(example));
        }
    }
    // Commands of the newest docs that this parser does not read yet say so.
    let unsupported = [
        "json field=F \"a.b\" as x",
        "lookup t k as f OUTPUT o",
        "cidrlookup t ip OUTPUT c",
        "join type=inner left=a right=b where a.k=b.k (SOURCE 'g')",
        "appendcols (fields a)",
        "addtotals row=true",
        "autoregress f p=1",
        "accum f",
        "filldown f",
        "outlier f",
        "sessionize f maxspan 30m",
        "countFrequent f",
        "count_frequent f",
        "logcompare timeshift 7d",
        "relevantfields where a = 1",
    ];
    for example in unsupported {
        let e = parse(example).expect_err(example);
        assert!(e.message.ends_with("command is not supported yet"), "{example}: {}", e.message);
    }
}

#[test]
fn trees_are_what_the_text_says() {
    let q = parse("parse 'a=*' as a | filter x.y = -1 | sort b").unwrap();
    assert_eq!(
        q.commands,
        vec![
            Command::Parse(Parse {
                field: Field::new("@message"),
                pattern: ParsePattern::Glob("a=*".into()),
                aliases: vec![Field::new("a")],
                multi: false,
            }),
            Command::Filter(Expr::Binary {
                op: BinaryOp::Eq,
                lhs: Box::new(Expr::Field(Field(vec!["x".into(), "y".into()]))),
                rhs: Box::new(Expr::Unary {
                    op: UnaryOp::Neg,
                    expr: Box::new(Expr::Literal(Literal::Int(1))),
                }),
            }),
            Command::Sort(vec![SortKey { expr: Expr::Field(Field::new("b")), order: None }]),
        ]
    );
    let q = parse("fields @`a:b`, `@c`, a.`b.c`").unwrap();
    let Command::Fields(items) = &q.commands[0] else { panic!("{q:?}") };
    let names: Vec<&Expr> = items.iter().map(|p| &p.expr).collect();
    assert_eq!(
        names,
        [
            &Expr::Field(Field::new("@a:b")),
            &Expr::Field(Field::new("@c")),
            &Expr::Field(Field(vec!["a".into(), "b.c".into()])),
        ]
    );
    assert!(Field::new("@c").is_system());
    assert_eq!(Field(vec!["a".into(), "b.c".into()]).flat_name(), "a.b.c");
}
