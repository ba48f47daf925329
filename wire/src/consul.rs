//! The read side of Consul's HTTP API as the registry answers it (`/v1/catalog/…`,
//! `/v1/health/service/…`, `/v1/agent/self`): the field names and types of Consul's own
//! documentation and Go client (`github.com/hashicorp/consul/api`), so that Consul's
//! clients (Prometheus' `consul_sd_configs` among them) read the registry unchanged.
//! Only the fields the registry can fill are written; Consul's clients take a missing
//! field as its zero value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The header that carries a blocking query's index on every answer.
pub const INDEX_HEADER: &str = "x-consul-index";
/// The header a Consul client may send its token in.
pub const TOKEN_HEADER: &str = "x-consul-token";

/// A node of the catalog: the registry node that answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// Consul's DNS weights of a service instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

impl Default for Weights {
    /// Consul's defaults.
    fn default() -> Weights {
        Weights {
            passing: 1,
            warning: 1,
        }
    }
}

/// A service instance, as `/v1/health/service/{name}` gives it (`AgentService`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentService {
    #[serde(rename = "ID")]
    pub id: String,
    pub service: String,
    pub tags: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    pub address: String,
    pub weights: Weights,
    pub enable_tag_override: bool,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A health check's status as Consul writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Passing,
    Warning,
    Critical,
}

/// A health check of a node or of a service instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheck {
    pub node: String,
    #[serde(rename = "CheckID")]
    pub check_id: String,
    pub name: String,
    pub status: CheckStatus,
    pub notes: String,
    pub output: String,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    pub r#type: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// One entry of `/v1/health/service/{name}`: an instance, its node and its checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceEntry {
    pub node: Node,
    pub service: AgentService,
    pub checks: Vec<HealthCheck>,
}

/// One entry of `/v1/catalog/service/{name}` (`CatalogService`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CatalogService {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: BTreeMap<String, String>,
    pub node_meta: BTreeMap<String, String>,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    pub service_name: String,
    pub service_address: String,
    pub service_tags: Vec<String>,
    pub service_meta: BTreeMap<String, String>,
    pub service_port: u16,
    pub service_weights: Weights,
    pub service_enable_tag_override: bool,
    pub create_index: u64,
    pub modify_index: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named_as_consuls_clients_read_them() {
        let entry = ServiceEntry {
            node: Node::default(),
            service: AgentService {
                id: "http://127.0.0.1:4000".into(),
                service: "LogService".into(),
                port: 4000,
                ..AgentService::default()
            },
            checks: vec![],
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["Service"]["ID"], "http://127.0.0.1:4000");
        assert_eq!(json["Service"]["Port"], 4000);
        assert_eq!(json["Service"]["Weights"]["Passing"], 1);
        assert_eq!(json["Node"]["TaggedAddresses"], serde_json::json!({}));
        let check = serde_json::to_value(CheckStatus::Critical).unwrap();
        assert_eq!(check, "critical");
        let catalog = serde_json::to_value(CatalogService::default()).unwrap();
        for field in [
            "ServiceID",
            "ServiceName",
            "ServicePort",
            "ServiceTags",
            "CreateIndex",
        ] {
            assert!(catalog.get(field).is_some(), "{field}");
        }
    }
}
