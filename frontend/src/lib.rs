//! The browser entry point: cargo-leptos compiles this crate to WebAssembly, and the
//! script it generates calls [`hydrate`] once the server-rendered page has loaded; the
//! script then hydrates each island on the page (`app::islands`), attaching its
//! reactivity to the HTML already on screen. Nothing outside the islands is hydrated.

// Linked for its islands: each is a WASM export the page's script calls by name, and a
// crate nothing names would not be linked at all.
extern crate app as _;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
