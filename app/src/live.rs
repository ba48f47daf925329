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
    let state = [("open", true), ("error", false)]
        .into_iter()
        .map(|(name, up)| {
            let on_state = on_state.clone();
            let closure =
                Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| on_state(up));
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
/// a burst of events costs two round trips, not one each. It is meant for pages whose
/// pictures are HTML made on the server: an event says *that* something changed, and the
/// server says how it looks now.
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
/// race in the router. Does nothing on the server.
pub fn refresh_page() {
    #[cfg(feature = "hydrate")]
    {
        use leptos::prelude::{TimeoutHandle, set_timeout_with_handle, window};
        thread_local! {
            static PENDING: std::cell::Cell<Option<TimeoutHandle>> =
                const { std::cell::Cell::new(None) };
        }
        if let Some(handle) = PENDING.take() {
            handle.clear();
        }
        let fetch = || {
            PENDING.set(None);
            if let Ok(event) = web_sys::Event::new("popstate") {
                let _ = window().dispatch_event(&event);
            }
        };
        PENDING.set(set_timeout_with_handle(fetch, SETTLE).ok());
    }
}

/// How long [`refresh_page`] waits for more calls.
pub const SETTLE: std::time::Duration = std::time::Duration::from_millis(150);

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
