//! Components: parts of pages drawn the same way wherever they appear. Most are rendered
//! on the server only; those an island draws ([`charts::LogRate`],
//! [`service_map::ServiceMap`], [`instance_table::InstanceTable`],
//! [`cluster_panel::ClusterTables`]) are compiled into the WASM too, and redrawn in the
//! browser from newer data.
//!
//! | module | owns |
//! |---|---|
//! | [`layout`] | the skip link, the site header and the main landmark |
//! | [`charts`] | the SVG charts: class histogram, average bars, a student's scores, log rate |
//! | [`service_map`] | the registry's service map: boxes, arrows, the caption in words |
//! | [`instance_table`] | the registry's instance table, its check strips and latency lines |
//! | [`cluster_panel`] | the registry nodes and etcd members, and the server function that asks them |
//! | [`monitoring`] | the link to the system's Prometheus |
//! | [`timeline`] | the registry's timeline: bands per instance, the scrubber, the changes in words, and the server function that reads the history |
//! | [`unavailable`] | the notice shown when a service a page needs cannot be reached |
//! | [`keyed`] | a wrapper that draws an island anew when its props change |

pub mod charts;
pub mod cluster_panel;
pub mod instance_table;
pub mod keyed;
pub mod layout;
pub mod monitoring;
pub mod service_map;
pub mod timeline;
pub mod unavailable;
