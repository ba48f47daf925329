//! The `/registry` page's cluster panel: every registry node, which one leads, the
//! revision each has reached, and the etcd members as the nodes see them.
//!
//! The server renders it from every node's `GET /cluster` (the nodes given to the portal
//! and those the registry lists as `Registry`); once hydrated, the panel asks again every
//! second, so a node or an etcd member that dies or returns shows within a second or two,
//! without a reload (the [`LiveCluster`](crate::islands::live_cluster::LiveCluster)
//! island, which draws [`ClusterTables`] from each answer). A node that does not answer is
//! shown down, with the reason.

use std::collections::BTreeMap;

use leptos::{either::Either, prelude::*};
use serde::{Deserialize, Serialize};

use crate::wire::registry::{EtcdMember, NodeStatus};

/// One registry node as the panel shows it: what it said at `/cluster`, or why it said
/// nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    pub url: String,
    pub status: Result<NodeStatus, String>,
}

/// Every known registry node's `/cluster`, ordered by URL.
#[server]
pub async fn cluster_nodes() -> Result<Vec<NodeView>, ServerFnError> {
    let answers = crate::backend::backend()?
        .get_from_registry_nodes("/cluster".into())
        .await;
    Ok(answers
        .into_iter()
        .map(|(url, answer)| {
            let status = answer.map_err(|err| err.reason).and_then(|reply| {
                if reply.status != 200 {
                    return Err(format!(
                        "answered {}: {}",
                        reply.status,
                        crate::backend::reason(&reply.body)
                    ));
                }
                serde_json::from_slice::<NodeStatus>(&reply.body)
                    .map_err(|err| format!("an unreadable answer: {err}"))
            });
            NodeView { url, status }
        })
        .collect())
}

/// The panel: rendered on the server from every node's answer, then kept fresh by the
/// [`LiveCluster`](crate::islands::live_cluster::LiveCluster) island.
#[component]
pub fn ClusterPanel() -> impl IntoView {
    let nodes = Resource::new(|| (), |_| cluster_nodes());
    view! {
        <section class="cluster" aria-labelledby="cluster-heading">
            <h2 id="cluster-heading">"Cluster"</h2>
            <Suspense fallback=|| view! { <p>"Asking the registry nodes…"</p> }>
                {move || Suspend::new(async move {
                    let (nodes, problem) = match nodes.await {
                        Ok(nodes) => (nodes, None),
                        Err(err) => (Vec::new(), Some(crate::format::server_error(&err))),
                    };
                    view! {
                        <crate::islands::live_cluster::LiveCluster nodes problem/>
                        <crate::components::keyed::IslandEnd/>
                    }
                })}
            </Suspense>
        </section>
    }
}

/// What the panel shows: a summary line, one row per registry node (`data-node`,
/// `data-role`: leader, follower or down) and one row per etcd member (`data-endpoint`,
/// `data-state`); or, when the nodes cannot be asked at all (`problem`), why.
#[component]
pub fn ClusterTables(nodes: Vec<NodeView>, problem: Option<String>) -> impl IntoView {
    if let Some(problem) = problem {
        return Either::Left(view! {
            <p class="notice notice-error" role="alert">
                {format!("The registry nodes cannot be asked: {problem}")}
            </p>
        });
    }
    let answering = nodes.iter().filter(|n| n.status.is_ok()).count();
    let leader = nodes
        .iter()
        .find(|n| n.status.as_ref().is_ok_and(|s| s.leader))
        .map(|n| n.url.clone());
    let members = etcd_members(&nodes);
    let healthy = members.iter().filter(|m| m.healthy).count();
    let summary = format!(
        "{answering} of {} registry nodes answer; {}; {}",
        nodes.len(),
        match &leader {
            Some(url) => format!("{url} leads"),
            None => "no node leads right now".into(),
        },
        if members.is_empty() {
            "the registry keeps its state in memory (no etcd)".to_owned()
        } else {
            format!("{healthy} of {} etcd members healthy", members.len())
        }
    );
    let node_rows = nodes
        .into_iter()
        .map(|node| {
            let (role, revision, state, badge) = match node.status {
                Ok(status) => (
                    if status.leader { "leader" } else { "follower" },
                    readable_revision(&status),
                    status.stale.clone().unwrap_or_else(|| "current".into()),
                    if status.stale.is_some() {
                        "warning"
                    } else {
                        "passing"
                    },
                ),
                Err(reason) => (
                    "down",
                    "—".into(),
                    format!("does not answer: {reason}"),
                    "critical",
                ),
            };
            let url = node.url.clone();
            view! {
                <tr data-node=node.url data-role=role>
                    <td class="url">{url}</td>
                    <td><span class=format!("badge badge-{badge}")>{role}</span></td>
                    <td class="number">{revision}</td>
                    <td>{state}</td>
                </tr>
            }
        })
        .collect_view();
    let etcd = (!members.is_empty()).then(|| {
        let rows = members
            .into_iter()
            .map(|member| {
                let (state, badge) = if member.healthy {
                    ("healthy", "passing")
                } else {
                    ("down", "critical")
                };
                let why = (!member.healthy)
                    .then(|| format!(" {}", member.problem.unwrap_or_default()));
                let endpoint = member.endpoint.clone();
                view! {
                    <tr data-endpoint=member.endpoint data-state=state>
                        <td class="url">{endpoint}</td>
                        <td><span class=format!("badge badge-{badge}")>{state}</span>{why}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <div class="table-scroll">
                <table class="data etcd-members">
                    <thead><tr><th scope="col">"etcd member"</th><th scope="col">"State"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
    });
    Either::Right(view! {
        <p class="cluster-summary" aria-live="polite">{summary}</p>
        <div class="table-scroll">
            <table class="data cluster-nodes">
                <thead>
                    <tr>
                        <th scope="col">"Registry node"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col" class="number">"Revision"</th>
                        <th scope="col">"State"</th>
                    </tr>
                </thead>
                <tbody>{node_rows}</tbody>
            </table>
        </div>
        {etcd}
    })
}

/// Every etcd member any node was given: healthy if a node that answers sees it healthy,
/// else with the reason a node gave.
fn etcd_members(nodes: &[NodeView]) -> Vec<EtcdMember> {
    let mut members: BTreeMap<String, EtcdMember> = BTreeMap::new();
    for member in nodes
        .iter()
        .filter_map(|n| n.status.as_ref().ok())
        .flat_map(|s| s.etcd.iter())
    {
        members
            .entry(member.endpoint.clone())
            .and_modify(|known| {
                if member.healthy && !known.healthy {
                    *known = member.clone();
                }
            })
            .or_insert_with(|| member.clone());
    }
    members.into_values().collect()
}

/// A node's revision as a person reads it. A memory store's counts from the microsecond
/// it started (16 digits), so it is shown as the changes since then; etcd's is a count
/// of the cluster's changes, shown in groups of three.
fn readable_revision(status: &NodeStatus) -> String {
    let since = status.started.as_deref().and_then(crate::format::added);
    match (status.store.as_str(), status.changes, since) {
        ("memory", Some(changes), Some(since)) => format!(
            "{changes} change{} since {since}",
            if changes == 1 { "" } else { "s" }
        ),
        _ => crate::format::revision(status.revision),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(url: &str, leader: bool, etcd: &[(&str, bool)]) -> NodeView {
        NodeView {
            url: url.into(),
            status: Ok(NodeStatus {
                node: url.into(),
                store: "etcd".into(),
                leader,
                revision: 7,
                started: None,
                changes: None,
                stale: None,
                etcd: etcd
                    .iter()
                    .map(|(endpoint, healthy)| EtcdMember {
                        endpoint: (*endpoint).into(),
                        healthy: *healthy,
                        problem: (!healthy).then(|| "connection refused".into()),
                    })
                    .collect(),
            }),
        }
    }

    #[test]
    fn a_memory_stores_revision_reads_as_its_changes_since_it_started() {
        let status = |store: &str, revision, changes| NodeStatus {
            node: "http://127.0.0.1:3000".into(),
            store: store.into(),
            leader: true,
            revision,
            started: Some("2026-12-05T09:30:12Z".into()),
            changes: Some(changes),
            stale: None,
            etcd: vec![],
        };
        assert_eq!(
            readable_revision(&status("memory", 1_796_025_602_000_012, 12)),
            "12 changes since 2026-12-05 09:30 UTC"
        );
        assert_eq!(
            readable_revision(&status("memory", 1_796_025_602_000_001, 1)),
            "1 change since 2026-12-05 09:30 UTC"
        );
        // etcd's revision counts the cluster's changes: it is shown, grouped.
        assert_eq!(
            readable_revision(&status("etcd", 52_340, 3)),
            "52\u{202F}340"
        );
        // A node that says nothing of its start (an older one) shows its revision.
        let older = NodeStatus {
            started: None,
            ..status("memory", 1_796_025_602_000_012, 12)
        };
        assert_eq!(
            readable_revision(&older),
            "1\u{202F}796\u{202F}025\u{202F}602\u{202F}000\u{202F}012"
        );
    }

    #[test]
    fn a_member_is_healthy_if_any_answering_node_sees_it_so() {
        let nodes = vec![
            node("http://a", true, &[("e1", true), ("e2", false)]),
            node(
                "http://b",
                false,
                &[("e1", false), ("e2", false), ("e3", true)],
            ),
            NodeView {
                url: "http://c".into(),
                status: Err("down".into()),
            },
        ];
        let members = etcd_members(&nodes);
        let states: Vec<(&str, bool)> = members
            .iter()
            .map(|m| (m.endpoint.as_str(), m.healthy))
            .collect();
        assert_eq!(states, [("e1", true), ("e2", false), ("e3", true)]);
        assert_eq!(members[1].problem.as_deref(), Some("connection refused"));
    }

    #[test]
    fn the_panel_marks_each_role_and_escapes_what_nodes_say() {
        let nodes = vec![
            node("http://a", true, &[("e1", true)]),
            NodeView {
                url: "http://b\"><script>".into(),
                status: Err("<refused> & gone".into()),
            },
        ];
        let html = crate::snapshot::html(|| view! { <ClusterTables nodes problem=None/> });
        assert!(
            html.contains(r#"<tr data-node="http://a" data-role="leader">"#),
            "{html}"
        );
        assert!(html.contains(r#"data-role="down""#), "{html}");
        assert!(
            html.contains("does not answer: &lt;refused&gt; &amp; gone"),
            "{html}"
        );
        assert!(
            !html.contains("<script>") && !html.contains("<refused>"),
            "{html}"
        );
        assert!(
            html.contains(
                "1 of 2 registry nodes answer; http://a leads; 1 of 1 etcd members healthy"
            )
        );
        assert!(html.contains(r#"<tr data-endpoint="e1" data-state="healthy">"#));
        insta::assert_snapshot!(crate::snapshot::tag_lines(&html));
    }
}
