//! The `/registry` page's service map: every service as a box with its instance count and
//! health, every `RequiredServices` relation as an arrow from dependent to provider, and a
//! provider without a passing instance drawn as a broken dependency.
//!
//! Layout is layered by dependency, so 50 services stay legible: a service that needs
//! nothing sits in the rightmost column, each dependent one column left of its furthest
//! provider, and a column taller than [`ROWS`] wraps into several. Within a column, boxes
//! are ordered by where their providers sit (then by name), which keeps arrows from
//! crossing needlessly.
//!
//! The boxes are HTML links (`/registry?service=…`, which the router follows without a
//! reload, filtering the table below) placed over an SVG that draws the arrows: an SVG
//! link is not one the router can take. Health is never colour alone: each box says it in
//! words, a broken arrow is dashed, and the caption sums the map up for a screen reader.
//! Drawn by the registry page's live island ([`crate::islands::live_registry`]): on the
//! server first, then in the browser as the registry's events arrive.

use std::collections::{BTreeMap, BTreeSet};

use leptos::{either::Either, prelude::*};

use crate::wire::registry::InstanceInfo;

/// The most boxes a column holds before it wraps.
pub const ROWS: usize = 10;
const BOX_W: usize = 190;
const BOX_H: usize = 50;
const GAP_X: usize = 70;
const GAP_Y: usize = 14;
const PAD: usize = 8;
/// Room above the first row for arrows that arc over the boxes between their ends.
const PAD_TOP: usize = 40;

/// How a service is doing, by its instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Every instance passing.
    Passing,
    /// Some instances passing, some critical.
    Degraded,
    /// Instances, none passing.
    Critical,
    /// Required by a service, but no instance registered.
    Missing,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Passing => "passing",
            Health::Degraded => "degraded",
            Health::Critical => "critical",
            Health::Missing => "missing",
        }
    }

    /// Whether a dependent can be given an instance of it.
    pub fn serves(self) -> bool {
        matches!(self, Health::Passing | Health::Degraded)
    }
}

/// One service on the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub instances: usize,
    pub passing: usize,
    /// What any of its instances declares it needs.
    pub requires: BTreeSet<String>,
}

impl Service {
    pub fn health(&self) -> Health {
        match (self.instances, self.passing) {
            (0, _) => Health::Missing,
            (_, 0) => Health::Critical,
            (all, passing) if passing == all => Health::Passing,
            _ => Health::Degraded,
        }
    }
}

/// Every service registered or required, by name.
pub fn services(instances: &[InstanceInfo]) -> BTreeMap<String, Service> {
    let mut services: BTreeMap<String, Service> = BTreeMap::new();
    let entry = |services: &mut BTreeMap<String, Service>, name: &str| {
        services
            .entry(name.to_owned())
            .or_insert_with(|| Service {
                name: name.to_owned(),
                instances: 0,
                passing: 0,
                requires: BTreeSet::new(),
            })
            .name
            .clone()
    };
    for instance in instances {
        let reg = &instance.registration;
        for required in &reg.required_services {
            entry(&mut services, required);
        }
        let name = entry(&mut services, &reg.service_name);
        let service = services.get_mut(&name).expect("just added");
        service.instances += 1;
        // A flapping instance is held out of discovery: it serves no dependent.
        service.passing += usize::from(instance.discoverable());
        service
            .requires
            .extend(reg.required_services.iter().cloned());
    }
    services
}

/// Each service's layer: 0 if it needs nothing, else one more than its deepest provider's.
/// A cycle stops growing at the number of services, so it cannot loop.
pub fn layers(services: &BTreeMap<String, Service>) -> BTreeMap<String, usize> {
    let mut layer: BTreeMap<String, usize> = services.keys().map(|n| (n.clone(), 0)).collect();
    let cap = services.len().saturating_sub(1);
    for _ in 0..services.len() {
        let mut changed = false;
        for service in services.values() {
            let deepest = service
                .requires
                .iter()
                .filter(|r| **r != service.name)
                .filter_map(|r| layer.get(r))
                .map(|l| (l + 1).min(cap))
                .max()
                .unwrap_or(0);
            if deepest > layer[&service.name] {
                layer.insert(service.name.clone(), deepest);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    layer
}

/// Where each box goes: its column and row.
pub fn place(services: &BTreeMap<String, Service>) -> BTreeMap<String, (usize, usize)> {
    let layer = layers(services);
    let deepest = layer.values().copied().max().unwrap_or(0);
    let mut at: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut column = 0;
    // From the dependents (left) to the providers (right); each layer's order follows
    // where the layer before it put their dependents.
    let mut rank: BTreeMap<String, f64> = BTreeMap::new();
    for depth in (0..=deepest).rev() {
        let mut names: Vec<&String> = layer
            .iter()
            .filter(|(_, l)| **l == depth)
            .map(|(n, _)| n)
            .collect();
        if names.is_empty() {
            continue;
        }
        let key = |name: &String| rank.get(name).copied().unwrap_or(f64::MAX);
        names.sort_by(|a, b| key(a).total_cmp(&key(b)).then(a.cmp(b)));
        for (i, name) in names.iter().enumerate() {
            at.insert((*name).clone(), (column + i / ROWS, i % ROWS));
        }
        column += names.len().div_ceil(ROWS);
        // Rank the providers of this layer's services by their dependents' rows.
        rank.clear();
        let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for name in &names {
            let (c, r) = at[*name];
            for required in &services[*name].requires {
                let sum = sums.entry(required.clone()).or_insert((0.0, 0.0));
                sum.0 += (c * ROWS + r) as f64;
                sum.1 += 1.0;
            }
        }
        rank.extend(sums.into_iter().map(|(n, (s, k))| (n, s / k)));
    }
    at
}

/// One arrow of the map: from a dependent's box to its provider's.
struct Arrow {
    from: String,
    to: String,
    ok: bool,
    d: String,
}

/// The map: a `<figure>` with the arrows' SVG, one link per service, and a caption that
/// says in words what the picture shows. `selected` is the service the table is filtered
/// to, if any.
#[component]
pub fn ServiceMap(instances: Vec<InstanceInfo>, selected: Option<String>) -> impl IntoView {
    let services = services(&instances);
    if services.is_empty() {
        return Either::Left(view! { <p class="empty">"No services to draw."</p> });
    }
    let at = place(&services);
    let columns = at.values().map(|(c, _)| c + 1).max().unwrap_or(1);
    let rows = at.values().map(|(_, r)| r + 1).max().unwrap_or(1);
    let width = PAD * 2 + columns * BOX_W + (columns - 1) * GAP_X;
    let height = PAD_TOP + PAD + rows * BOX_H + (rows - 1) * GAP_Y;
    let corner = |name: &str| {
        let (c, r) = at[name];
        (PAD + c * (BOX_W + GAP_X), PAD_TOP + r * (BOX_H + GAP_Y))
    };

    let mut arrows = Vec::new();
    for service in services.values() {
        for required in &service.requires {
            if *required == service.name {
                continue;
            }
            let (x1, y1) = corner(&service.name);
            let (x2, y2) = corner(required);
            let (x1, y1) = (x1 + BOX_W, y1 + BOX_H / 2);
            let (x2, y2) = (x2, y2 + BOX_H / 2);
            let bend = GAP_X / 2 + 10;
            // An arrow to the next column curves straight across the gap; a longer one
            // (or one back, in a cycle) arcs over the boxes between its ends.
            let next = at[required].0 == at[&service.name].0 + 1;
            let lift = if next { 0 } else { BOX_H + GAP_Y };
            arrows.push(Arrow {
                from: service.name.clone(),
                to: required.clone(),
                ok: services[required].health().serves(),
                d: format!(
                    "M{x1} {y1} C{} {} {} {} {} {y2}",
                    x1 + bend,
                    y1 - lift,
                    x2.saturating_sub(bend),
                    y2 - lift,
                    x2.saturating_sub(2)
                ),
            });
        }
    }
    let broken: Vec<(&str, &str)> = arrows
        .iter()
        .filter(|a| !a.ok)
        .map(|a| (a.from.as_str(), a.to.as_str()))
        .collect();
    let caption = summary(&services, &broken);
    let arrows = arrows
        .into_iter()
        .map(|Arrow { from, to, ok, d }| {
            view! {
                <path
                    class=if ok { "map-edge" } else { "map-edge broken" }
                    data-from=from
                    data-to=to
                    d=d
                    marker-end=if ok { "url(#map-arrow)" } else { "url(#map-arrow-broken)" }
                />
            }
        })
        .collect_view();
    let boxes = services
        .values()
        .map(|service| {
            let (x, y) = corner(&service.name);
            let health = service.health();
            let state = match health {
                Health::Passing => {
                    format!("✓ {} of {} passing", service.passing, service.instances)
                }
                Health::Degraded => {
                    format!("! {} of {} passing", service.passing, service.instances)
                }
                Health::Critical => format!("✗ 0 of {} passing", service.instances),
                Health::Missing => "✗ no instance".to_owned(),
            };
            let is_selected = selected.as_deref() == Some(service.name.as_str());
            let class = format!(
                "map-node health-{}{}",
                health.as_str(),
                if is_selected { " selected" } else { "" }
            );
            let style = format!("left:{x}px;top:{y}px;width:{BOX_W}px;height:{BOX_H}px");
            let name = service.name.clone();
            let inner = view! {
                <span class="map-name">{name.clone()}</span>
                <span class="map-state">{state}</span>
            };
            if health == Health::Missing {
                Either::Left(view! {
                    <span
                        class=class
                        data-service=name.clone()
                        data-health=health.as_str()
                        data-instances=service.instances
                        style=style
                        title=name.clone()
                        role="group"
                        aria-label=format!("{name}: required, but no instance is registered")
                    >
                        {inner}
                    </span>
                })
            } else {
                let instances = match service.instances {
                    1 => "1 instance".to_owned(),
                    n => format!("{n} instances"),
                };
                Either::Right(view! {
                    <a
                        class=class
                        data-service=name.clone()
                        data-health=health.as_str()
                        data-instances=service.instances
                        style=style
                        title=name.clone()
                        href=format!("/registry?service={}", crate::format::url_encode(&name))
                        aria-label=format!(
                            "{name}: {instances}, {} passing. Show only its instances.",
                            service.passing
                        )
                        aria-current=is_selected.then_some("true")
                    >
                        {inner}
                    </a>
                })
            }
        })
        .collect_view();
    let arrow_head = |id: &'static str| {
        view! {
            <marker id=id viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M0 0L10 5L0 10z"/>
            </marker>
        }
    };
    Either::Right(view! {
        <figure class="service-map">
            <div class="map-scroll">
                <div class="map-canvas" style=format!("width:{width}px;height:{height}px")>
                    <svg class="map-edges" width=width height=height viewBox=format!("0 0 {width} {height}") aria-hidden="true">
                        <defs>{arrow_head("map-arrow")}{arrow_head("map-arrow-broken")}</defs>
                        {arrows}
                    </svg>
                    {boxes}
                </div>
            </div>
            <figcaption class="map-summary">{caption}</figcaption>
        </figure>
    })
}

/// The map in words: how many services and instances, and every broken dependency.
pub fn summary(services: &BTreeMap<String, Service>, broken: &[(&str, &str)]) -> String {
    let instances: usize = services.values().map(|s| s.instances).sum();
    let critical: Vec<&str> = services
        .values()
        .filter(|s| matches!(s.health(), Health::Critical | Health::Degraded))
        .map(|s| s.name.as_str())
        .collect();
    let mut text = format!(
        "{} services, {} instances; arrows point from a service to what it requires. ",
        services.len(),
        instances
    );
    if critical.is_empty() {
        text.push_str("No registered service has a critical instance. ");
    } else {
        text.push_str(&format!(
            "With critical instances: {}. ",
            critical.join(", ")
        ));
    }
    if broken.is_empty() {
        text.push_str("Every requirement has a passing provider.");
    } else {
        let list: Vec<String> = broken
            .iter()
            .map(|(from, to)| format!("{from} requires {to}, which has no passing instance"))
            .collect();
        text.push_str(&format!(
            "Broken dependencies ({}): {}.",
            broken.len(),
            list.join("; ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::registry::{Registration, Status};

    fn instance(name: &str, url: &str, requires: &[&str], passing: bool) -> InstanceInfo {
        InstanceInfo {
            registration: Registration {
                service_name: name.into(),
                service_url: url.into(),
                required_services: requires.iter().map(|r| (*r).into()).collect(),
                service_update_url: format!("{url}/services"),
                heartbeat_url: format!("{url}/heartbeat"),
                ..Default::default()
            },
            status: if passing {
                Status::Passing
            } else {
                Status::Critical
            },
            registered_at: "2026-11-30T08:00:00Z".into(),
            last_check_at: None,
            last_latency_ms: None,
            consecutive_failures: 0,
            recent_checks: vec![],
            flapping: false,
        }
    }

    #[test]
    fn health_counts_instances_and_a_required_service_without_any_is_missing() {
        let services = services(&[
            instance(
                "Portal",
                "http://p",
                &["GradingService", "LogService"],
                true,
            ),
            instance("GradingService", "http://g1", &["LogService"], true),
            instance("GradingService", "http://g2", &["LogService"], false),
        ]);
        let health: Vec<(&str, Health)> = services
            .values()
            .map(|s| (s.name.as_str(), s.health()))
            .collect();
        assert_eq!(
            health,
            [
                ("GradingService", Health::Degraded),
                ("LogService", Health::Missing),
                ("Portal", Health::Passing)
            ]
        );
    }

    #[test]
    fn dependents_sit_left_of_their_providers_and_a_cycle_ends() {
        let list = [
            instance(
                "Portal",
                "http://p",
                &["GradingService", "LogService"],
                true,
            ),
            instance("GradingService", "http://g", &["LogService"], true),
            instance("LogService", "http://l", &[], true),
            instance("A", "http://a", &["B"], true),
            instance("B", "http://b", &["A"], true),
        ];
        let services = services(&list);
        let at = place(&services);
        assert!(at["Portal"].0 < at["GradingService"].0);
        assert!(at["GradingService"].0 < at["LogService"].0);
        assert_eq!(at.len(), 5);
        // Every box has its own place.
        let places: BTreeSet<_> = at.values().collect();
        assert_eq!(places.len(), 5);
    }

    #[test]
    fn fifty_services_wrap_into_columns_of_at_most_ten() {
        let list: Vec<InstanceInfo> = (0..50)
            .map(|i| {
                let requires = if i < 40 { vec!["S49"] } else { vec![] };
                instance(
                    &format!("S{i:02}"),
                    &format!("http://s{i}"),
                    &requires,
                    true,
                )
            })
            .collect();
        let at = place(&services(&list));
        assert_eq!(at.len(), 50);
        assert!(at.values().all(|(_, row)| *row < ROWS));
        let html = crate::snapshot::html(|| view! { <ServiceMap instances=list selected=None/> });
        assert_eq!(html.matches(r#"class="map-edge""#).count(), 40, "{html}");
        assert!(html.contains("50 services, 50 instances"), "{html}");
        // The 40 dependents wrap into 4 columns left of the 10 they need.
        assert_eq!(at.values().map(|(c, _)| c).max(), Some(&4));
    }

    #[test]
    fn a_provider_without_a_passing_instance_breaks_its_arrows_and_says_so() {
        let instances = vec![
            instance("GradingService", "http://g", &["LogService"], true),
            instance("LogService", "http://l", &[], false),
        ];
        let html = crate::snapshot::html(
            || view! { <ServiceMap instances selected=Some("LogService".into())/> },
        );
        assert!(
            html.contains(r#"data-from="GradingService" data-to="LogService""#)
                && html.contains(r#"marker-end="url(#map-arrow-broken)" class="map-edge broken""#),
            "{html}"
        );
        assert!(html.contains(r#"data-service="LogService" data-health="critical""#));
        assert!(html.contains("✗ 0 of 1 passing"));
        assert!(html.contains(
            "Broken dependencies (1): GradingService requires LogService, which has no passing instance."
        ));
        assert!(html.contains(r#"class="map-node health-critical selected""#));
        insta::assert_snapshot!(crate::snapshot::tag_lines(&html));
    }

    #[test]
    fn names_are_escaped_everywhere() {
        let instances = vec![instance("<b>x\"</b>", "http://x", &["<i>&</i>"], true)];
        let html = crate::snapshot::html(|| view! { <ServiceMap instances selected=None/> });
        assert!(!html.contains("<b>") && !html.contains("<i>"), "{html}");
        assert!(html.contains("&lt;b&gt;x&quot;&lt;/b&gt;"), "{html}");
        assert!(
            html.contains("href=\"/registry?service=%3Cb%3Ex%22%3C%2Fb%3E\""),
            "{html}"
        );
    }
}
