//! Who may call logsight, and what they may do: AWS Signature Version 4 verification,
//! IAM-style policies, and the principals file (`serve --auth FILE`).
//!
//! Pure: no I/O beyond reading the principals file, no async runtime. The server calls
//! [`Principals::verify`] with a request's method, URI, headers and body hash, then asks the
//! principal's [`Policy`] whether the action is allowed on the log group's ARN.
//!
//! # Layout
//! - [`sigv4`]: canonical requests, signing keys, [`sigv4::sign`] (for clients and tests) and
//!   the checks of [`Principals::verify`] (signed headers, payload hash, clock skew).
//! - [`policy`]: policy documents and their evaluation (explicit Deny wins; otherwise an Allow
//!   must match both the action and the resource, with `*` and `?` wildcards).
//! - [`principals`]: the principals file and the lookup by access key id.
//! - [`replay`]: a window of recently seen signatures, for transports that refuse replays.
//! - [`grpc`]: signing gRPC calls (path, host, timestamp, nonce, body hash) for clients.

pub mod grpc;
pub mod policy;
pub mod principals;
pub mod replay;
pub mod sigv4;

pub use policy::{Decision, Policy};
pub use principals::{Principal, Principals};
pub use sigv4::{Credentials, Verified};

/// Why a request was not authenticated, or a principals file not loaded. The request variants
/// map one to one onto AWS's exceptions (see each variant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header (AWS: MissingAuthenticationTokenException).
    #[error("Request is missing Authentication Token")]
    MissingToken,
    /// The access key id is not one of the principals (AWS: UnrecognizedClientException).
    #[error("The security token included in the request is invalid (unknown access key id {0:?})")]
    UnknownKey(String),
    /// The signature does not match the request (AWS: InvalidSignatureException).
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
    )]
    BadSignature,
    /// The request's timestamp is outside the clock-skew window (AWS:
    /// InvalidSignatureException "Signature expired").
    #[error(
        "Signature expired: {request_time} is now earlier than {earliest} or later than {latest} (the allowed clock skew is {skew_s} s)"
    )]
    Expired {
        /// The request's `X-Amz-Date`.
        request_time: String,
        /// The earliest time accepted now.
        earliest: String,
        /// The latest time accepted now.
        latest: String,
        /// The window's half-width in seconds.
        skew_s: i64,
    },
    /// The same signed request was seen before within the replay window (AWS:
    /// InvalidSignatureException).
    #[error("this signed request was already used; sign every request afresh")]
    Replayed,
    /// The `Authorization` header or a header it relies on is malformed (AWS:
    /// IncompleteSignatureException).
    #[error("{0}")]
    Malformed(String),
    /// The principals file could not be read or broke a rule.
    #[error("principals file {path}: {message}")]
    PrincipalsFile {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A policy document broke a rule.
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
}

/// Result with [`AuthError`].
pub type Result<T, E = AuthError> = std::result::Result<T, E>;
