//! [`Keyed`]: what it holds is drawn anew when its key changes. The islands router leaves
//! an island alone when it diffs in the next page (so an island keeps its state while the
//! visitor moves about), which would also keep an island whose props changed, such as the
//! registry's live view after a click on the map filtered it. Inside [`Keyed`], a new key
//! is a new item of a keyed list, which the router replaces whole, island included.

use std::hash::{DefaultHasher, Hash, Hasher};

use leptos::prelude::*;

/// Draws `children` as the one item of a list keyed by `key`'s hash (a number: the
/// router writes keys into HTML comments, where text from the visitor must never go).
#[component]
pub fn Keyed<K: Hash + 'static>(key: K, children: ChildrenFn) -> impl IntoView {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    let key = hasher.finish();
    view! {
        <For each=move || [key] key=|key| *key let:_key>
            {children()}
        </For>
    }
}
