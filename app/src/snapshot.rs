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

/// `html` with a line break between each tag and the next, and each server function's
/// URL and island's name without the number Leptos ends it with (`/api/add_student4440…`
/// is `/api/add_student…`, `PostForm_2744…` is `PostForm_…`): the number hashes where
/// the crate was built, so it differs from one checkout to another.
pub(crate) fn tag_lines(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let next = |rest: &str| {
        [("/api/", 5), ("data-component=\"", 16)]
            .into_iter()
            .filter_map(|(mark, len)| Some((rest.find(mark)?, len)))
            .min()
    };
    while let Some((at, len)) = next(rest) {
        let name_end = at
            + len
            + rest[at + len..]
                .find(|c: char| !(c.is_ascii_alphabetic() || c == '_'))
                .unwrap_or(rest.len() - at - len);
        out.push_str(&rest[..name_end]);
        let digits = rest[name_end..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - name_end);
        if digits > 0 {
            out.push('…');
        }
        rest = &rest[name_end + digits..];
    }
    out.push_str(rest);
    out.replace("><", ">\n<")
}
