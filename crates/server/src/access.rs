//! Who is calling and whether they may: authentication of signed requests (SigV4, through
//! `logsight-auth`) and authorization of each operation on its log group by the caller's
//! policy. Without principals (`serve` without `--auth`) every call is anonymous and allowed.

use std::sync::{Arc, Mutex};

use logsight_auth::sigv4::{self, Authorization};
use logsight_auth::{Decision, Principals, replay::ReplayGuard};

use crate::audit::{ACCOUNT_ID, Caller};
use crate::error::ServiceError;

/// The region named in ARNs and records when a request names none.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Signatures remembered at most for replay checks.
const REPLAY_CAPACITY: usize = 1 << 20;

/// An authenticated caller and the region it signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Who.
    pub caller: Caller,
    /// The region of the request's credential scope, or [`DEFAULT_REGION`].
    pub region: String,
}

/// The ARN of a log group as policies name it
/// (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME`).
pub fn group_arn(region: &str, group: &str) -> String {
    format!("arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{group}")
}

/// Authentication and authorization for every protocol.
#[derive(Debug)]
pub struct Access {
    principals: Option<Arc<Principals>>,
    skew_s: i64,
    replay: Mutex<ReplayGuard>,
}

impl Access {
    /// No authentication: every call is anonymous and allowed.
    pub fn open() -> Self {
        Access::new(None)
    }

    /// Calls must be signed by one of `principals` (or by nobody, with `None`).
    pub fn new(principals: Option<Principals>) -> Self {
        let skew_s = sigv4::DEFAULT_SKEW_S;
        Access {
            principals: principals.map(Arc::new),
            skew_s,
            replay: Mutex::new(ReplayGuard::new(2 * skew_s, REPLAY_CAPACITY)),
        }
    }

    /// Whether calls must be signed.
    pub fn required(&self) -> bool {
        self.principals.is_some()
    }

    /// Who a request claims to be, for the audit record of a call refused before (or while)
    /// authenticating it.
    pub fn claimed(&self, req: &sigv4::Request<'_>) -> Identity {
        let parsed = req.authorization().and_then(|h| Authorization::parse(h).ok());
        Identity {
            caller: if self.required() {
                Caller::Unauthenticated {
                    access_key_id: parsed.as_ref().map(|a| a.access_key_id().to_owned()),
                }
            } else {
                Caller::Anonymous
            },
            region: parsed
                .map_or_else(|| DEFAULT_REGION.to_owned(), |a| a.scope().region().to_owned()),
        }
    }

    /// Verifies `req`'s signature over `payload_hash` at `now_s`. With `refuse_replays`, a
    /// signature seen before within the window is refused (for the gRPC API, whose client
    /// signs a nonce into every call). Without principals, returns the anonymous caller.
    pub fn authenticate(
        &self,
        req: &sigv4::Request<'_>,
        payload_hash: &str,
        now_s: i64,
        refuse_replays: bool,
    ) -> Result<Identity, ServiceError> {
        let Some(principals) = &self.principals else {
            return Ok(self.claimed(req));
        };
        let v = principals.verify(req, payload_hash, now_s, self.skew_s)?;
        if refuse_replays {
            self.replay.lock().unwrap_or_else(|e| e.into_inner()).check(&v.signature, now_s)?;
        }
        Ok(Identity {
            caller: Caller::Principal {
                name: v.principal.name().to_owned(),
                access_key_id: v.principal.access_key_id().to_owned(),
            },
            region: v.scope.region().to_owned(),
        })
    }

    /// Whether `identity` may perform `operation` on `group` (on every group, `log-group:*`,
    /// for operations that name none): explicit Deny wins; otherwise an Allow must match the
    /// action `logs:OPERATION` and the group's ARN (or its `:*` form).
    pub fn authorize(
        &self,
        identity: &Identity,
        operation: &str,
        group: Option<&str>,
    ) -> Result<(), ServiceError> {
        let arn = group_arn(&identity.region, group.unwrap_or("*"));
        let all = format!("{arn}:*");
        self.authorize_action(identity, &format!("logs:{operation}"), &[&arn, &all])
    }

    /// Whether `identity` may perform `action` (`service:Operation`) on any of `resources`
    /// (the first is the one named in a refusal): explicit Deny wins; otherwise an Allow must
    /// match the action and a resource.
    pub fn authorize_action(
        &self,
        identity: &Identity,
        action: &str,
        resources: &[&str],
    ) -> Result<(), ServiceError> {
        let Some(principals) = &self.principals else { return Ok(()) };
        let Caller::Principal { name, access_key_id } = &identity.caller else {
            return Err(ServiceError::AccessDenied("the caller is not authenticated".into()));
        };
        let Some(principal) = principals.get(access_key_id) else {
            return Err(ServiceError::UnrecognizedClient(format!(
                "unknown access key id {access_key_id:?}"
            )));
        };
        let why = match principal.policy().evaluate(action, resources) {
            Decision::Allow => return Ok(()),
            Decision::ExplicitDeny => "with an explicit deny in an identity-based policy",
            Decision::ImplicitDeny => "because no identity-based policy allows the action",
        };
        let resource = resources.first().copied().unwrap_or("*");
        Err(ServiceError::AccessDenied(format!(
            "User: arn:aws:iam::{ACCOUNT_ID}:user/{name} is not authorized to perform: {action} on resource: {resource} {why}"
        )))
    }
}
