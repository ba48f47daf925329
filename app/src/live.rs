//! Live updates in the browser: a Server-Sent Events stream, opened with the browser's
//! `EventSource` for as long as the island that opened it is on the page ([`Anchor`]). The browser
//! reconnects by itself (sending `Last-Event-ID`, so nothing is missed while the source
//! still retains it). On the server this does nothing: pages are rendered from a
//! snapshot, and the stream starts after hydration.

use leptos::prelude::NodeRef;

/// An element of an island, by which the island's streams and timers know whether it is
/// still on the page. The islands router swaps pages in as HTML and never cleans up the
/// islands it removes, so a stream kept open by a removed island would hold one of the
/// browser's six connections to the site for good (a few visits, and the tab hangs).
pub type Anchor = NodeRef<leptos::html::P>;

/// Whether `anchor`'s element is on the page (before the island is mounted, it is).
pub fn on_page(anchor: Anchor) -> bool {
    #[cfg(feature = "hydrate")]
    {
        use leptos::prelude::GetUntracked;
        anchor.get_untracked().is_none_or(|el| el.is_connected())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = anchor;
        true
    }
}

#[cfg(feature = "hydrate")]
thread_local! {
    /// Every stream open, with the anchor of the island that opened it.
    static OPEN: std::cell::RefCell<Vec<(Anchor, Box<dyn std::any::Any>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Follows the event stream at `url` while `anchor` is on the page: `on_event(name,
/// data)` for each event whose name is in `names`, `on_state(true)` when connected and
/// `on_state(false)` when the connection drops. The streams of islands no longer on the
/// page are closed when another is opened, and each closes itself at its next event.
#[cfg(feature = "hydrate")]
pub fn follow(
    url: &str,
    names: &'static [&'static str],
    anchor: Anchor,
    on_event: impl Fn(&str, String) + 'static,
    on_state: impl Fn(bool) + 'static,
) {
    use std::rc::Rc;

    use wasm_bindgen::{JsCast, closure::Closure};

    struct Stream {
        source: web_sys::EventSource,
        _events: Vec<Closure<dyn FnMut(web_sys::MessageEvent)>>,
        _state: Vec<Closure<dyn FnMut(web_sys::Event)>>,
    }

    impl Drop for Stream {
        fn drop(&mut self) {
            self.source.close();
        }
    }

    // Dropping a stream closes it.
    OPEN.with_borrow_mut(|open| open.retain(|(anchor, _)| on_page(*anchor)));
    let Ok(source) = web_sys::EventSource::new(url) else {
        return;
    };
    let on_event = Rc::new(on_event);
    let events = names
        .iter()
        .map(|&name| {
            let on_event = on_event.clone();
            let own = source.clone();
            let closure = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                move |event: web_sys::MessageEvent| {
                    if !on_page(anchor) {
                        own.close();
                        return;
                    }
                    if let Some(data) = event.data().as_string() {
                        on_event(name, data);
                    }
                },
            );
            let _ = source.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
            closure
        })
        .collect();
    let on_state = Rc::new(on_state);
    // The portal's relay opens a stream even when its source is down, to say so in an
    // `unavailable` event (and when to try again): that is down too.
    let state = [("open", true), ("error", false), ("unavailable", false)]
        .into_iter()
        .map(|(name, up)| {
            let on_state = on_state.clone();
            let own = source.clone();
            // As for events: a stream whose island has left the page says nothing more.
            let closure = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
                if on_page(anchor) {
                    on_state(up);
                } else {
                    own.close();
                }
            });
            let _ = source.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
            closure
        })
        .collect();
    let stream = Stream {
        source,
        _events: events,
        _state: state,
    };
    OPEN.with_borrow_mut(|open| open.push((anchor, Box::new(stream))));
}

#[cfg(not(feature = "hydrate"))]
pub fn follow(
    _url: &str,
    _names: &'static [&'static str],
    _anchor: Anchor,
    _on_event: impl Fn(&str, String) + 'static,
    _on_state: impl Fn(bool) + 'static,
) {
}

/// Calls the server function at `path` (its `PATH`) from the browser, with `arguments`
/// (name and text of each, as a form would send them), and reads its answer as JSON; a
/// refusal is the server function's reason. This is what the function's generated client
/// does, written once for every island: each generated client was code of its own in
/// the WASM, about 5 KB gzipped apiece. On the server it is never called (islands call
/// only from their effects) and answers an error.
pub async fn call<T: serde::de::DeserializeOwned>(
    path: &str,
    arguments: &[(&str, &str)],
) -> Result<T, String> {
    let body = arguments
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                crate::format::url_encode(name),
                crate::format::url_encode(value)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let text = post(path, body).await?;
    serde_json::from_str(&text).map_err(|err| format!("the portal's answer was unreadable: {err}"))
}

/// `POST path` with a form-encoded `body`, asking for JSON: the answer's text if it is a
/// success, else the reason the server gave (a server function's error is `Kind|reason`).
#[cfg(feature = "hydrate")]
async fn post(path: &str, body: String) -> Result<String, String> {
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    let failed = |err: JsValue| {
        err.as_string()
            .unwrap_or_else(|| "the portal could not be reached".to_owned())
    };
    let window = web_sys::window().ok_or("no window")?;
    let headers = web_sys::Headers::new().map_err(failed)?;
    headers
        .set("Content-Type", "application/x-www-form-urlencoded")
        .map_err(failed)?;
    headers.set("Accept", "application/json").map_err(failed)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&body));
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(path, &init))
        .await
        .map_err(|_| "the portal could not be reached".to_owned())?
        .dyn_into()
        .map_err(failed)?;
    let text = JsFuture::from(response.text().map_err(failed)?)
        .await
        .map_err(failed)?
        .as_string()
        .unwrap_or_default();
    if response.ok() {
        Ok(text)
    } else {
        Err(match text.split_once('|') {
            Some((_, reason)) => reason.to_owned(),
            None if text.is_empty() => format!("the portal answered {}", response.status()),
            None => text,
        })
    }
}

#[cfg(not(feature = "hydrate"))]
async fn post(_path: &str, _body: String) -> Result<String, String> {
    Err("only the browser calls the portal this way".into())
}

/// Milliseconds since the Unix epoch, by the browser's clock or the server's.
pub fn now_millis() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    }
}

/// A function that asks `fetch()` again and hands each answer to `apply`: one question at
/// a time, and any calls made while one is out fold into a single question after it, so
/// a burst of events costs two round trips, not one each. An event says *that*
/// something changed; the answer says what is there now, and the island draws it.
pub fn refresher<F, Fut>(fetch: F, apply: impl Fn(Fut::Output) + 'static) -> impl Fn() + Clone
where
    F: Fn() -> Fut + 'static,
    Fut: std::future::Future + 'static,
{
    use std::{cell::Cell, rc::Rc};

    // 0: idle; 1: asking; 2: asking, and asked again meanwhile.
    let state = Rc::new(Cell::new(0u8));
    let work = Rc::new((fetch, apply));
    move || {
        let before = state.get();
        state.set(if before == 0 { 1 } else { 2 });
        if before != 0 {
            return;
        }
        let (state, work) = (state.clone(), work.clone());
        leptos::task::spawn_local(async move {
            loop {
                let answer = (work.0)().await;
                (work.1)(answer);
                if state.get() == 2 {
                    state.set(1);
                } else {
                    state.set(0);
                    break;
                }
            }
        });
    }
}

/// Has the islands router fetch the page shown again and diff it in (what it does when
/// the visitor goes back or forward: a `popstate`), without a reload and without a new
/// entry in the history, [`SETTLE`] after the last call: calls close together (a grade
/// added here, and the event that tells of it) are one fetch, as two at once would
/// race in the router. Nor does it fetch within [`AFTER_VISITOR`] of the visitor's last
/// click or form post through the router ([`watch_the_visitor`]): the router would
/// drop the page the visitor asked for (a new student's, after "Add student") for this
/// one; it fetches after that instead. Does nothing on the server.
pub fn refresh_page() {
    #[cfg(feature = "hydrate")]
    schedule_refresh(SETTLE);
}

#[cfg(feature = "hydrate")]
thread_local! {
    /// The refresh waiting to be sent, if one is.
    static PENDING: std::cell::Cell<Option<leptos::prelude::TimeoutHandle>> =
        const { std::cell::Cell::new(None) };
    /// When the visitor last clicked or posted a form through the router (milliseconds
    /// since the epoch).
    static VISITOR_ACTED: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

#[cfg(feature = "hydrate")]
fn schedule_refresh(after: std::time::Duration) {
    use leptos::prelude::{set_timeout_with_handle, window};
    if let Some(handle) = PENDING.take() {
        handle.clear();
    }
    let fetch = || {
        PENDING.set(None);
        let quiet_until = VISITOR_ACTED.get() + AFTER_VISITOR.as_millis() as f64;
        let now = now_millis();
        if now < quiet_until {
            schedule_refresh(std::time::Duration::from_millis(
                (quiet_until - now) as u64 + 1,
            ));
        } else if let Ok(event) = web_sys::Event::new("popstate") {
            let _ = window().dispatch_event(&event);
        }
    };
    PENDING.set(set_timeout_with_handle(fetch, after).ok());
}

/// Has the islands router show `path` (a path of this site), as if the visitor had
/// followed a link to it: a new entry in the history, and the page fetched and diffed
/// in without a reload. Does nothing on the server.
///
/// `path` comes from a server function's answer; it goes through
/// [`crate::teacher::local_path`] all the same, so that nothing but a path of this site
/// is ever followed (a crafted answer cannot send the teacher elsewhere).
pub fn go_to(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let path = &crate::teacher::local_path(path);
        let window = leptos::prelude::window();
        let pushed = window.history().and_then(|history| {
            history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(path))
        });
        match (pushed, web_sys::Event::new("popstate")) {
            (Ok(()), Ok(event)) => {
                let _ = window.dispatch_event(&event);
            }
            // Without the history, the browser goes there itself.
            _ => {
                let _ = window.location().set_href(path);
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// How long [`refresh_page`] waits for more calls.
pub const SETTLE: std::time::Duration = std::time::Duration::from_millis(150);
/// How long after the visitor's click or form post [`refresh_page`] waits: the router
/// has the page they asked for by then (a form post answers in milliseconds here).
pub const AFTER_VISITOR: std::time::Duration = std::time::Duration::from_millis(1500);

/// Notes when the visitor clicks or posts a form that the islands router will send
/// (a form inside an island is the island's own), for [`refresh_page`]. Installed once,
/// by the hydration entry point.
#[cfg(feature = "hydrate")]
pub fn watch_the_visitor() {
    use wasm_bindgen::{JsCast, closure::Closure};
    let acted = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        let in_island = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
            .and_then(|element| element.closest("leptos-island").ok().flatten())
            .is_some();
        if event.type_() == "click" || !in_island {
            VISITOR_ACTED.set(now_millis());
        }
    });
    for name in ["click", "submit"] {
        // In the capture phase: before the router's own listener starts its fetch.
        let _ = leptos::prelude::window().add_event_listener_with_callback_and_bool(
            name,
            acted.as_ref().unchecked_ref(),
            true,
        );
    }
    // For the page's whole life.
    acted.forget();
}

/// Keeps one harmless rejection of the islands router's off the console: when a page is
/// asked for while the router is still drawing the last one (a change told by the event
/// stream just as the visitor posts a form), the browser skips the first view transition
/// and rejects a promise the router does not handle ("Transition was skipped"). The later
/// page is drawn all the same. Any other rejection is left alone. Installed once, by the
/// hydration entry point.
#[cfg(feature = "hydrate")]
pub fn quiet_skipped_transitions() {
    use wasm_bindgen::{JsCast, closure::Closure};
    let quiet = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        let reason = js_sys::Reflect::get(&event, &"reason".into()).unwrap_or_default();
        let text = |key: &str| {
            js_sys::Reflect::get(&reason, &key.into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        if text("name") == "AbortError" && text("message").starts_with("Transition was skipped") {
            event.prevent_default();
        }
    });
    let _ = leptos::prelude::window()
        .add_event_listener_with_callback("unhandledrejection", quiet.as_ref().unchecked_ref());
    // For the page's whole life.
    quiet.forget();
}
