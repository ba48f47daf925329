//! [`Keyed`]: what it holds is drawn anew when its key changes. The islands router diffs
//! the next page into the one shown node by node, which goes wrong where the two differ
//! in shape (a table of 50 rows against one of 3, a chart with one more point), and it
//! leaves an island alone (so an island keeps its state while the visitor moves about),
//! which would also keep an island whose props changed, such as the registry's live view
//! after a click on the map filtered it. Inside [`Keyed`], a new key is a new item of a
//! keyed list, which the router replaces whole, islands included. Pages key what they
//! show by the data it is drawn from.

use std::hash::{DefaultHasher, Hash, Hasher};

use leptos::prelude::*;

/// Draws `children` as the one item of a list keyed by `key`'s hash (a number: the
/// router writes keys into HTML comments, where text from the visitor must never go).
#[component]
pub fn Keyed<K: Hash + 'static>(key: K, children: ChildrenFn) -> impl IntoView {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    let key = hasher.finish();
    // The router replaces the node after a list's end with the next page's (it leaves
    // its walk there): this empty, hidden element, rather than whatever follows, such as
    // the start of another list.
    view! {
        <For each=move || [key] key=|key| *key let:_key>
            {children()}
        </For>
        <span class="keyed-end" hidden></span>
    }
}

/// A key for [`Keyed`] from the data a view is drawn from: its JSON, hashed as it is
/// written (no string is built: the Grade Book's page is 50 students).
pub fn key_of(data: &impl serde::Serialize) -> u64 {
    struct Hashing(DefaultHasher);
    impl std::io::Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.write(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hashing = Hashing(DefaultHasher::new());
    // Writing to a hasher cannot fail, and the data is this crate's own types.
    let _ = serde_json::to_writer(&mut hashing, data);
    hashing.0.finish()
}

/// Goes right after each island. When the islands router diffs the next page in, it
/// steps over an island to the island's next sibling and then on, so that sibling is
/// never compared: were it the opening of a [`Keyed`] list, the list would be diffed
/// node by node instead of replaced; were it another island, that island's insides
/// would be overwritten. This empty, hidden element takes the step instead.
#[component]
pub fn IslandEnd() -> impl IntoView {
    view! { <span class="island-end" hidden></span> }
}
