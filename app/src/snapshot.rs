//! Rendered HTML as the tests read it: a component rendered on its own ([`html`]), and
//! as a snapshot test stores it (`insta`, files under `snapshots/` beside each module):
//! one tag a line ([`tag_lines`]), so that a change to a page reads as a diff of the
//! lines it changed, not of one line thousands of characters long.

use leptos::prelude::*;

/// What `view` renders to on the server, without the comments that mark where dynamic
/// parts begin and end (they matter to hydration, not to what a reader sees).
pub(crate) fn html<V: IntoView + 'static>(view: impl FnOnce() -> V) -> String {
    let owner = Owner::new();
    let html = owner.with(|| view().to_html());
    let mut out = String::with_capacity(html.len());
    let mut rest = html.as_str();
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    // Tachys' placeholder for a part that may appear later.
    out.replace("<!>", "")
}

/// `html` with a line break between each tag and the next.
pub(crate) fn tag_lines(html: &str) -> String {
    html.replace("><", ">\n<")
}
