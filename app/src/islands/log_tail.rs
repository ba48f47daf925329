//! The logs page's live tail: the chart of records per minute and the table of records,
//! following the log service's live stream (relayed by the portal at
//! `/portal/events/logs`). Each new matching record is inserted on top of the table (the
//! rows already there are left alone) and the chart is redrawn.

use leptos::{either::Either, prelude::*};

use crate::{components::charts::LogRate, format::url_encode, live, wire::logs::LogRecord};

/// The most records the page keeps.
const KEEP: usize = 500;

/// The records the server found (`records`, newest first) for this `service` and `text`,
/// with each newer one put on top.
#[island]
pub fn LogTail(records: Vec<LogRecord>, service: String, text: String) -> impl IntoView {
    // Each record with a number, newest highest: the table's rows are keyed by it, so a
    // new record is one row inserted, not a table redrawn.
    let count = records.len() as u64;
    let numbered: Vec<(u64, LogRecord)> = records
        .into_iter()
        .enumerate()
        .map(|(i, record)| (count - i as u64, record))
        .collect();
    let records = RwSignal::new(numbered);
    let live = RwSignal::new(false);
    let anchor = live::Anchor::new();
    let url = format!(
        "/portal/events/logs?service={}&text={}",
        url_encode(&service),
        url_encode(&text)
    );
    Effect::new(move |_| {
        live::follow(
            &url,
            &["record"],
            anchor,
            move |_name: &str, data: String| {
                if let Ok(record) = serde_json::from_str::<LogRecord>(&data) {
                    records.update(|list| {
                        let next = list.first().map_or(1, |(n, _)| n + 1);
                        list.insert(0, (next, record));
                        list.truncate(KEEP);
                    });
                }
            },
            move |up: bool| live.set(up),
        );
    });
    // A memo, so the table is drawn anew only when it appears or goes, not per record.
    let empty = Memo::new(move |_| records.with(Vec::is_empty));
    view! {
        <p class="live-state" aria-live="polite" node_ref=anchor>
            {move || if live.get() { "Live: new records appear on top." } else { "Not live yet." }}
        </p>
        <div class="log-chart-live">
            {move || {
                let list: Vec<LogRecord> = records.with(|list| list.iter().map(|(_, r)| r.clone()).collect());
                view! { <LogRate records=list/> }
            }}
        </div>
        {move || if empty.get() {
            Either::Left(view! { <p class="empty">"No log records match."</p> })
        } else {
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
                            <For each=move || records.get() key=|(n, _)| *n let:((_, record))>
                                <tr>
                                    <td class="time">{record.time}</td>
                                    <td>{record.service}</td>
                                    <td class="message">{record.message}</td>
                                </tr>
                            </For>
                        </tbody>
                    </table>
                </div>
            })
        }}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::html;

    #[test]
    fn the_table_escapes_every_field_and_says_when_nothing_matches() {
        let record = LogRecord {
            time: "2026-11-30T12:00:00.000Z".into(),
            service: "<b>S</b>".into(),
            message: "<script>alert(1)</script> & more".into(),
        };
        let table = html(|| {
            view! { <LogTail records=vec![record] service=String::new() text=String::new()/> }
        });
        assert!(!table.contains("<script"), "{table}");
        assert!(!table.contains("<b>"), "{table}");
        assert!(
            table.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"),
            "{table}"
        );
        assert!(
            table.contains(r#"<td class="time">2026-11-30T12:00:00.000Z</td>"#),
            "{table}"
        );
        let none =
            html(|| view! { <LogTail records=vec![] service=String::new() text=String::new()/> });
        assert!(
            none.contains(r#"<p class="empty">No log records match.</p>"#),
            "{none}"
        );
    }
}
