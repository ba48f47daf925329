//! `/logs`: the newest log records, filtered by service and text, with a live tail.
//!
//! The filter is a plain GET form (it works without JavaScript); once hydrated, the
//! page follows the log service's live stream (through `/portal/events/logs`) and puts
//! each new matching record on top. Above the table, the shown records per minute by
//! service as stacked bars ([`crate::charts::log_rate`]), redrawn with each new record.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::Form, hooks::use_query_map};

use crate::{
    api::recent_logs, charts, format::url_encode, live, unavailable::Unavailable,
    wire::logs::LogRecord,
};

/// Most records the page keeps.
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
    view! {
        <Title text="Logs"/>
        <h1>"Logs"</h1>
        <Form method="GET" action="" attr:class="filters">
            <div class="field">
                <label for="service">"Service"</label>
                <input id="service" name="service" type="text" placeholder="e.g. GradingService" prop:value=service/>
            </div>
            <div class="field">
                <label for="text">"Text"</label>
                <input id="text" name="text" type="search" placeholder="contains…" prop:value=text/>
            </div>
            <button type="submit">"Filter"</button>
        </Form>
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
        {move || {
            let list = records.get();
            if list.is_empty() {
                return Either::Left(view! { <p class="empty">"No log records match."</p> });
            }
            Either::Right(view! {
                <div class="table-scroll">
                    <table class="data logs">
                        <thead>
                            <tr>
                                <th scope="col">"Time (UTC)"</th>
                                <th scope="col">"Service"</th>
                                <th scope="col">"Message"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {list
                                .into_iter()
                                .map(|record| view! {
                                    <tr>
                                        <td class="time">{record.time}</td>
                                        <td>{record.service}</td>
                                        <td class="message">{record.message}</td>
                                    </tr>
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                </div>
            })
        }}
    }
}
