//! Prometheus' HTTP service discovery format (`http_sd_configs`), which the registry
//! answers on `GET /prometheus/targets`: a JSON array of target groups, each a list of
//! `host:port` targets and the labels they share. Labels starting with `__meta_` are for
//! relabelling and dropped before a scrape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One target group of an `http_sd_configs` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    /// `host:port` of each target (the registry gives one a group: one instance).
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// The prefix of the labels the registry gives a target.
pub const META: &str = "__meta_distributed_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_written_as_prometheus_reads_it() {
        let group = TargetGroup {
            targets: vec!["127.0.0.1:4000".into()],
            labels: [("__meta_distributed_service".into(), "LogService".into())].into(),
        };
        assert_eq!(
            serde_json::to_string(&[group]).unwrap(),
            r#"[{"targets":["127.0.0.1:4000"],"labels":{"__meta_distributed_service":"LogService"}}]"#
        );
    }
}
