//! The registry's metrics that are read from its state at each scrape, rather than
//! counted as work is done: `registry_instances{service,status}`,
//! `registry_instances_flapping{service}`, `registry_leader` and `registry_revision` (the map of every metric is in [`crate::ops::metrics`]).

use super::store::Store;

/// `registry_instances{service,status}`, counted from the store at each scrape; nothing
/// once the registry is gone.
pub struct InstanceCounts(pub std::sync::Weak<dyn Store>);

impl std::fmt::Debug for InstanceCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InstanceCounts")
    }
}

impl prometheus_client::collector::Collector for InstanceCounts {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::{encoding::EncodeMetric, metrics::gauge::ConstGauge};

        let Some(store) = self.0.upgrade() else {
            return Ok(());
        };
        let listing = store.instances();
        let mut counts = std::collections::BTreeMap::<(String, &str), i64>::new();
        let mut flapping = std::collections::BTreeMap::<String, i64>::new();
        for instance in listing.value {
            if instance.flapping {
                *flapping
                    .entry(instance.registration.service_name.clone())
                    .or_default() += 1;
            }
            *counts
                .entry((instance.registration.service_name, instance.status.as_str()))
                .or_default() += 1;
        }
        let mut family = encoder.encode_descriptor(
            "registry_instances",
            "Registered instances, by service and status.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for ((service, status), count) in &counts {
            let labels = [("service", service.as_str()), ("status", *status)];
            ConstGauge::new(*count).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "registry_instances_flapping",
            "Instances flapping now (held out of discovery), by service.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (service, count) in &flapping {
            ConstGauge::new(*count)
                .encode(family.encode_family(&[("service", service.as_str())])?)?;
        }
        ConstGauge::new(i64::from(store.checks_here())).encode(encoder.encode_descriptor(
            "registry_leader",
            "1 on the registry node that runs the checks and sends the patches, 0 on others.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?)?;
        ConstGauge::new(listing.revision as i64).encode(encoder.encode_descriptor(
            "registry_revision",
            "The revision of the registry's state (the id of its latest live event).",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?)?;
        Ok(())
    }
}
