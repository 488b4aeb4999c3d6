//! Signing gRPC calls with the principals' keys: SigV4 over the call as HTTP/2 carries it.
//!
//! A gRPC call is an HTTP/2 `POST` to `/package.Service/Method`. The client signs, as SigV4
//! signs any request: the method, the path, the `host` (the `:authority`), an `x-amz-date`
//! timestamp, a random `x-logsight-nonce`, and the SHA-256 of the request body (the
//! length-prefixed message exactly as sent), or [`UNSIGNED_PAYLOAD`](crate::sigv4::UNSIGNED_PAYLOAD)
//! for calls whose request is a stream. The headers this module returns go into the call's
//! metadata; the secret never leaves the client. The server verifies the signature with
//! [`Principals::verify`](crate::Principals::verify) and the same clock-skew window as HTTP,
//! and refuses a signature it has seen before within that window, so a captured call can not be
//! replayed.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use crate::sigv4::{self, Credentials};
use crate::{AuthError, Result};

/// The signed header carrying a random value unique to each call (replay protection).
pub const NONCE_HEADER: &str = "x-logsight-nonce";
/// The signed header carrying the call's time, `YYYYMMDDTHHMMSSZ`.
pub const DATE_HEADER: &str = "x-amz-date";
/// The service name in the credential scope.
pub const SERVICE: &str = "logs";

/// The metadata that signs a call to `uri` (scheme, authority and the method's path) whose
/// body hashes to `payload_hash`, made at `now_s` with `nonce`: `x-amz-date`,
/// `x-logsight-nonce` and `authorization`.
pub fn sign_call(
    uri: &Uri,
    payload_hash: &str,
    creds: &Credentials,
    region: &str,
    now_s: i64,
    nonce: &str,
) -> Result<HeaderMap> {
    if uri.authority().is_none() {
        return Err(AuthError::Malformed(format!("the call's URI {uri} has no host")));
    }
    let value = |v: &str| {
        HeaderValue::from_str(v)
            .map_err(|_| AuthError::Malformed(format!("{v:?} is not a valid header value")))
    };
    let amz_date = sigv4::format_amz_date(now_s);
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static(DATE_HEADER), value(&amz_date)?);
    headers.insert(HeaderName::from_static(NONCE_HEADER), value(nonce)?);
    let req = sigv4::Request::new(&Method::POST, uri, &headers);
    let authorization = sigv4::sign(&req, payload_hash, creds, region, SERVICE, &amz_date)?;
    headers.insert(http::header::AUTHORIZATION, value(&authorization)?);
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::{DEFAULT_SKEW_S, Request, UNSIGNED_PAYLOAD, sha256_hex, verify};

    const NOW: i64 = 1_764_158_400; // 2025-11-26T12:00:00Z

    fn call(uri: &str, body: &[u8], creds: &Credentials) -> (Uri, HeaderMap) {
        let uri: Uri = uri.parse().unwrap();
        let h = sign_call(&uri, &sha256_hex(body), creds, "eu-west-1", NOW, "n-1").unwrap();
        (uri, h)
    }

    #[test]
    fn a_signed_call_verifies_and_binds_path_body_host_and_nonce() {
        let creds = Credentials::new("AKID", "secret-key");
        let lookup = |k: &str| (k == "AKID").then_some((&(), &creds));
        let body = b"\0\0\0\0\x05\x0a\x03app";
        let (uri, h) = call("http://127.0.0.1:7070/logsight.v1.Logs/CreateLogGroup", body, &creds);
        assert_eq!(h.get(DATE_HEADER).unwrap(), "20251126T120000Z");
        let auth = h.get("authorization").unwrap().to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID/20251126/eu-west-1/logs/aws4_request, SignedHeaders=host;x-amz-date;x-logsight-nonce, "),
            "{auth}"
        );
        let ok = |uri: &Uri, h: &HeaderMap, body: &[u8]| {
            verify(
                &Request::new(&Method::POST, uri, h),
                &sha256_hex(body),
                NOW,
                DEFAULT_SKEW_S,
                lookup,
            )
        };
        let v = ok(&uri, &h, body).unwrap();
        assert_eq!(v.scope.region(), "eu-west-1");

        // Another method, another host, another body, another nonce: not the signed call.
        let other: Uri = "http://127.0.0.1:7070/logsight.v1.Logs/DeleteLogGroup".parse().unwrap();
        assert_eq!(ok(&other, &h, body).unwrap_err(), AuthError::BadSignature);
        let other: Uri = "http://10.0.0.1:7070/logsight.v1.Logs/CreateLogGroup".parse().unwrap();
        assert_eq!(ok(&other, &h, body).unwrap_err(), AuthError::BadSignature);
        assert_eq!(ok(&uri, &h, b"\0\0\0\0\0").unwrap_err(), AuthError::BadSignature);
        let mut h2 = h.clone();
        h2.insert(NONCE_HEADER, "n-2".parse().unwrap());
        assert_eq!(ok(&uri, &h2, body).unwrap_err(), AuthError::BadSignature);
        // The wrong secret.
        let (_, h3) = call(&uri.to_string(), body, &Credentials::new("AKID", "other-key"));
        assert_eq!(ok(&uri, &h3, body).unwrap_err(), AuthError::BadSignature);
    }

    #[test]
    fn streaming_calls_sign_an_unsigned_payload_and_uris_need_a_host() {
        let creds = Credentials::new("AKID", "secret-key");
        let uri: Uri = "http://h:1/logsight.v1.Logs/IngestStream".parse().unwrap();
        let h = sign_call(&uri, UNSIGNED_PAYLOAD, &creds, "us-east-1", NOW, "n").unwrap();
        let lookup = |_: &str| Some((&(), &creds));
        let req = Request::new(&Method::POST, &uri, &h);
        verify(&req, UNSIGNED_PAYLOAD, NOW, DEFAULT_SKEW_S, lookup).unwrap();
        let path_only: Uri = "/logsight.v1.Logs/IngestStream".parse().unwrap();
        let e = sign_call(&path_only, UNSIGNED_PAYLOAD, &creds, "us-east-1", NOW, "n");
        assert!(matches!(e, Err(AuthError::Malformed(_))), "{e:?}");
    }
}
