//! CloudWatch filter patterns (work in progress).
