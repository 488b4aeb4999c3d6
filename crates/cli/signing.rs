//! Signing client calls for a server run with `--auth`: where the keys come from, and the tower
//! service that signs every gRPC call (`logsight_auth::grpc`) before the channel sends it.
//!
//! Keys are looked up as the AWS CLI looks them up: `AWS_ACCESS_KEY_ID` and
//! `AWS_SECRET_ACCESS_KEY`, else the profile `AWS_PROFILE` (or `default`) of the shared
//! credentials file (`AWS_SHARED_CREDENTIALS_FILE`, or `~/.aws/credentials`). The region is
//! `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, or `us-east-1`. Without keys,
//! calls go unsigned (a server without `--auth` takes them).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Full};
use logsight_auth::Credentials;
use logsight_auth::sigv4::{UNSIGNED_PAYLOAD, sha256_hex};
use logsight_server::grpc_calls::STREAMING_REQUESTS;
use tonic::transport::Channel;

/// The region signed for when none is configured.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Keys and the region to sign with.
#[derive(Debug, Clone)]
pub struct Signer {
    credentials: Credentials,
    region: String,
}

/// Where the keys are looked up; `std::env` in the binary, a map in tests.
fn lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Signer>> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    let env_region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => {
            let region = env_region.unwrap_or_else(|| DEFAULT_REGION.into());
            return Ok(Some(Signer { credentials: Credentials::new(id, secret), region }));
        }
        (Some(_), None) => bail!("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"),
        (None, Some(_)) => bail!("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"),
        (None, None) => {}
    }
    let named = var("AWS_PROFILE");
    let profile = named.clone().unwrap_or_else(|| "default".into());
    let path = var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".aws").join("credentials")));
    let Some(path) = path.filter(|p| p.exists()) else {
        if let Some(p) = named {
            bail!("AWS_PROFILE={p:?} but there is no credentials file (~/.aws/credentials)");
        }
        return Ok(None);
    };
    let file = ini::Ini::load_from_file(&path)
        .with_context(|| format!("reading the credentials file {}", path.display()))?;
    let Some(section) = file.section(Some(profile.as_str())) else {
        if named.is_some() {
            bail!("the credentials file {} has no profile [{profile}]", path.display());
        }
        return Ok(None);
    };
    let (Some(id), Some(secret)) =
        (section.get("aws_access_key_id"), section.get("aws_secret_access_key"))
    else {
        bail!(
            "profile [{profile}] of {} needs aws_access_key_id and aws_secret_access_key",
            path.display()
        );
    };
    let region = env_region
        .or_else(|| section.get("region").map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_REGION.into());
    Ok(Some(Signer { credentials: Credentials::new(id, secret), region }))
}

impl Signer {
    /// The keys of this environment, if any.
    pub fn from_env() -> Result<Option<Signer>> {
        lookup(&|k| std::env::var(k).ok())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A channel that signs each call with `signer` (or sends it as it is, without one).
#[derive(Debug, Clone)]
pub struct Signing {
    inner: Channel,
    /// The endpoint's scheme and authority: what the channel sends as `:authority`.
    origin: Uri,
    signer: Option<Arc<Signer>>,
}

impl Signing {
    /// Signs calls to `origin` (the endpoint URL) made through `inner`.
    pub fn new(inner: Channel, origin: Uri, signer: Option<Signer>) -> Self {
        Signing { inner, origin, signer: signer.map(Arc::new) }
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Signing {
    type Response = http::Response<tonic::body::Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        // The ready channel is the one to call; leave a fresh clone in its place.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let (signer, origin) = (self.signer.clone(), self.origin.clone());
        Box::pin(async move {
            let Some(signer) = signer else { return inner.call(req).await.map_err(Into::into) };
            let (mut parts, body) = req.into_parts();
            let path = parts.uri.path().to_owned();
            // One-message requests are signed with their body (the stream of a streaming one
            // is not known yet when the call starts).
            let (body, payload_hash) = if STREAMING_REQUESTS.contains(&path.as_str()) {
                (body, UNSIGNED_PAYLOAD.to_owned())
            } else {
                let bytes: Bytes = body.collect().await?.to_bytes();
                let hash = sha256_hex(&bytes);
                (tonic::body::Body::new(Full::new(bytes).map_err(|e| match e {})), hash)
            };
            let mut uri = origin.into_parts();
            uri.path_and_query = parts.uri.path_and_query().cloned();
            let uri = Uri::from_parts(uri)?;
            let nonce = uuid::Uuid::new_v4().simple().to_string();
            let now_s = chrono::Utc::now().timestamp();
            let headers = logsight_auth::grpc::sign_call(
                &uri,
                &payload_hash,
                &signer.credentials,
                &signer.region,
                now_s,
                &nonce,
            )?;
            parts.headers.extend(headers);
            inner.call(http::Request::from_parts(parts, body)).await.map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<Option<Signer>> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        lookup(&move |k| map.get(k).cloned())
    }

    #[test]
    fn keys_come_from_the_environment_then_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default-secret\n\n\
             [ops]\naws_access_key_id=AKIDOPS\naws_secret_access_key=ops-secret\nregion=eu-west-1\n\n\
             [broken]\naws_access_key_id=AKIDBROKEN\n",
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let s = with(&[("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "env-secret")])
            .unwrap()
            .unwrap();
        assert_eq!((s.credentials.access_key_id(), s.region.as_str()), ("AKIDENV", "us-east-1"));
        // The environment wins over the file; the region from AWS_REGION.
        let s = with(&[
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_SHARED_CREDENTIALS_FILE", file),
            ("AWS_REGION", "ap-south-1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((s.credentials.access_key_id(), s.region.as_str()), ("AKIDENV", "ap-south-1"));
        let s = with(&[("AWS_SHARED_CREDENTIALS_FILE", file)]).unwrap().unwrap();
        assert_eq!(s.credentials.access_key_id(), "AKIDDEFAULT");
        let s = with(&[("AWS_SHARED_CREDENTIALS_FILE", file), ("AWS_PROFILE", "ops")])
            .unwrap()
            .unwrap();
        assert_eq!((s.credentials.access_key_id(), s.region.as_str()), ("AKIDOPS", "eu-west-1"));
        // Nothing configured: unsigned.
        assert!(with(&[("HOME", dir.path().join("nohome").to_str().unwrap())]).unwrap().is_none());
        // Mistakes are errors, not silently unsigned calls.
        for bad in [
            vec![("AWS_ACCESS_KEY_ID", "AKID")],
            vec![("AWS_SHARED_CREDENTIALS_FILE", file), ("AWS_PROFILE", "nosuch")],
            vec![("AWS_SHARED_CREDENTIALS_FILE", file), ("AWS_PROFILE", "broken")],
            vec![("AWS_PROFILE", "ops"), ("HOME", "/nonexistent")],
        ] {
            assert!(with(&bad).is_err(), "{bad:?}");
        }
    }
}
