//! Rendered HTML as a snapshot test stores it (`insta`, files under `src/snapshots/`): one
//! tag a line, so that a change to a page reads as a diff of the lines it changed, not
//! of one line thousands of characters long.

/// `html` with a line break between each tag and the next.
pub(crate) fn tag_lines(html: &str) -> String {
    html.replace("><", ">\n<")
}
