//! `/logs`: the newest log records, filtered by service and text, with a live tail.
//!
//! The filter is a plain GET form (the islands router submits it without a reload);
//! the chart of records per minute and the table are the [`LogTail`] island, which puts
//! each new matching record on top.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    api::recent_logs,
    components::{
        keyed::{IslandEnd, Keyed},
        unavailable::Unavailable,
    },
    islands::log_tail::LogTail,
};

#[component]
pub fn LogsPage() -> impl IntoView {
    let query = use_query_map();
    let (service, text) = query.with_untracked(|query| {
        (
            query.get("service").unwrap_or_default(),
            query.get("text").unwrap_or_default(),
        )
    });
    let records = Resource::new(
        {
            let (service, text) = (service.clone(), text.clone());
            move || (service.clone(), text.clone())
        },
        |(service, text)| recent_logs(service, text),
    );
    view! {
        <Title text="Logs"/>
        <h1>"Logs"</h1>
        <form method="get" action="/logs" class="filters">
            <div class="field">
                <label for="service">"Service"</label>
                <input id="service" name="service" type="text" placeholder="e.g. GradingService" value=service.clone()/>
            </div>
            <div class="field">
                <label for="text">"Text"</label>
                <input id="text" name="text" type="search" placeholder="contains…" value=text.clone()/>
            </div>
            <button type="submit">"Filter"</button>
        </form>
        <Suspense fallback=|| view! { <p>"Loading records…"</p> }>
            {move || {
                let (service, text) = (service.clone(), text.clone());
                Suspend::new(async move {
                    match records.await {
                        Err(err) => Either::Left(view! {
                            <Unavailable what="log service" error=err.to_string()/>
                        }),
                        Ok(list) => Either::Right(view! {
                            // A new filter is a new island: see `Keyed`.
                            <Keyed key=(service.clone(), text.clone())>
                                <LogTail records=list.clone() service=service.clone() text=text.clone()/>
                                <IslandEnd/>
                            </Keyed>
                        }),
                    }
                })
            }}
        </Suspense>
    }
}
