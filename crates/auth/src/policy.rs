//! IAM-style policy documents and their evaluation, as IAM evaluates one identity policy: an
//! explicit Deny wins; otherwise the request needs an Allow whose `Action` matches the action
//! and whose `Resource` matches the resource; anything else is an implicit deny.

use serde::Deserialize;

use crate::{AuthError, Result};

/// Allow or Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Refuses, whatever else grants.
    Deny,
}

/// The outcome of evaluating a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An Allow matched and no Deny did.
    Allow,
    /// A Deny matched.
    ExplicitDeny,
    /// Nothing matched.
    ImplicitDeny,
}

impl Decision {
    /// Whether the request may go on.
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// One string or a list of them, as IAM documents allow either.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Statements {
    One(RawStatement),
    Many(Vec<RawStatement>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatement {
    #[serde(rename = "Sid")]
    _sid: Option<String>,
    #[serde(rename = "Effect")]
    effect: Effect,
    #[serde(rename = "Action")]
    action: OneOrMany,
    #[serde(rename = "Resource")]
    resource: OneOrMany,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(rename = "Version")]
    _version: Option<String>,
    #[serde(rename = "Statement")]
    statement: Statements,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    effect: Effect,
    actions: Vec<String>,
    resources: Vec<String>,
}

/// A validated policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// The services whose actions policies may name.
const SERVICES: [&str; 2] = ["logs", "cloudwatch"];

impl Policy {
    /// Parses an IAM policy document (`{"Version"?, "Statement": [{"Effect", "Action",
    /// "Resource"}]}`; `Statement`, `Action` and `Resource` may be single values). Actions must
    /// be `*`, `logs:...` (log groups, streams, events, metric filters) or `cloudwatch:...`
    /// (metrics and alarms).
    pub fn from_value(v: serde_json::Value) -> Result<Self> {
        let raw: RawPolicy =
            serde_json::from_value(v).map_err(|e| AuthError::InvalidPolicy(e.to_string()))?;
        let raw = match raw.statement {
            Statements::One(s) => vec![s],
            Statements::Many(v) => v,
        };
        let mut statements = Vec::with_capacity(raw.len());
        for (i, s) in raw.into_iter().enumerate() {
            let actions = s.action.into_vec();
            let resources = s.resource.into_vec();
            if actions.is_empty() || resources.is_empty() {
                return Err(AuthError::InvalidPolicy(format!(
                    "statement {i} needs at least one Action and one Resource"
                )));
            }
            let known = |a: &str| {
                let a = a.to_ascii_lowercase();
                a == "*"
                    || SERVICES
                        .iter()
                        .any(|s| a.strip_prefix(s).is_some_and(|r| r.starts_with(':')))
            };
            if let Some(a) = actions.iter().find(|a| !known(a)) {
                return Err(AuthError::InvalidPolicy(format!(
                    "statement {i}: action {a:?} is not \"*\", \"logs:...\" or \"cloudwatch:...\""
                )));
            }
            statements.push(Statement { effect: s.effect, actions, resources });
        }
        Ok(Policy { statements })
    }

    /// Evaluates `action` (`logs:PutLogEvents`) on a resource known by any of `resources`
    /// (a log group's ARN and its `:*` form).
    pub fn evaluate(&self, action: &str, resources: &[&str]) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            let action_matches = s
                .actions
                .iter()
                .any(|p| wildcard_match(&p.to_ascii_lowercase(), &action.to_ascii_lowercase()));
            let resource_matches =
                s.resources.iter().any(|p| resources.iter().any(|r| wildcard_match(p, r)));
            if action_matches && resource_matches {
                match s.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed { Decision::Allow } else { Decision::ImplicitDeny }
    }
}

/// IAM wildcard matching: `*` any run of characters (also empty), `?` exactly one.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently stands for: backtrack there.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(json: &str) -> Policy {
        Policy::from_value(serde_json::from_str(json).unwrap()).unwrap()
    }

    const APP: &str = "arn:aws:logs:us-east-1:000000000000:log-group:/app/web";
    const DB: &str = "arn:aws:logs:us-east-1:000000000000:log-group:/db/main";
    const AUDIT: &str = "arn:aws:logs:us-east-1:000000000000:log-group:/logsight/audit";

    #[test]
    fn table_of_decisions() {
        use Decision::*;
        let writer = policy(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":["logs:PutLogEvents","logs:CreateLogStream","logs:Describe*"],"Resource":"arn:aws:logs:*:*:log-group:/app/*"},
                {"Effect":"Deny","Action":"logs:Delete*","Resource":"*"}]}"#,
        );
        let admin_but_audit = policy(
            r#"{"Statement":[{"Effect":"Allow","Action":"logs:*","Resource":"*"},
                {"Effect":"Deny","Action":"logs:*","Resource":"arn:aws:logs:*:*:log-group:/logsight/audit"}]}"#,
        );
        let single = policy(
            r#"{"Statement":{"Effect":"Allow","Action":"LOGS:getlogevents","Resource":"arn:aws:logs:us-east-?:*:log-group:/db/main:*"}}"#,
        );
        let cases: &[(&Policy, &str, &str, Decision)] = &[
            (&writer, "logs:PutLogEvents", APP, Allow),
            (&writer, "logs:DescribeLogStreams", APP, Allow),
            (&writer, "logs:PutLogEvents", DB, ImplicitDeny),
            (&writer, "logs:GetLogEvents", APP, ImplicitDeny),
            (&writer, "logs:DeleteLogGroup", APP, ExplicitDeny),
            (&writer, "logs:DeleteLogStream", DB, ExplicitDeny),
            (&admin_but_audit, "logs:GetLogEvents", DB, Allow),
            (&admin_but_audit, "logs:GetLogEvents", AUDIT, ExplicitDeny),
            (&admin_but_audit, "logs:FilterLogEvents", AUDIT, ExplicitDeny),
            // Actions match case-insensitively, resources exactly; `?` is one character; the
            // `:*` form of a group ARN is how most policies name "the group and its streams".
            (&single, "logs:GetLogEvents", DB, Allow),
            (&single, "logs:GetLogEventsX", DB, ImplicitDeny),
            (&single, "logs:GetLogEvents", &DB.to_uppercase(), ImplicitDeny),
            (&single, "logs:GetLogEvents", APP, ImplicitDeny),
        ];
        for (i, (p, action, group_arn, want)) in cases.iter().enumerate() {
            let star = format!("{group_arn}:*");
            assert_eq!(
                p.evaluate(action, &[group_arn, &star]),
                *want,
                "case {i}: {action} on {group_arn}"
            );
        }
    }

    #[test]
    fn cloudwatch_actions_are_their_own() {
        let p = Policy::from_value(serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": ["CloudWatch:Put*", "logs:*"], "Resource": "*"}]}))
        .unwrap();
        assert_eq!(p.evaluate("cloudwatch:PutMetricAlarm", &["*"]), Decision::Allow);
        assert_eq!(p.evaluate("cloudwatch:DeleteAlarms", &["*"]), Decision::ImplicitDeny);
        let logs_only = Policy::from_value(serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}))
        .unwrap();
        assert_eq!(logs_only.evaluate("cloudwatch:PutMetricAlarm", &["*"]), Decision::ImplicitDeny);
    }

    #[test]
    fn invalid_documents_are_refused() {
        for bad in [
            r#"{"Statement":[{"Effect":"Maybe","Action":"logs:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"cloudwatchlogs:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"logs:*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"logs:*","Resource":"*","Condition":{}}]}"#,
            r#"{"Statment":[]}"#,
        ] {
            let r = Policy::from_value(serde_json::from_str(bad).unwrap());
            assert!(matches!(r, Err(AuthError::InvalidPolicy(_))), "{bad}: {r:?}");
        }
    }

    /// A naive oracle: recursive matching.
    fn oracle(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| oracle(rest, &t[i..])),
            Some((c, rest)) => t
                .split_first()
                .is_some_and(|(tc, trest)| (*c == '?' || c == tc) && oracle(rest, trest)),
        }
    }

    proptest! {
        #[test]
        fn wildcard_matches_the_oracle(p in "[ab*?:]{0,8}", t in "[ab:]{0,10}") {
            let (pc, tc): (Vec<char>, Vec<char>) = (p.chars().collect(), t.chars().collect());
            prop_assert_eq!(wildcard_match(&p, &t), oracle(&pc, &tc));
        }
    }
}
