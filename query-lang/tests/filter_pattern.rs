//! Every example of the CloudWatch reference §2 (filter pattern syntax), one row each.

use logsight_query_lang::pattern::{FilterPattern, PatternKind};

fn compile(pattern: &str) -> FilterPattern {
    FilterPattern::compile(pattern)
        .unwrap_or_else(|e| panic!("{pattern:?} does not compile:\n{}", e.render(pattern)))
}

/// Checks that `pattern` matches exactly the lines of `corpus` whose indexes are `expected`.
fn check_corpus(pattern: &str, corpus: &[&str], expected: &[usize]) {
    let p = compile(pattern);
    let got: Vec<usize> =
        corpus.iter().enumerate().filter(|(_, m)| p.matches(m)).map(|(i, _)| i).collect();
    assert_eq!(got, expected, "pattern {pattern:?}");
    for (i, m) in corpus.iter().enumerate() {
        assert_eq!(
            p.extract(m).is_some(),
            expected.contains(&i),
            "extract agrees with matches: {pattern:?} on {m:?}"
        );
    }
}

/// §2.2: the five-line corpus of the term table, plus the `[INFO] REQUEST FAILED` line the
/// last row mentions.
const TERMS_CORPUS: &[&str] = &[
    "[ERROR 400] BAD REQUEST",
    "[ERROR 401] UNAUTHORIZED REQUEST",
    "[ERROR 419] MISSING ARGUMENTS",
    "[ERROR 420] INVALID ARGUMENTS",
    "[ERROR 500] INTERNAL SERVER ERROR",
    "[INFO] REQUEST FAILED",
];

#[test]
fn term_table() {
    let rows: &[(&str, &[usize])] = &[
        ("ERROR", &[0, 1, 2, 3, 4]),
        ("ERROR ARGUMENTS", &[2, 3]),
        ("?ERROR ?ARGUMENTS", &[0, 1, 2, 3, 4]),
        ("\"INTERNAL SERVER ERROR\"", &[4]),
        ("ERROR -ARGUMENTS", &[0, 1, 4]),
        ("\" \"", &[0, 1, 2, 3, 4, 5]),
        ("?ERROR ?ARGUMENTS REQUEST", &[0, 1, 5]),
    ];
    for (pattern, expected) in rows {
        check_corpus(pattern, TERMS_CORPUS, expected);
    }
}

#[test]
fn term_rules() {
    // Whole terms, not substrings (the reference's inference): `AUTHORIZED` is not in
    // `UNAUTHORIZED`; the regex finds it.
    check_corpus("AUTHORIZED", TERMS_CORPUS, &[]);
    check_corpus("%AUTHORIZED%", TERMS_CORPUS, &[1]);
    check_corpus("", TERMS_CORPUS, &[0, 1, 2, 3, 4, 5]);
    check_corpus("   ", TERMS_CORPUS, &[0, 1, 2, 3, 4, 5]);
    check_corpus("error", TERMS_CORPUS, &[]);
    check_corpus("-ERROR", TERMS_CORPUS, &[5]);
    check_corpus("?INFO ?MISSING -FAILED", TERMS_CORPUS, &[2]);
    check_corpus("\"ERROR 4\"", TERMS_CORPUS, &[0, 1, 2, 3]);
    check_corpus("\"[ERROR\"", TERMS_CORPUS, &[0, 1, 2, 3, 4]);
    check_corpus("\"ERR\"", TERMS_CORPUS, &[0, 1, 2, 3, 4]);
    let p = compile("ERROR \"BAD REQUEST\" ?x -y");
    assert_eq!(p.required_terms(), ["ERROR", "BAD REQUEST"]);
    assert_eq!(p.kind(), PatternKind::Unstructured);
    assert!(compile("\" \"").matches_everything());
    assert!(compile("").matches_everything());
    assert!(!compile("ERROR").matches_everything());
}

/// §2.3: each row is (pattern, matches, does not match).
#[test]
fn regex_table() {
    let rows: &[(&str, &[&str], &[&str])] = &[
        (
            "%AUTHORIZED%",
            &["[ERROR 401] UNAUTHORIZED REQUEST", "[SUCCESS 200] AUTHORIZED REQUEST"],
            &[],
        ),
        ("%^[hc]at%", &["hat is on", "cat sat"], &["a hat"]),
        ("%colou?r%", &["color", "colour"], &["colouur"]),
        ("%a{3,5}%", &["aaa", "aaaa", "aaaaa"], &["aa"]),
        (
            "%^starting|^initializing|^shutting down%",
            &["starting up", "initializing db", "shutting down now"],
            &["skipping initializing"],
        ),
        ("%10\\.10\\.0\\.1%", &["10.10.0.1"], &["10010,051"]),
        ("%10.10.0.1%", &["10.10.0.1", "10010,051"], &[]),
        ("%\\x3A%", &["a:b"], &["ab"]),
        ("%\\x28%", &["f(x)"], &["fx"]),
    ];
    for (pattern, yes, no) in rows {
        let p = compile(pattern);
        for m in *yes {
            assert!(p.matches(m), "{pattern:?} should match {m:?}");
        }
        for m in *no {
            assert!(!p.matches(m), "{pattern:?} should not match {m:?}");
        }
    }
}

#[test]
fn regex_rejections() {
    for (pattern, offset, fragment) in [
        ("%something!%", 10, "`!` is not allowed"),
        ("%(a|b)%", 1, "parentheses are not supported"),
        ("%a(?=b)%", 2, "parentheses are not supported"),
        ("%é%", 1, "multi-byte"),
        ("%\\1%", 1, "unsupported escape"),
        ("%abc", 0, "expected `%`"),
        ("%a% %b% %c%", 8, "at most 2 regular expressions"),
        // `?` terms beside a required one are ignored when matching, but still count.
        ("?%a% ?%b% ?%c% X", 11, "at most 2 regular expressions"),
        ("{ $.a = %x% || $.b = %y% || $.c = %z% }", 34, "at most 2 regular expressions"),
        ("[a = %x%, b = %y%, c = %z%]", 23, "at most 2 regular expressions"),
    ] {
        let err = FilterPattern::compile(pattern).expect_err(pattern);
        assert_eq!(err.offset, offset, "{pattern:?}: {}", err.message);
        assert!(err.message.contains(fragment), "{pattern:?}: {}", err.message);
    }
}

/// §2.4: the test event of the JSON table.
const JSON_EVENT: &str = r#"{"eventType":"UpdateTrail","sourceIPAddress":"111.111.111.111","arrayKey":["value","another value"],"objectList":[{"name":"a","id":1},{"name":"b","id":2}],"SomeObject":null,"cluster.name":"c"}"#;

#[test]
fn json_table() {
    let rows: &[(&str, &str, bool)] = &[
        (r#"{ $.eventType = "UpdateTrail" }"#, JSON_EVENT, true),
        ("{ $.sourceIPAddress != 123.123.* }", JSON_EVENT, true),
        (r#"{ $.arrayKey[0] = "value" }"#, JSON_EVENT, true),
        ("{ $.objectList[1].id = 2 }", JSON_EVENT, true),
        ("{ $.eventType = %Trail% }", JSON_EVENT, true),
        ("{ $.arrayKey[*] = %val.{2}% }", JSON_EVENT, true),
        (r#"{ $.['cluster.name'] = "c" }"#, JSON_EVENT, true),
        ("{ $.SomeObject IS NULL }", JSON_EVENT, true),
        ("{ $.SomeOtherObject NOT EXISTS }", JSON_EVENT, true),
        ("{ $.latency = * }", r#"{"latency":50}"#, true),
    ];
    for (pattern, event, expected) in rows {
        assert_eq!(compile(pattern).matches(event), *expected, "{pattern:?} on {event}");
    }
}

/// The negations of the JSON table rows, so each row is shown to depend on its value.
#[test]
fn json_table_counterparts() {
    for pattern in [
        r#"{ $.eventType = "UpdateTrails" }"#,
        "{ $.sourceIPAddress != 111.111.* }",
        r#"{ $.arrayKey[1] = "value" }"#,
        "{ $.objectList[1].id = 1 }",
        "{ $.eventType = %^Trail% }",
        "{ $.arrayKey[*] = %^val.{6}% }",
        r#"{ $.cluster.name = "c" }"#,
        "{ $.eventType IS NULL }",
        "{ $.SomeObject NOT EXISTS }",
        "{ $.objectList = * }",
        "{ $.objectList[0] = * }",
        "{ $.objectList != x }",
        "{ $.missing != x }",
        "{ $.SomeObject != x }",
    ] {
        assert!(!compile(pattern).matches(JSON_EVENT), "{pattern:?} should not match");
    }
    assert!(!compile("{ $.latency = * }").matches(r#"{"other":50}"#));
    assert!(!compile("{ $.eventType = \"UpdateTrail\" }").matches("UpdateTrail"), "not JSON");
}

const COMPOUND_EVENT: &str = r#"{"user":{"id":1,"email":"John.Stiles@example.com"},"users":[{"id":2,"email":"John.Doe@example.com"},{"id":3,"email":"Jane.Doe@example.com"}],"actions":["GET","PUT","DELETE"],"coordinates":[[0,1,2],[4,5,6],[7,8,9]]}"#;

#[test]
fn json_compound_examples() {
    let rows: &[(&str, bool)] = &[
        (r#"{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }"#, true),
        (
            r#"{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch" && $.actions[2] = "nonmatch" }"#,
            true,
        ),
        (
            r#"{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") && $.actions[2] = "nonmatch" }"#,
            false,
        ),
        (r#"{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }"#, false),
    ];
    for (pattern, expected) in rows {
        assert_eq!(compile(pattern).matches(COMPOUND_EVENT), *expected, "{pattern:?}");
    }
}

#[test]
fn json_operators() {
    let event = r#"{"n":1000,"s":"503","f":0.001,"t":true,"z":false,"neg":-2,"arr":[1,2,30],"o":{"k":"v"}}"#;
    for (pattern, expected) in [
        ("{ $.n = 1e3 }", true),
        ("{ $.n >= 1000 && $.n <= 1000 }", true),
        ("{ $.n > 1000 }", false),
        ("{ $.n < 1E4 }", true),
        ("{ $.n != 1000 }", false),
        ("{ $.s >= 500 }", true),
        ("{ $.s = 503 }", true),
        ("{ $.f = 1e-3 }", true),
        ("{ $.f < 0.01 }", true),
        ("{ $.t IS TRUE }", true),
        ("{ $.t IS FALSE }", false),
        ("{ $.z IS FALSE }", true),
        ("{ $.neg < -1 }", true),
        ("{ $.arr[*] > 10 }", true),
        ("{ $.arr[*] > 100 }", false),
        ("{ $.o.* = v }", true),
        ("{ $.* = 503 }", true),
        ("{ $.o IS NULL }", false),
        ("{ $.n = 10* }", true),
        ("{ $.t = true }", true),
        ("{ $.s = \"5*\" }", true),
        ("{ $.missing NOT EXISTS && $.n = 1000 }", true),
        ("{ $.n = 1 || $.n = 1000 && $.s = 503 }", true),
        ("{ (($.n = 1000)) }", true),
        ("{ $.arr[3] NOT EXISTS }", true),
        ("{ $.arr[2] NOT EXISTS }", false),
        ("{ $.n is null }", false),
    ] {
        assert_eq!(compile(pattern).matches(event), expected, "{pattern:?}");
    }
}

#[test]
fn json_rejections() {
    for (pattern, offset, fragment) in [
        ("{ $.a IS NOT NULL }", 9, "`IS NOT` is not supported"),
        ("{ $.a EXISTS }", 6, "`EXISTS` is not supported"),
        ("{ $.a = }", 8, "expected a value"),
        ("{ $.a > abc }", 8, "expected a number"),
        ("{ $.a = 1", 9, "expected `&&`, `||` or `}`"),
        ("{ a = 1 }", 2, "expected a selector"),
        ("{ $.a[*].b[*] = 1 }", 10, "at most one wildcard"),
        ("{ $.a[*] = 1 || $.b[*] = 1 || $.c[*] = 1 || $.d[*] = 1 }", 44, "at most 3 selectors"),
        ("{ ($.a = 1 }", 11, "expected `)`"),
        ("{ $.a == 1 }", 6, "`==`"),
        ("{ }", 2, "expected a condition"),
        ("{ $.a = 1 } x", 12, "unexpected text"),
        ("{ $ = 1 }", 3, "expected `.` or `[`"),
    ] {
        let err = FilterPattern::compile(pattern).expect_err(pattern);
        assert!(err.message.contains(fragment), "{pattern:?}: {}", err.message);
        assert_eq!(err.offset, offset, "{pattern:?}: {}", err.message);
    }
}

#[test]
fn json_extraction() {
    let p = compile("{ $.latency = * && $.eventType = %Trail% }");
    let x = p
        .extract(r#"{"latency":50,"eventType":"UpdateTrail","region":"eu-west-1","n":{"k":[1.5]}}"#)
        .unwrap();
    assert_eq!(x.iter().collect::<Vec<_>>(), [("$.latency", "50"), ("$.eventType", "UpdateTrail")]);
    assert_eq!(x.get("$.region").as_deref(), Some("eu-west-1"), "paths the pattern does not name");
    assert_eq!(x.get("$.n.k[0]").as_deref(), Some("1.5"));
    assert_eq!(x.get("$.n"), None, "objects are not values");
    assert_eq!(x.get("$.nope"), None);
    assert_eq!(x.get("nonsense"), None);
}

/// §2.5, log line A.
const LINE_A: &str =
    r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;

#[test]
fn space_delimited_table() {
    for pattern in [
        "[ip, user, username, timestamp, request =*.html*, status_code = 4*, bytes]",
        "[..., request =*.html*, status_code = 4*, bytes]",
        "[ip, user, username, timestamp, request =*.html*, status_code = 404 || status_code = 410, bytes]",
        r"[ip=%127\.0\.0\.[1-9]%, user, username, timestamp, request, status_code, bytes]",
        "[ip, server, username, timestamp, request, status_code, bytes > 1000]",
    ] {
        assert!(compile(pattern).matches(LINE_A), "{pattern:?}");
    }
}

#[test]
fn space_delimited_extraction() {
    let p = compile("[ip, user, username, timestamp, request =*.html*, status_code = 4*, bytes]");
    let x = p.extract(LINE_A).unwrap();
    assert_eq!(
        x.iter().collect::<Vec<_>>(),
        [
            ("$ip", "127.0.0.1"),
            ("$user", "Prod"),
            ("$username", "frank"),
            ("$timestamp", "10/Oct/2000:13:25:15 -0700"),
            ("$request", "GET /index.html HTTP/1.0"),
            ("$status_code", "404"),
            ("$bytes", "1534"),
        ]
    );
    let x = compile("[..., request =*.html*, status_code = 4*, bytes]").extract(LINE_A).unwrap();
    assert_eq!(x.get("$bytes").as_deref(), Some("1534"));
    assert_eq!(x.get("$request").as_deref(), Some("GET /index.html HTTP/1.0"));
    assert_eq!(p.kind(), PatternKind::SpaceDelimited);
}

#[test]
fn space_delimited_counterparts() {
    for pattern in [
        "[ip, user, username, timestamp, request =*.php*, status_code = 4*, bytes]",
        "[..., request =*.html*, status_code = 5*, bytes]",
        "[ip, user, username, timestamp, request, status_code = 400 || status_code = 410, bytes]",
        r"[ip=%127\.0\.0\.[2-9]%, user, username, timestamp, request, status_code, bytes]",
        "[ip, server, username, timestamp, request, status_code, bytes > 2000]",
        "[ip, user, username, timestamp, request, status_code, bytes, extra]",
    ] {
        assert!(!compile(pattern).matches(LINE_A), "{pattern:?}");
    }
}

const B: &[&str] = &[
    "INFO 09/25/2014 12:00:00 GET /service/resource/67 1200",
    "INFO 09/25/2014 12:00:01 POST /service/resource/67/part/111 1310",
    "WARNING 09/25/2014 12:00:02 Invalid user request",
    "ERROR 09/25/2014 12:00:02 Failed to process request",
];

#[test]
fn positional_words() {
    let rows: &[(&str, &[usize])] = &[
        ("[w1=ERROR, w2]", &[3]),
        ("[w1=ERROR || w1=WARNING, w2]", &[2, 3]),
        ("[w1!=ERROR && w1!=WARNING, w2]", &[0, 1]),
        ("[logLevel, date, time, method, url=%/service/resource/[0-9]+$%, response_time]", &[0]),
        (
            "[logLevel, date, time, method, url=%/service/resource/[0-9]+/part/[0-9]+$%, response_time]",
            &[1],
        ),
        // Without the trailing field nothing matches: every line has more than one field.
        ("[w1=ERROR]", &[]),
        ("[w1=ERROR, ...]", &[3]),
        ("[..., t=request]", &[2, 3]),
        ("[..., m=GET, ...]", &[0]),
    ];
    for (pattern, expected) in rows {
        check_corpus(pattern, B, expected);
    }
    let x = compile("[w1=ERROR, w2]").extract(B[3]).unwrap();
    assert_eq!(x.get("$w2").as_deref(), Some("09/25/2014 12:00:02 Failed to process request"));
}

#[test]
fn space_delimited_rejections() {
    for (pattern, offset, fragment) in [
        ("[a, b", 5, "expected `,` or `]`"),
        ("[a, a]", 4, "named twice"),
        ("[a = 1 || b = 2, c]", 10, "must test field `a`"),
        ("[a > x, b]", 5, "expected a number"),
        ("[]", 1, "expected a field name"),
        ("[a b]", 3, "expected an operator"),
        ("[a] b", 4, "unexpected text"),
    ] {
        let err = FilterPattern::compile(pattern).expect_err(pattern);
        assert!(err.message.contains(fragment), "{pattern:?}: {}", err.message);
        assert_eq!(err.offset, offset, "{pattern:?}: {}", err.message);
    }
}

#[test]
fn quotas_and_rendering() {
    let long = "a".repeat(1025);
    let err = FilterPattern::compile(&long).unwrap_err();
    assert_eq!(err.offset, 1024);
    assert!(FilterPattern::compile(&"a".repeat(1024)).is_ok());
    // Offsets count characters, not bytes.
    let err = FilterPattern::compile("{ $.é = }").unwrap_err();
    assert_eq!(err.offset, 8);
    assert_eq!(
        err.render("{ $.é = }"),
        "error: expected a value after `=` but found `}`\n  { $.é = }\n          ^"
    );
}

#[test]
fn shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<FilterPattern>();
    let p = compile("ERROR");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || TERMS_CORPUS.iter().filter(|m| p.matches(m)).count())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 5);
    }
}

#[test]
fn literal_hints_name_what_every_match_contains() {
    let groups = |p: &str| compile(p).literal_hint().groups().to_vec();
    assert_eq!(groups("ERROR \"bad request\" -DEBUG"), [vec!["ERROR"], vec!["bad request"]]);
    assert_eq!(groups("?WARN ?WARNING"), [vec!["WARN", "WARNING"]]);
    assert_eq!(groups("%Exception%"), [vec!["Exception"]]);
    assert_eq!(
        groups("%authentication failure|Invalid user%"),
        [vec!["authentication failure", "Invalid user"]]
    );
    // `?` terms beside a plain term are ignored by the matcher, so by the hint too.
    assert_eq!(groups("ERROR ?WARN"), [vec!["ERROR"]]);
    // Nothing to require: a `?` term without literals, a blank phrase, a regex that can
    // start anywhere, the empty pattern, JSON and space-delimited patterns.
    for p in ["?ERROR ?%.*%", "\" \"", "%.+x%", "", "{ $.a = \"x\" }", "[a, b = x]"] {
        assert!(compile(p).literal_hint().is_empty(), "{p}: {:?}", compile(p).literal_hint());
    }
    let hint = compile("%blk_-?[0-9]+%").literal_hint();
    assert!(hint.admits("got blk_-42 here") && hint.admits("blk_7"));
    assert!(!hint.admits("blk-7") && !hint.admits("no block"));
}
