//! Prometheus' HTTP service discovery on `GET /prometheus/targets`: every instance the
//! registry holds as a target group Prometheus' `http_sd_configs` reads unchanged (a
//! JSON array, `[]` when empty), so Prometheus scrapes what the registry knows.
//!
//! | label | value |
//! | --- | --- |
//! | `__meta_distributed_service` | its service's name |
//! | `__meta_distributed_url` | its `ServiceURL` |
//! | `__meta_distributed_status` | `passing` or `critical` |
//! | `__meta_distributed_flapping` | `true` while it is flapping (held out of discovery), else `false` |
//! | `__meta_distributed_tags` | its tags between commas (`,primary,v2,`), as Prometheus' Consul discovery writes them, so a regex `.*,primary,.*` finds a tag |
//! | `__meta_distributed_meta_<key>` | each `Meta` value, `-` in a key written `_` (a label name holds no `-`) |
//!
//! Unhealthy instances are listed with their status, as Prometheus' maintainers ask of
//! discovery (a target that is down shows as down), unless `?status=passing`;
//! `?service=<name>` narrows the list to one service. With `--token-reads`, Prometheus
//! sends the token with its `authorization` setting (`Authorization: Bearer …`).

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use wire::{
    prometheus::{META, TargetGroup},
    registry::{InstanceInfo, Status},
};

use super::Registry;
use crate::http::error::ApiError;

/// What narrows the list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsQuery {
    /// Only this service's instances.
    service: Option<String>,
    /// Only instances with this status: `passing` or `critical`.
    status: Option<String>,
}

/// `GET /prometheus/targets`.
pub async fn targets(
    State(registry): State<Registry>,
    query: Result<Query<TargetsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let status = match query.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("passing") => Some(Status::Passing),
        Some("critical") => Some(Status::Critical),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status must be passing or critical, not {other:?}"
            )));
        }
    };
    let stale = super::http::staleness(&*registry.store)?;
    let listing = registry.store.instances();
    let groups: Vec<TargetGroup> = listing
        .value
        .iter()
        .filter(|instance| {
            query
                .service
                .as_deref()
                .is_none_or(|name| instance.registration.service_name == name)
                && status.is_none_or(|status| instance.status == status)
        })
        .filter_map(group)
        .collect();
    let mut response = Json(groups).into_response();
    response.headers_mut().extend(stale);
    Ok(response)
}

/// The target group of `instance`: its `host:port` and labels; none if its URL names no
/// host (the registry refuses such a URL, so only a record from elsewhere could).
pub fn group(instance: &InstanceInfo) -> Option<TargetGroup> {
    let reg = &instance.registration;
    let url = reqwest::Url::parse(&reg.service_url).ok()?;
    let target = format!("{}:{}", url.host()?, url.port_or_known_default()?);
    let status = match instance.status {
        Status::Passing => "passing",
        Status::Critical => "critical",
    };
    let mut labels = std::collections::BTreeMap::from([
        (format!("{META}service"), reg.service_name.clone()),
        (format!("{META}url"), reg.service_url.clone()),
        (format!("{META}status"), status.to_owned()),
        (format!("{META}flapping"), instance.flapping.to_string()),
        (format!("{META}tags"), format!(",{},", reg.tags.join(","))),
    ]);
    for (key, value) in &reg.meta {
        labels.insert(
            format!("{META}meta_{}", key.replace('-', "_")),
            value.clone(),
        );
    }
    Some(TargetGroup {
        targets: vec![target],
        labels,
    })
}

#[cfg(test)]
mod tests {
    use wire::registry::Registration;

    use super::*;

    fn instance(url: &str, status: Status) -> InstanceInfo {
        InstanceInfo {
            registration: Registration {
                service_name: "LogService".into(),
                service_url: url.into(),
                tags: vec!["primary".into(), "v2".into()],
                meta: [("build-id".into(), "7".into())].into(),
                ..Registration::default()
            },
            status,
            registered_at: String::new(),
            last_check_at: None,
            last_latency_ms: None,
            consecutive_failures: 0,
            recent_checks: Vec::new(),
            flapping: false,
        }
    }

    #[test]
    fn an_instance_is_its_host_and_port_with_its_labels() {
        let group = group(&instance("http://127.0.0.1:4000/log", Status::Critical)).unwrap();
        assert_eq!(group.targets, ["127.0.0.1:4000"]);
        let label = |name: &str| group.labels[&format!("{META}{name}")].as_str();
        assert_eq!(label("service"), "LogService");
        assert_eq!(label("url"), "http://127.0.0.1:4000/log");
        assert_eq!(label("status"), "critical");
        assert_eq!(label("tags"), ",primary,v2,");
        assert_eq!(label("meta_build_id"), "7");
        // A URL without a port has its scheme's; an IPv6 host keeps its brackets.
        let port = |url: &str| group_of(url).targets[0].clone();
        assert_eq!(port("https://example.org/x"), "example.org:443");
        assert_eq!(port("http://[::1]/"), "[::1]:80");
    }

    fn group_of(url: &str) -> TargetGroup {
        group(&instance(url, Status::Passing)).unwrap()
    }
}
