//! The principals file: `[{"name", "access_key_id", "secret_access_key", "policy"}, ...]`.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::sigv4::{self, Credentials, Verified};
use crate::{AuthError, Policy, Result};

/// Someone who may call logsight: a name, a key pair and a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    name: String,
    credentials: Credentials,
    policy: Policy,
}

impl Principal {
    /// A principal.
    pub fn new(name: impl Into<String>, credentials: Credentials, policy: Policy) -> Self {
        Principal { name: name.into(), credentials, policy }
    }

    /// Its name (the audit trail's `userName`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its access key id.
    pub fn access_key_id(&self) -> &str {
        self.credentials.access_key_id()
    }

    /// What it may do.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    name: String,
    access_key_id: String,
    secret_access_key: String,
    policy: serde_json::Value,
}

/// Every principal, by access key id.
#[derive(Debug, Clone, Default)]
pub struct Principals {
    by_key: HashMap<String, Principal>,
}

impl Principals {
    /// Parses the file's text. Names and access key ids must be unique, secrets non-empty, and
    /// every policy valid.
    pub fn from_json(text: &str) -> Result<Self> {
        let raw: Vec<RawPrincipal> = serde_json::from_str(text)
            .map_err(|e| AuthError::InvalidPolicy(format!("not a list of principals: {e}")))?;
        let mut by_key = HashMap::new();
        let mut names = std::collections::HashSet::new();
        for p in raw {
            let bad =
                |m: String| Err(AuthError::InvalidPolicy(format!("principal {:?}: {m}", p.name)));
            if p.name.is_empty() || p.access_key_id.is_empty() {
                return bad("name and access_key_id must not be empty".into());
            }
            if p.secret_access_key.len() < 8 {
                return bad("secret_access_key must be at least 8 characters".into());
            }
            if !names.insert(p.name.clone()) {
                return bad("the name is used twice".into());
            }
            if by_key.contains_key(&p.access_key_id) {
                return bad(format!("access key id {:?} is used twice", p.access_key_id));
            }
            let policy = match Policy::from_value(p.policy) {
                Ok(policy) => policy,
                Err(e) => return bad(e.to_string()),
            };
            let creds = Credentials::new(p.access_key_id.clone(), p.secret_access_key);
            by_key.insert(p.access_key_id, Principal::new(p.name, creds, policy));
        }
        Ok(Principals { by_key })
    }

    /// Reads and parses a principals file.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |message: String| AuthError::PrincipalsFile {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Principals::from_json(&text).map_err(|e| err(e.to_string()))
    }

    /// The principal with `access_key_id`.
    pub fn get(&self, access_key_id: &str) -> Option<&Principal> {
        self.by_key.get(access_key_id)
    }

    /// How many principals there are.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Verifies a SigV4-signed request (see [`sigv4::verify`]) and names its principal.
    pub fn verify(
        &self,
        req: &sigv4::Request<'_>,
        payload_hash: &str,
        now_s: i64,
        skew_s: i64,
    ) -> Result<Verified<'_, Principal>> {
        sigv4::verify(req, payload_hash, now_s, skew_s, |akid| {
            self.by_key.get(akid).map(|p| (p, &p.credentials))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"[
      {"name": "ingest", "access_key_id": "AKIDINGEST", "secret_access_key": "ingest-secret",
       "policy": {"Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]}},
      {"name": "admin", "access_key_id": "AKIDADMIN", "secret_access_key": "admin-secret",
       "policy": {"Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}}
    ]"#;

    #[test]
    fn loads_and_looks_up() {
        let p = Principals::from_json(FILE).unwrap();
        assert_eq!(p.len(), 2);
        let admin = p.get("AKIDADMIN").unwrap();
        assert_eq!((admin.name(), admin.access_key_id()), ("admin", "AKIDADMIN"));
        assert!(p.get("AKIDNOBODY").is_none());
        assert!(!format!("{admin:?}").contains("admin-secret"));
    }

    #[test]
    fn refuses_bad_files() {
        let one = |name: &str, key: &str, secret: &str| {
            format!(
                r#"{{"name":"{name}","access_key_id":"{key}","secret_access_key":"{secret}","policy":{{"Statement":[]}}}}"#
            )
        };
        for (bad, why) in [
            (
                format!("[{},{}]", one("a", "K1", "secretsecret"), one("b", "K1", "secretsecret")),
                "used twice",
            ),
            (
                format!("[{},{}]", one("a", "K1", "secretsecret"), one("a", "K2", "secretsecret")),
                "used twice",
            ),
            (format!("[{}]", one("a", "K1", "short")), "at least 8"),
            (format!("[{}]", one("", "K1", "secretsecret")), "must not be empty"),
            ("{}".to_string(), "not a list"),
        ] {
            let e = Principals::from_json(&bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
