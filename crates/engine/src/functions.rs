//! The scalar functions of §1.5 (numeric, general, string, JSON, datetime, IP, hashing).
//!
//! Functions take any values and return null for arguments they cannot use (text where a
//! number is needed, a map in a string function), as Logs Insights does; they never fail a
//! query.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{Datelike, TimeZone, Utc};
use logsight_query_lang::insights::{Period, TimeUnit};

use crate::expr::{CExpr, eval};
use crate::row::{EvalCtx, Row};
use crate::value::{Value, format_float, natural_cmp};

/// A scalar function, resolved at bind time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub(crate) enum Scalar {
    Abs,
    Ceil,
    Floor,
    Greatest,
    Least,
    Log,
    Round,
    Sqrt,
    Haversine,
    ToNumber,
    ToInt,
    ToLong,
    ToDouble,
    IsPresent,
    Coalesce,
    Case,
    If,
    IsNumeric,
    MessageSize,
    QueryStartTime,
    QueryEndTime,
    QueryTimeRange,
    IsEmpty,
    IsBlank,
    Concat,
    Strlen,
    ToUpper,
    ToLower,
    Ltrim,
    Rtrim,
    Trim,
    Substr,
    Replace,
    StrContains,
    RegexReplace,
    StartsWith,
    EndsWith,
    UrlEncode,
    UrlDecode,
    Base64Encode,
    Base64Decode,
    Split,
    HexToAscii,
    HexToDec,
    DecToHex,
    JsonParse,
    JsonStringify,
    JsonArraySize,
    JsonArrayContains,
    Bin,
    DateFloor,
    DateCeil,
    FromMillis,
    ToMillis,
    Now,
    FormatDate,
    IsValidIp,
    IsValidIpV4,
    IsValidIpV6,
    IsIpInSubnet,
    IsIpv4InSubnet,
    IsIpv6InSubnet,
    Ipv4ToNumber,
    IsPrivateIp,
    IsPublicIp,
    IsReservedIp,
    Md5,
    Sha256,
}

impl Scalar {
    /// Resolves a registry name; `None` for functions this engine does not run yet.
    pub(crate) fn from_name(name: &str) -> Option<Scalar> {
        use Scalar::*;
        Some(match name {
            "abs" => Abs,
            "ceil" => Ceil,
            "floor" => Floor,
            "greatest" => Greatest,
            "least" => Least,
            "log" => Log,
            "round" => Round,
            "sqrt" => Sqrt,
            "haversine" => Haversine,
            "toNumber" => ToNumber,
            "toInt" => ToInt,
            "toLong" => ToLong,
            "toDouble" => ToDouble,
            "ispresent" => IsPresent,
            "coalesce" => Coalesce,
            "case" => Case,
            "if" => If,
            "isNumeric" => IsNumeric,
            "messageSize" => MessageSize,
            "queryStartTime" => QueryStartTime,
            "queryEndTime" => QueryEndTime,
            "queryTimeRange" => QueryTimeRange,
            "isempty" => IsEmpty,
            "isblank" => IsBlank,
            "concat" => Concat,
            "strlen" => Strlen,
            "toupper" => ToUpper,
            "tolower" => ToLower,
            "ltrim" => Ltrim,
            "rtrim" => Rtrim,
            "trim" => Trim,
            "substr" => Substr,
            "replace" => Replace,
            "strcontains" => StrContains,
            "regexReplace" => RegexReplace,
            "startsWith" => StartsWith,
            "endsWith" => EndsWith,
            "urlencode" => UrlEncode,
            "urldecode" => UrlDecode,
            "base64encode" => Base64Encode,
            "base64decode" => Base64Decode,
            "split" => Split,
            "hexToAscii" => HexToAscii,
            "hexToDec" => HexToDec,
            "decToHex" => DecToHex,
            "jsonParse" => JsonParse,
            "jsonStringify" => JsonStringify,
            "jsonArraySize" => JsonArraySize,
            "jsonArrayContains" => JsonArrayContains,
            "bin" => Bin,
            "datefloor" => DateFloor,
            "dateceil" => DateCeil,
            "fromMillis" => FromMillis,
            "toMillis" => ToMillis,
            "now" => Now,
            "formatDate" | "strftime" => FormatDate,
            "isValidIp" => IsValidIp,
            "isValidIpV4" => IsValidIpV4,
            "isValidIpV6" => IsValidIpV6,
            "isIpInSubnet" => IsIpInSubnet,
            "isIpv4InSubnet" => IsIpv4InSubnet,
            "isIpv6InSubnet" => IsIpv6InSubnet,
            "ipv4ToNumber" => Ipv4ToNumber,
            "isPrivateIP" => IsPrivateIp,
            "isPublicIP" => IsPublicIp,
            "isReservedIP" => IsReservedIp,
            "md5" => Md5,
            "sha256" => Sha256,
            _ => return None,
        })
    }
}

/// Milliseconds of a fixed-length period; `None` for months, quarters and years.
pub(crate) fn fixed_period_ms(p: Period) -> Option<i64> {
    let unit: i64 = match p.unit {
        TimeUnit::Millisecond => 1,
        TimeUnit::Second => 1_000,
        TimeUnit::Minute => 60_000,
        TimeUnit::Hour => 3_600_000,
        TimeUnit::Day => 86_400_000,
        TimeUnit::Week => 7 * 86_400_000,
        TimeUnit::Month | TimeUnit::Quarter | TimeUnit::Year => return None,
    };
    i64::try_from(p.amount).ok()?.checked_mul(unit)
}

/// Floors `ts` to the period: fixed periods from the epoch (weeks from Monday), months,
/// quarters and years on the UTC calendar.
pub(crate) fn floor_to(ts: i64, p: Period) -> i64 {
    match p.unit {
        TimeUnit::Week => {
            // 1970-01-05 was a Monday.
            let monday = 4 * 86_400_000;
            let len = fixed_period_ms(p).unwrap_or(1).max(1);
            (ts - monday).div_euclid(len) * len + monday
        }
        TimeUnit::Month | TimeUnit::Quarter | TimeUnit::Year => {
            let Some(t) = Utc.timestamp_millis_opt(ts).single() else { return ts };
            let months_per = match p.unit {
                TimeUnit::Month => 1,
                TimeUnit::Quarter => 3,
                _ => 12,
            } * p.amount.max(1) as i64;
            let index = t.year() as i64 * 12 + t.month0() as i64;
            let floored = index.div_euclid(months_per) * months_per;
            let (y, m) = (floored.div_euclid(12) as i32, floored.rem_euclid(12) as u32 + 1);
            Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().map_or(ts, |d| d.timestamp_millis())
        }
        _ => {
            let len = fixed_period_ms(p).unwrap_or(1).max(1);
            ts.div_euclid(len) * len
        }
    }
}

/// The start of the bin after the one starting at `floor` (a value of [`floor_to`]).
pub(crate) fn next_bin(floor: i64, p: Period) -> i64 {
    match (p.unit, fixed_period_ms(p)) {
        (TimeUnit::Month | TimeUnit::Quarter | TimeUnit::Year, _) | (_, None) => {
            ceil_to(floor + 1, p)
        }
        (_, Some(len)) => floor + len.max(1),
    }
}

fn ceil_to(ts: i64, p: Period) -> i64 {
    let f = floor_to(ts, p);
    if f == ts {
        return ts;
    }
    match fixed_period_ms(p) {
        Some(len) if p.unit != TimeUnit::Week || len > 0 => f + len,
        _ => {
            // Calendar periods: the floor of a time just past the period's length.
            let mut probe = f + 28 * 86_400_000;
            while floor_to(probe, p) == f {
                probe += 86_400_000;
            }
            floor_to(probe, p)
        }
    }
}

fn num(v: Value) -> Option<f64> {
    v.as_f64()
}

fn b(x: bool) -> Value {
    Value::Bool(x)
}

fn one_zero(x: bool) -> Value {
    Value::Int(i64::from(x))
}

fn ts_of(v: &Value) -> Option<i64> {
    match v {
        Value::Time(t) => Some(*t),
        other => other.as_i64(),
    }
}

/// Calls a scalar function.
pub(crate) fn call(
    f: Scalar,
    args: &[CExpr],
    row: &mut Row<'_>,
    ctx: &EvalCtx<'_>,
    aggs: &[Value],
) -> Value {
    use Scalar::*;
    let mut arg = |i: usize| args.get(i).map_or(Value::Null, |a| eval(a, row, ctx, aggs));
    let text = |v: Value| v.as_text().map(|t| t.into_owned());
    match f {
        // Lazy ones first: they must not evaluate every argument.
        Coalesce => {
            for a in args {
                let v = eval(a, row, ctx, aggs);
                if !v.is_null() {
                    return v;
                }
            }
            Value::Null
        }
        If => {
            if eval(&args[0], row, ctx, aggs).truthy() {
                eval(&args[1], row, ctx, aggs)
            } else {
                eval(&args[2], row, ctx, aggs)
            }
        }
        Case => {
            let mut i = 0;
            while i + 1 < args.len() {
                if eval(&args[i], row, ctx, aggs).truthy() {
                    return eval(&args[i + 1], row, ctx, aggs);
                }
                i += 2;
            }
            if i < args.len() { eval(&args[i], row, ctx, aggs) } else { Value::Null }
        }
        Bin => match (&args[0], row.ts()) {
            (CExpr::Period(p), Some(ts)) => {
                let offset =
                    args.get(1).map_or(0, |o| eval(o, row, ctx, aggs).as_i64().unwrap_or(0));
                Value::Time(floor_to(ts - offset, *p) + offset)
            }
            _ => Value::Null,
        },
        DateFloor | DateCeil => {
            let t = arg(0);
            match (ts_of(&t), &args[1]) {
                (Some(t), CExpr::Period(p)) => {
                    Value::Time(if f == DateFloor { floor_to(t, *p) } else { ceil_to(t, *p) })
                }
                _ => Value::Null,
            }
        }
        Abs => arg(0).as_number().map_or(Value::Null, |n| match n {
            Value::Int(i) => i.checked_abs().map_or(Value::Float((i as f64).abs()), Value::Int),
            other => Value::float(other.as_f64().unwrap_or(0.0).abs()),
        }),
        Ceil => num(arg(0)).map_or(Value::Null, |x| Value::float(x.ceil())),
        Floor => num(arg(0)).map_or(Value::Null, |x| Value::float(x.floor())),
        Sqrt => num(arg(0)).filter(|x| *x >= 0.0).map_or(Value::Null, |x| Value::float(x.sqrt())),
        Log => num(arg(0)).filter(|x| *x > 0.0).map_or(Value::Null, |x| Value::float(x.ln())),
        Round => {
            let x = num(arg(0));
            let d = arg(1).as_i64().unwrap_or(0).clamp(0, 15) as i32;
            x.map_or(Value::Null, |x| {
                let m = 10f64.powi(d);
                Value::float((x * m).round() / m)
            })
        }
        Greatest | Least => {
            let mut best: Option<Value> = None;
            for a in args {
                let Some(n) = eval(a, row, ctx, aggs).as_number() else { continue };
                let better = match &best {
                    None => true,
                    Some(cur) => {
                        let o = natural_cmp(&n, cur);
                        if f == Greatest { o.is_gt() } else { o.is_lt() }
                    }
                };
                if better {
                    best = Some(n);
                }
            }
            best.unwrap_or_default()
        }
        Haversine => {
            let v: Vec<Option<f64>> = (0..4).map(|i| num(arg(i))).collect();
            match v.as_slice() {
                [Some(la1), Some(lo1), Some(la2), Some(lo2)] => {
                    let (p1, p2) = (la1.to_radians(), la2.to_radians());
                    let dp = (la2 - la1).to_radians();
                    let dl = (lo2 - lo1).to_radians();
                    let h =
                        (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
                    Value::float(2.0 * 6371.0 * h.sqrt().asin())
                }
                _ => Value::Null,
            }
        }
        ToNumber | ToDouble => arg(0).as_number().map_or(Value::Null, |n| {
            if f == ToDouble { Value::Float(n.as_f64().unwrap_or(0.0)) } else { n }
        }),
        ToInt => arg(0)
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map_or(Value::Null, |i| Value::Int(i.into())),
        ToLong => arg(0).as_i64().map_or(Value::Null, Value::Int),
        IsPresent => b(!arg(0).is_null()),
        IsNumeric => b(arg(0).as_number().is_some()),
        MessageSize => text(arg(0)).map_or(Value::Null, |t| Value::Int(t.len() as i64)),
        QueryStartTime => Value::Int(ctx.start_ms),
        QueryEndTime => Value::Int(ctx.end_ms),
        QueryTimeRange => Value::Int(ctx.end_ms - ctx.start_ms),
        IsEmpty => one_zero(text(arg(0)).is_none_or(|t| t.is_empty())),
        IsBlank => one_zero(text(arg(0)).is_none_or(|t| t.trim().is_empty())),
        Concat => {
            let mut out = String::new();
            for a in args {
                if let Some(t) = eval(a, row, ctx, aggs).as_text() {
                    out.push_str(&t);
                }
            }
            Value::str(&out)
        }
        Strlen => text(arg(0)).map_or(Value::Null, |t| Value::Int(t.chars().count() as i64)),
        ToUpper => text(arg(0)).map_or(Value::Null, |t| Value::str(&t.to_uppercase())),
        ToLower => text(arg(0)).map_or(Value::Null, |t| Value::str(&t.to_lowercase())),
        Ltrim | Rtrim | Trim => {
            let Some(t) = text(arg(0)) else { return Value::Null };
            let chars: Option<Vec<char>> = text(arg(1)).map(|c| c.chars().collect());
            let is_cut = |c: char| match &chars {
                Some(set) => set.contains(&c),
                None => c.is_whitespace(),
            };
            let out = match f {
                Ltrim => t.trim_start_matches(is_cut),
                Rtrim => t.trim_end_matches(is_cut),
                _ => t.trim_matches(is_cut),
            };
            Value::str(out)
        }
        Substr => {
            let Some(t) = text(arg(0)) else { return Value::Null };
            let start = arg(1).as_i64().unwrap_or(0).max(0) as usize;
            let len = args.get(2).map(|_| arg(2).as_i64().unwrap_or(0).max(0) as usize);
            let it = t.chars().skip(start);
            let out: String = match len {
                Some(n) => it.take(n).collect(),
                None => it.collect(),
            };
            Value::str(&out)
        }
        Replace => match (text(arg(0)), text(arg(1)), text(arg(2))) {
            (Some(t), Some(s), Some(r)) if !s.is_empty() => Value::str(&t.replace(&s, &r)),
            (Some(t), _, _) => Value::str(&t),
            _ => Value::Null,
        },
        StrContains => {
            let (t, s) = (text(arg(0)), text(arg(1)));
            let ci = args.len() > 2 && arg(2).truthy();
            match (t, s) {
                (Some(t), Some(s)) if ci => one_zero(t.to_lowercase().contains(&s.to_lowercase())),
                (Some(t), Some(s)) => one_zero(t.contains(&s)),
                _ => Value::Int(0),
            }
        }
        RegexReplace => match (text(arg(0)), text(arg(1)), text(arg(2))) {
            (Some(t), Some(p), Some(r)) => match regex::Regex::new(&p) {
                Ok(re) => Value::str(&re.replace_all(&t, r.as_str())),
                Err(_) => Value::Null,
            },
            _ => Value::Null,
        },
        StartsWith | EndsWith => match (text(arg(0)), text(arg(1))) {
            (Some(t), Some(p)) => {
                one_zero(if f == StartsWith { t.starts_with(&p) } else { t.ends_with(&p) })
            }
            _ => Value::Int(0),
        },
        UrlEncode => text(arg(0)).map_or(Value::Null, |t| {
            Value::str(
                &percent_encoding::utf8_percent_encode(&t, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            )
        }),
        UrlDecode => text(arg(0)).map_or(Value::Null, |t| {
            let t = t.replace('+', " ");
            percent_encoding::percent_decode_str(&t)
                .decode_utf8()
                .map_or(Value::Null, |s| Value::str(&s))
        }),
        Base64Encode => {
            use base64::Engine as _;
            text(arg(0)).map_or(Value::Null, |t| {
                Value::str(&base64::engine::general_purpose::STANDARD.encode(t.as_bytes()))
            })
        }
        Base64Decode => {
            use base64::Engine as _;
            text(arg(0))
                .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t.trim()).ok())
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .map_or(Value::Null, |s| Value::str(&s))
        }
        Split => match (text(arg(0)), text(arg(1))) {
            (Some(t), Some(d)) if !d.is_empty() => {
                Value::List(Arc::new(t.split(d.as_str()).map(Value::str).collect()))
            }
            _ => Value::Null,
        },
        HexToAscii => text(arg(0))
            .and_then(|t| {
                let h = t.trim_start_matches("0x");
                if h.len() % 2 != 0 {
                    return None;
                }
                let bytes: Option<Vec<u8>> = (0..h.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
                    .collect();
                String::from_utf8(bytes?).ok()
            })
            .map_or(Value::Null, |s| Value::str(&s)),
        HexToDec => text(arg(0))
            .and_then(|t| {
                let h = t.trim();
                let h = h.strip_prefix("0x").or_else(|| h.strip_prefix("0X")).unwrap_or(h);
                i64::from_str_radix(h, 16).ok()
            })
            .map_or(Value::Null, Value::Int),
        DecToHex => arg(0).as_i64().map_or(Value::Null, |i| Value::str(&format!("0x{i:x}"))),
        JsonParse => text(arg(0))
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .filter(|j| j.is_object() || j.is_array())
            .map_or(Value::Null, |j| Value::from_json(&j)),
        JsonStringify => match arg(0) {
            v @ (Value::Map(_) | Value::List(_)) => Value::str(&v.to_json().to_string()),
            _ => Value::Null,
        },
        JsonArraySize => match json_list(arg(0)) {
            Some(items) => Value::Int(items.len() as i64),
            None => Value::Null,
        },
        JsonArrayContains => {
            let needle = arg(1);
            match json_list(arg(0)) {
                Some(items) => one_zero(
                    items
                        .iter()
                        .any(|i| crate::value::Key(i.clone()) == crate::value::Key(needle.clone())),
                ),
                None => Value::Int(0),
            }
        }
        FromMillis => arg(0).as_i64().map_or(Value::Null, Value::Time),
        ToMillis => ts_of(&arg(0)).map_or(Value::Null, Value::Int),
        Now => Value::Int(ctx.now_ms.div_euclid(1000)),
        FormatDate => {
            let t = ts_of(&arg(0));
            let fmt = text(arg(1));
            match (t, fmt) {
                (Some(t), Some(fmt)) => format_date(t, &fmt),
                _ => Value::Null,
            }
        }
        IsValidIp => one_zero(ip(arg(0)).is_some()),
        IsValidIpV4 => one_zero(matches!(ip(arg(0)), Some(IpAddr::V4(_)))),
        IsValidIpV6 => one_zero(matches!(ip(arg(0)), Some(IpAddr::V6(_)))),
        IsIpInSubnet | IsIpv4InSubnet | IsIpv6InSubnet => {
            let addr = ip(arg(0));
            let net = text(arg(1));
            let ok = match (addr, net) {
                (Some(a), Some(n)) => {
                    in_subnet(a, &n).unwrap_or(false)
                        && match f {
                            IsIpv4InSubnet => a.is_ipv4(),
                            IsIpv6InSubnet => a.is_ipv6(),
                            _ => true,
                        }
                }
                _ => false,
            };
            one_zero(ok)
        }
        Ipv4ToNumber => match ip(arg(0)) {
            Some(IpAddr::V4(a)) => Value::Int(u32::from(a).into()),
            _ => Value::Null,
        },
        IsPrivateIp => one_zero(matches!(ip(arg(0)), Some(IpAddr::V4(a)) if a.is_private())),
        IsReservedIp => one_zero(ip(arg(0)).is_some_and(is_reserved)),
        IsPublicIp => one_zero(ip(arg(0)).is_some_and(|a| !is_reserved(a))),
        Md5 => {
            use md5::Digest as _;
            text(arg(0)).map_or(Value::Null, |t| hex(&md5::Md5::digest(t.as_bytes())))
        }
        Sha256 => {
            use sha2::Digest as _;
            text(arg(0)).map_or(Value::Null, |t| hex(&sha2::Sha256::digest(t.as_bytes())))
        }
    }
}

fn hex(bytes: &[u8]) -> Value {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    Value::str(&s)
}

fn json_list(v: Value) -> Option<Arc<Vec<Value>>> {
    match v {
        Value::List(items) => Some(items),
        Value::Str(s) => match serde_json::from_str::<serde_json::Value>(&s).ok()? {
            j @ serde_json::Value::Array(_) => match Value::from_json(&j) {
                Value::List(items) => Some(items),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

fn format_date(t: i64, fmt: &str) -> Value {
    use std::fmt::Write as _;
    let Some(dt) = Utc.timestamp_millis_opt(t).single() else { return Value::Null };
    let mut out = String::new();
    // chrono reports a bad format through fmt::Error; that is a null, not a failed query.
    if write!(out, "{}", dt.format(fmt)).is_err() {
        return Value::Null;
    }
    Value::str(&out)
}

fn ip(v: Value) -> Option<IpAddr> {
    v.as_text()?.trim().parse().ok()
}

fn in_subnet(a: IpAddr, cidr: &str) -> Option<bool> {
    let (net, bits) = cidr.trim().split_once('/')?;
    let net: IpAddr = net.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    Some(match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    })
}

/// Private, loopback, link-local, multicast, documentation, unspecified and the like.
fn is_reserved(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => {
            v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || v.is_multicast()
                || v.is_broadcast()
                || v.is_documentation()
                || v.is_unspecified()
                || v.octets()[0] == 0
                || v.octets()[0] >= 240
                || (v.octets()[0] == 100 && (v.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v) => {
            v.is_loopback()
                || v.is_unspecified()
                || v.is_multicast()
                || (v.segments()[0] & 0xfe00) == 0xfc00
                || (v.segments()[0] & 0xffc0) == 0xfe80
                || (v.segments()[0] == 0x2001 && v.segments()[1] == 0x0db8)
        }
    }
}

/// The canonical text a number takes as a string argument.
#[allow(dead_code)]
pub(crate) fn number_text(v: f64) -> String {
    format_float(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(amount: u64, unit: TimeUnit) -> Period {
        Period { amount, unit }
    }

    #[test]
    fn calendar_floors() {
        // 2024-05-17 13:45:10.123 UTC
        let t = 1_715_953_510_123;
        assert_eq!(
            crate::value::format_time(floor_to(t, p(5, TimeUnit::Minute))),
            "2024-05-17 13:45:00.000"
        );
        assert_eq!(
            crate::value::format_time(floor_to(t, p(1, TimeUnit::Month))),
            "2024-05-01 00:00:00.000"
        );
        assert_eq!(
            crate::value::format_time(floor_to(t, p(1, TimeUnit::Quarter))),
            "2024-04-01 00:00:00.000"
        );
        assert_eq!(
            crate::value::format_time(floor_to(t, p(1, TimeUnit::Year))),
            "2024-01-01 00:00:00.000"
        );
        // 2024-05-13 was a Monday.
        assert_eq!(
            crate::value::format_time(floor_to(t, p(1, TimeUnit::Week))),
            "2024-05-13 00:00:00.000"
        );
        assert_eq!(
            crate::value::format_time(ceil_to(t, p(1, TimeUnit::Month))),
            "2024-06-01 00:00:00.000"
        );
        assert_eq!(
            crate::value::format_time(ceil_to(t, p(1, TimeUnit::Hour))),
            "2024-05-17 14:00:00.000"
        );
    }

    #[test]
    fn subnets() {
        let a: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(in_subnet(a, "10.0.0.0/8"), Some(true));
        assert_eq!(in_subnet(a, "11.0.0.0/8"), Some(false));
        assert!(is_reserved("192.168.0.1".parse().unwrap()));
        assert!(!is_reserved("8.8.8.8".parse().unwrap()));
    }
}
