//! The Logs Insights query language (work in progress).
