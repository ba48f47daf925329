//! The browser entry point: cargo-leptos compiles this crate to WebAssembly, and the
//! script it generates calls [`hydrate`] once the server-rendered page has loaded, which
//! attaches the portal's reactivity to the HTML already on screen.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
