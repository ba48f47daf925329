//! The portal builds no markup from strings: every view is `view!` (or Leptos' own
//! builders), so every text is escaped by construction. This reads the portal's source
//! and fails on what string-built markup needs: `inner_html`, a hand-written escape, or
//! a string literal that opens an HTML or SVG tag.

use std::path::Path;

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path, found: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("the portal's sources can be read") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file is text");
            found.push((path.display().to_string(), text));
        }
    }
}

/// Whether `line` has a string literal whose text opens a tag: `"<div`, `r#"<svg`,
/// `"</td`. Only literals are read: in `<p>"text"</p>`, the `</p>` after the literal is
/// the view macro's own.
fn opens_a_tag(line: &str) -> bool {
    let opens = |text: &str| {
        let rest = text.strip_prefix('<').unwrap_or("");
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        rest.starts_with(|c: char| c.is_ascii_alphabetic())
    };
    let mut rest = line;
    while let Some(start) = rest.find('"') {
        let raw = rest[..start].ends_with("r#");
        let text = &rest[start + 1..];
        if opens(text) {
            return true;
        }
        // Past the literal's end.
        let end = if raw {
            text.find("\"#").map(|e| e + 2)
        } else {
            let mut escaped = false;
            text.char_indices()
                .find(|&(_, c)| {
                    let close = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    close
                })
                .map(|(e, _)| e + 1)
        };
        match end {
            Some(end) => rest = &text[end..],
            None => return false,
        }
    }
    false
}

#[test]
fn no_markup_is_built_from_strings() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 20, "the portal's sources were found");
    let mut found = Vec::new();
    for (path, text) in &files {
        // Tests may hold the HTML they expect (the `tests` module, at the end of a file).
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if line.contains("inner_html")
                || line.contains("innerHTML")
                || line.contains("html_escape")
                || opens_a_tag(line)
            {
                found.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "markup built from strings:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_what_it_looks_for() {
    assert!(opens_a_tag(r#"let a = "<div class=x>";"#));
    assert!(opens_a_tag(r##"format!(r#"<svg"#)"##));
    assert!(opens_a_tag(r#"push_str("</td>")"#));
    assert!(!opens_a_tag(r#"let a = "a < b";"#));
    assert!(!opens_a_tag(r#"view! { <p>"text"</p> }"#));
    assert!(!opens_a_tag(r#"<th scope="col">"Role"</th>"#));
    assert!(opens_a_tag(r#"let a = "x\"y"; let b = "<b>";"#));
}
