//! `/logs`: the newest log records, filtered by service and text, with a live tail.
//!
//! The filter is a plain GET form (it works without JavaScript; hydrated, it navigates
//! without a reload); once hydrated, the page follows the log service's live stream
//! (through `/portal/events/logs`) and puts each new matching record on top. Above the
//! table, stacked bars count the records shown, per minute and by service
//! ([`crate::charts::log_rate`]), and are redrawn with each new record. The chart and the
//! table are HTML strings, the same on the server and in the browser: as views, each would
//! cost the WASM kilobytes.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::{
    api::recent_logs,
    charts,
    format::{html_escape, url_encode},
    live,
    unavailable::Unavailable,
    wire::logs::LogRecord,
};

/// The most records the page keeps.
const KEEP: usize = 500;

#[component]
pub fn LogsPage() -> impl IntoView {
    let query = use_query_map();
    let service = move || query.read().get("service").unwrap_or_default();
    let text = move || query.read().get("text").unwrap_or_default();
    let records = Resource::new(
        move || (service(), text()),
        |(service, text)| recent_logs(service, text),
    );
    let navigate = use_navigate();
    let filter = move |event: leptos::ev::SubmitEvent| {
        let Some(submitted) = crate::plain_form::take_over(&event) else {
            return;
        };
        navigate(
            &format!(
                "/logs?service={}&text={}",
                url_encode(&submitted.field("service")),
                url_encode(&submitted.field("text"))
            ),
            Default::default(),
        );
    };
    view! {
        <Title text="Logs"/>
        <h1>"Logs"</h1>
        <form method="get" action="/logs" class="filters" on:submit=filter>
            <div class="field">
                <label for="service">"Service"</label>
                <input id="service" name="service" type="text" placeholder="e.g. GradingService" prop:value=service/>
            </div>
            <div class="field">
                <label for="text">"Text"</label>
                <input id="text" name="text" type="search" placeholder="contains…" prop:value=text/>
            </div>
            <button type="submit">"Filter"</button>
        </form>
        <Suspense fallback=|| view! { <p>"Loading records…"</p> }>
            {move || Suspend::new(async move {
                match records.await {
                    Err(err) => Either::Left(view! {
                        <Unavailable what="log service" error=err.to_string() retry=move || records.refetch()/>
                    }),
                    Ok(list) => Either::Right(view! { <LiveLogs initial=list service=service() text=text()/> }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn LiveLogs(initial: Vec<LogRecord>, service: String, text: String) -> impl IntoView {
    let records = RwSignal::new(initial);
    let live = RwSignal::new(false);
    let url = format!(
        "/portal/events/logs?service={}&text={}",
        url_encode(&service),
        url_encode(&text)
    );
    Effect::new(move |_| {
        live::follow(
            &url,
            &["record"],
            move |_name: &str, data: String| {
                if let Ok(record) = serde_json::from_str::<LogRecord>(&data) {
                    records.update(|list| {
                        list.insert(0, record);
                        list.truncate(KEEP);
                    });
                }
            },
            move |up: bool| live.set(up),
        );
    });
    view! {
        <p class="live-state" aria-live="polite">
            {move || if live.get() { "Live: new records appear on top." } else { "Not live yet." }}
        </p>
        <div class="log-chart-live" inner_html=move || records.with(|list| charts::log_rate(list))></div>
        <div inner_html=move || records.with(|list| table(list))></div>
    }
}

/// The records as a table, newest first; a sentence if there are none.
fn table(records: &[LogRecord]) -> String {
    use std::fmt::Write as _;
    if records.is_empty() {
        return r#"<p class="empty">No log records match.</p>"#.into();
    }
    let mut html = String::from(
        r#"<div class="table-scroll"><table class="data logs"><thead><tr><th scope="col">Time (UTC)</th><th scope="col">Service</th><th scope="col">Message</th></tr></thead><tbody>"#,
    );
    for record in records {
        let _ = write!(
            html,
            r#"<tr><td class="time">{}</td><td>{}</td><td class="message">{}</td></tr>"#,
            html_escape(&record.time),
            html_escape(&record.service),
            html_escape(&record.message)
        );
    }
    html.push_str("</tbody></table></div>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_escapes_every_field_and_says_when_nothing_matches() {
        let record = LogRecord {
            time: "2026-11-30T12:00:00.000Z".into(),
            service: "<b>S</b>".into(),
            message: "<script>alert(1)</script> & more".into(),
        };
        let html = table(&[record]);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"),
            "{html}"
        );
        assert!(
            html.contains(r#"<td class="time">2026-11-30T12:00:00.000Z</td>"#),
            "{html}"
        );
        assert_eq!(table(&[]), r#"<p class="empty">No log records match.</p>"#);
    }
}
