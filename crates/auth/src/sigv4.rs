//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`), as the AWS SDKs sign: a canonical request
//! over the method, path, query, signed headers and the payload's SHA-256, a credential scope
//! `DATE/REGION/SERVICE/aws4_request`, and an HMAC chain from the secret to the signing key.

use std::fmt;

use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::{AuthError, Result};

type HmacSha256 = Hmac<Sha256>;

/// The one algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// AWS's clock-skew window: a request is valid 15 minutes either side of its `X-Amz-Date`.
pub const DEFAULT_SKEW_S: i64 = 15 * 60;
/// The payload hash a client sends when it does not sign the body (streaming calls).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// RFC 3986's unreserved characters stay; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// An access key pair. The secret never leaves the process: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: String,
}

impl Credentials {
    /// A key pair.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        }
    }

    /// The public half.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub(crate) fn secret(&self) -> &str {
        &self.secret_access_key
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<hidden>")
            .finish()
    }
}

/// The parts of a request that SigV4 covers (the body enters as its SHA-256).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
}

impl<'a> Request<'a> {
    /// A view of a request.
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Request { method, uri, headers }
    }

    /// A header's values joined by `,` with whitespace trimmed and runs of spaces collapsed,
    /// as the canonical request writes them. `host` falls back to the URI's authority
    /// (HTTP/2 carries it as `:authority`).
    fn canonical_header(&self, name: &str) -> Option<String> {
        let values: Vec<String> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        if values.is_empty() {
            return (name == "host").then(|| self.uri.authority().map(|a| a.to_string())).flatten();
        }
        Some(values.join(","))
    }

    /// The `Authorization` header, if present and text.
    pub fn authorization(&self) -> Option<&'a str> {
        self.header("authorization")
    }

    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The SHA-256 of `bytes`, lowercase hex: the payload hash of a signed body.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The canonical URI: for every service but S3 each path segment is percent-encoded again
/// (clients sign the already-encoded path, encoded once more).
fn canonical_uri(path: &str, service: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    if service == "s3" {
        return path.to_owned();
    }
    path.split('/')
        .map(|seg| utf8_percent_encode(seg, UNRESERVED).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The canonical query: parameters decoded, re-encoded strictly, sorted by name then value.
fn canonical_query(query: &str) -> String {
    let enc = |s: &str| {
        let decoded = percent_decode_str(&s.replace('+', "%20")).decode_utf8_lossy().into_owned();
        utf8_percent_encode(&decoded, UNRESERVED).to_string()
    };
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (enc(k), enc(v)),
            None => (enc(p), String::new()),
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// The canonical request of `req` over `signed_headers` (lowercase, sorted).
pub fn canonical_request(
    req: &Request<'_>,
    signed_headers: &[String],
    payload_hash: &str,
    service: &str,
) -> Result<String> {
    let mut headers = String::new();
    for name in signed_headers {
        let value = req.canonical_header(name).ok_or_else(|| {
            AuthError::Malformed(format!("signed header {name:?} is missing from the request"))
        })?;
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&value);
        headers.push('\n');
    }
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.as_str(),
        canonical_uri(req.uri.path(), service),
        canonical_query(req.uri.query().unwrap_or("")),
        headers,
        signed_headers.join(";"),
        payload_hash
    ))
}

/// The credential scope `DATE/REGION/SERVICE/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    date: String,
    region: String,
    service: String,
}

impl Scope {
    /// The scope of a request signed on `date` (YYYYMMDD) for `region` and `service`.
    pub fn new(date: &str, region: &str, service: &str) -> Self {
        Scope { date: date.into(), region: region.into(), service: service.into() }
    }

    /// The region the client signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The service the client signed for.
    pub fn service(&self) -> &str {
        &self.service
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/aws4_request", self.date, self.region, self.service)
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The signing key: HMAC chain from `"AWS4" + secret` through date, region, service.
fn signing_key(secret: &str, scope: &Scope) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), scope.date.as_bytes());
    let k = hmac(&k, scope.region.as_bytes());
    let k = hmac(&k, scope.service.as_bytes());
    hmac(&k, b"aws4_request")
}

fn string_to_sign(amz_date: &str, scope: &Scope, canonical: &str) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical.as_bytes()))
}

/// Signs `req` (every header in it is signed, plus `host`); returns the `Authorization` value.
/// `amz_date` (`YYYYMMDDTHHMMSSZ`) must also be the request's `x-amz-date` header.
pub fn sign(
    req: &Request<'_>,
    payload_hash: &str,
    creds: &Credentials,
    region: &str,
    service: &str,
    amz_date: &str,
) -> Result<String> {
    let mut signed: Vec<String> = req.headers.keys().map(|k| k.as_str().to_owned()).collect();
    if !signed.iter().any(|h| h == "host") && req.uri.authority().is_some() {
        signed.push("host".into());
    }
    signed.sort();
    signed.dedup();
    let date = amz_date.get(..8).ok_or_else(|| AuthError::Malformed("bad x-amz-date".into()))?;
    let scope = Scope::new(date, region, service);
    let canonical = canonical_request(req, &signed, payload_hash, service)?;
    let sts = string_to_sign(amz_date, &scope, &canonical);
    let signature = hex::encode(hmac(&signing_key(creds.secret(), &scope), sts.as_bytes()));
    Ok(format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        creds.access_key_id(),
        signed.join(";")
    ))
}

/// An `Authorization` header, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    access_key_id: String,
    scope: Scope,
    signed_headers: Vec<String>,
    signature: Vec<u8>,
}

impl Authorization {
    /// Parses `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
    /// SignedHeaders=a;b, Signature=HEX`.
    pub fn parse(value: &str) -> Result<Self> {
        let bad = |why: &str| AuthError::Malformed(format!("Authorization header {why}"));
        let rest = value
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| bad(&format!("must start with {ALGORITHM}")))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',').map(str::trim) {
            match part.split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => return Err(bad(&format!("has an unexpected part {part:?}"))),
            }
        }
        let credential = credential.ok_or_else(|| bad("lacks Credential="))?;
        let fields: Vec<&str> = credential.split('/').collect();
        let [akid, date, region, service, "aws4_request"] = fields[..] else {
            return Err(bad(
                "has a Credential not of the form AKID/DATE/REGION/SERVICE/aws4_request",
            ));
        };
        let signed_headers: Vec<String> = signed
            .ok_or_else(|| bad("lacks SignedHeaders="))?
            .split(';')
            .map(str::to_owned)
            .collect();
        let signature = hex::decode(signature.ok_or_else(|| bad("lacks Signature="))?)
            .map_err(|_| bad("has a Signature that is not hex"))?;
        Ok(Authorization {
            access_key_id: akid.to_owned(),
            scope: Scope::new(date, region, service),
            signed_headers,
            signature,
        })
    }

    /// The access key id the request claims.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The credential scope the request claims.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

/// What a verified request proves: who signed it, for which region and service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<'p, P> {
    /// The signer.
    pub principal: &'p P,
    /// The scope signed.
    pub scope: Scope,
    /// The signature (for replay checks).
    pub signature: String,
}

/// Parses `YYYYMMDDTHHMMSSZ` into epoch seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").ok().map(|t| t.and_utc().timestamp())
}

/// Formats epoch seconds as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(epoch_s: i64) -> String {
    chrono::DateTime::from_timestamp(epoch_s, 0)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default()
}

/// Verifies `req` against the secret `lookup` returns for its access key id: the signature
/// over the signed headers (which must include `host` and `x-amz-date`) and `payload_hash`,
/// the scope's date, and the timestamp within `skew_s` of `now_s`.
pub fn verify<'p, P>(
    req: &Request<'_>,
    payload_hash: &str,
    now_s: i64,
    skew_s: i64,
    lookup: impl FnOnce(&str) -> Option<(&'p P, &'p Credentials)>,
) -> Result<Verified<'p, P>> {
    let header = req.header("authorization").ok_or(AuthError::MissingToken)?;
    let auth = Authorization::parse(header)?;
    let (principal, creds) = lookup(&auth.access_key_id)
        .ok_or_else(|| AuthError::UnknownKey(auth.access_key_id.clone()))?;
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(AuthError::Malformed(format!("SignedHeaders must include {required:?}")));
        }
    }
    let amz_date = req
        .header("x-amz-date")
        .ok_or_else(|| AuthError::Malformed("the x-amz-date header is missing".into()))?;
    let t = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::Malformed(format!("x-amz-date {amz_date:?} is not YYYYMMDDTHHMMSSZ"))
    })?;
    if !amz_date.starts_with(&auth.scope.date) {
        return Err(AuthError::Malformed(format!(
            "the credential scope's date {} is not the date of x-amz-date {amz_date}",
            auth.scope.date
        )));
    }
    let canonical =
        canonical_request(req, &auth.signed_headers, payload_hash, &auth.scope.service)?;
    let sts = string_to_sign(amz_date, &auth.scope, &canonical);
    let mut mac = HmacSha256::new_from_slice(&signing_key(creds.secret(), &auth.scope))
        .expect("HMAC takes keys of any length");
    mac.update(sts.as_bytes());
    // Constant-time comparison.
    mac.verify_slice(&auth.signature).map_err(|_| AuthError::BadSignature)?;
    if (t - now_s).abs() > skew_s {
        return Err(AuthError::Expired {
            request_time: amz_date.to_owned(),
            earliest: format_amz_date(now_s - skew_s),
            latest: format_amz_date(now_s + skew_s),
            skew_s,
        });
    }
    Ok(Verified { principal, scope: auth.scope, signature: hex::encode(&auth.signature) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credentials and time of AWS's SigV4 test suite.
    fn suite() -> (Credentials, &'static str) {
        (
            Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            "20150830T123600Z",
        )
    }

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> (Method, Uri, HeaderMap) {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::header::HeaderName::from_bytes(k.to_lowercase().as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        (method.parse().unwrap(), uri.parse().unwrap(), map)
    }

    fn signature_of(authorization: &str) -> &str {
        authorization.rsplit("Signature=").next().unwrap()
    }

    /// Vectors of AWS's SigV4 test suite (`aws-sig-v4-test-suite`: get-vanilla, post-vanilla,
    /// get-vanilla-query-order-key-case) and of the S3 SigV4 documentation (GET with Range).
    #[test]
    fn aws_published_vectors() {
        let (creds, date) = suite();
        let cases = [
            ("GET", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            ("POST", "/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
            (
                "GET",
                "/?Param2=value2&Param1=value1",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
        ];
        for (method, path, want) in cases {
            let (m, u, h) =
                request(method, path, &[("Host", "example.amazonaws.com"), ("X-Amz-Date", date)]);
            let req = Request::new(&m, &u, &h);
            let auth = sign(&req, &sha256_hex(b""), &creds, "us-east-1", "service", date).unwrap();
            assert_eq!(signature_of(&auth), want, "{method} {path}");
            assert!(auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, "
            ));
        }
        // The canonical request's hash of get-vanilla, as the suite prints it.
        let (m, u, h) =
            request("GET", "/", &[("Host", "example.amazonaws.com"), ("X-Amz-Date", date)]);
        let c = canonical_request(
            &Request::new(&m, &u, &h),
            &["host".into(), "x-amz-date".into()],
            &sha256_hex(b""),
            "service",
        )
        .unwrap();
        assert_eq!(
            sha256_hex(c.as_bytes()),
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );

        let s3 =
            Credentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        let empty = sha256_hex(b"");
        let (m, u, h) = request(
            "GET",
            "/test.txt",
            &[
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("Range", "bytes=0-9"),
                ("x-amz-content-sha256", &empty),
                ("x-amz-date", "20130524T000000Z"),
            ],
        );
        let auth =
            sign(&Request::new(&m, &u, &h), &empty, &s3, "us-east-1", "s3", "20130524T000000Z")
                .unwrap();
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    fn signed(creds: &Credentials, date: &str, body: &[u8]) -> (Method, Uri, HeaderMap) {
        let (m, u, mut h) = request(
            "POST",
            "/",
            &[
                ("Host", "localhost:7071"),
                ("X-Amz-Date", date),
                ("X-Amz-Target", "Logs_20140328.CreateLogGroup"),
            ],
        );
        let auth =
            sign(&Request::new(&m, &u, &h), &sha256_hex(body), creds, "us-east-1", "logs", date)
                .unwrap();
        h.insert("authorization", auth.parse().unwrap());
        (m, u, h)
    }

    #[test]
    fn verify_accepts_a_good_signature_and_names_each_failure() {
        let creds = Credentials::new("AKID", "secret");
        let date = "20240501T120000Z";
        let now = parse_amz_date(date).unwrap();
        let body = br#"{"logGroupName":"app"}"#;
        let (m, u, h) = signed(&creds, date, body);
        let req = Request::new(&m, &u, &h);
        let lookup = |k: &str| (k == "AKID").then_some((&(), &creds));
        let v = verify(&req, &sha256_hex(body), now + 60, DEFAULT_SKEW_S, lookup).unwrap();
        assert_eq!((v.scope.region(), v.scope.service()), ("us-east-1", "logs"));

        // A changed body, a wrong secret, a changed signed header: bad signature.
        let r = verify(&req, &sha256_hex(b"{}"), now, DEFAULT_SKEW_S, lookup);
        assert_eq!(r.unwrap_err(), AuthError::BadSignature);
        let other = Credentials::new("AKID", "other");
        let r = verify(&req, &sha256_hex(body), now, DEFAULT_SKEW_S, |_| Some((&(), &other)));
        assert_eq!(r.unwrap_err(), AuthError::BadSignature);
        let mut h2 = h.clone();
        h2.insert("x-amz-target", "Logs_20140328.DeleteLogGroup".parse().unwrap());
        let r = verify(&Request::new(&m, &u, &h2), &sha256_hex(body), now, DEFAULT_SKEW_S, lookup);
        assert_eq!(r.unwrap_err(), AuthError::BadSignature);
        // Unknown key.
        let r =
            verify(&req, &sha256_hex(body), now, DEFAULT_SKEW_S, |_| None::<(&(), &Credentials)>);
        assert_eq!(r.unwrap_err(), AuthError::UnknownKey("AKID".into()));
        // Outside the window either way; just inside it.
        for off in [DEFAULT_SKEW_S + 1, -DEFAULT_SKEW_S - 1] {
            let r = verify(&req, &sha256_hex(body), now + off, DEFAULT_SKEW_S, lookup);
            assert!(matches!(r, Err(AuthError::Expired { .. })), "{off}: {r:?}");
        }
        assert!(
            verify(&req, &sha256_hex(body), now + DEFAULT_SKEW_S, DEFAULT_SKEW_S, lookup).is_ok()
        );
        // No Authorization header.
        let mut h3 = h.clone();
        h3.remove("authorization");
        let r = verify(&Request::new(&m, &u, &h3), &sha256_hex(body), now, DEFAULT_SKEW_S, lookup);
        assert_eq!(r.unwrap_err(), AuthError::MissingToken);
    }

    #[test]
    fn malformed_authorization_headers_are_refused_clearly() {
        for bad in [
            "Bearer x",
            "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/logs, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/logs/aws4_request, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20240501/us-east-1/logs/aws4_request, SignedHeaders=host, Signature=zz",
            "AWS4-HMAC-SHA256 Foo=bar",
        ] {
            assert!(matches!(Authorization::parse(bad), Err(AuthError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn amz_dates_round_trip() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t, 1_440_938_160);
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert_eq!(parse_amz_date("2015-08-30"), None);
    }

    #[test]
    fn debug_hides_the_secret() {
        let s = format!("{:?}", Credentials::new("AKID", "topsecret"));
        assert!(s.contains("AKID") && !s.contains("topsecret"), "{s}");
    }
}
