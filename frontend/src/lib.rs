//! The browser entry point: cargo-leptos compiles this crate to WebAssembly, and the
//! script it generates calls [`hydrate`] once the server-rendered page has loaded; the
//! script then hydrates each island on the page (`app::islands`), attaching its
//! reactivity to the HTML already on screen. Nothing outside the islands is hydrated.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    // This call also links the `app` crate, whose islands are the WASM exports the
    // page's script hydrates by name: a crate nothing named would not be linked at all.
    app::live::quiet_skipped_transitions();
    app::live::watch_the_visitor();
}
