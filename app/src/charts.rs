//! The portal's charts, drawn as SVG text: the class's averages by 10-point band and one
//! bar per student ([`class_histogram`], [`average_bar`]) for `/students`, one student's
//! scores against the class ([`student_scores`]) for `/students/{id}`, and records per
//! minute by service ([`log_rate`]) for `/logs`.
//!
//! Each is a pure function of the data, so the server renders it into the page and a
//! live page redraws it from newer data. None says anything by colour alone: bars carry
//! their counts as text, series differ in marker shape and line style, and every chart
//! has a title and a text summary for a screen reader (or a table, for the log chart).

use std::collections::BTreeMap;

use crate::{
    format::{self, html_escape as esc},
    wire::{
        grading::{GradeType, Student},
        logs::LogRecord,
    },
};

/// An `<svg>` that is an image with a title and a description.
fn figure(
    class: &str,
    id: &str,
    width: usize,
    height: usize,
    title: &str,
    desc: &str,
    body: &str,
) -> String {
    format!(
        r#"<svg class="chart {class}" id="{id}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-labelledby="{id}-title" aria-describedby="{id}-desc"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>{body}</svg>"#,
        esc(title),
        esc(desc)
    )
}

/// The 10-point band an average falls in: 0 for 0–9, …, 9 for 90–100.
pub fn band(average: f64) -> usize {
    ((average.clamp(0.0, 100.0) / 10.0) as usize).min(9)
}

fn band_label(band: usize) -> String {
    if band == 9 {
        "90–100".into()
    } else {
        format!("{}–{}", band * 10, band * 10 + 9)
    }
}

/// How many of the class's averages fall in each 10-point band.
pub fn bands(students: &[Student]) -> [usize; 10] {
    let mut counts = [0; 10];
    for average in students.iter().filter_map(|s| s.average) {
        counts[band(average)] += 1;
    }
    counts
}

/// The class's averages as a histogram by 10-point band, each bar labelled with its count.
pub fn class_histogram(students: &[Student]) -> String {
    let counts = bands(students);
    let graded: usize = counts.iter().sum();
    let ungraded = students.len() - graded;
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    let (width, height, bottom, top) = (440, 150, 20, 16);
    let slot = width / 10;
    let mut body = String::new();
    for (i, &count) in counts.iter().enumerate() {
        let h = (height - bottom - top) * count / most;
        let x = i * slot;
        let y = height - bottom - h;
        body.push_str(&format!(
            r#"<rect class="band" data-band="{}" data-count="{count}" x="{}" y="{y}" width="{}" height="{h}"><title>{}: {count}</title></rect><text class="count" x="{}" y="{}">{count}</text><text class="label" x="{}" y="{}">{}</text>"#,
            i * 10,
            x + 4,
            slot - 8,
            band_label(i),
            x + slot / 2,
            y - 4,
            x + slot / 2,
            height - 5,
            band_label(i),
        ));
    }
    body.push_str(&format!(
        r#"<line class="axis" x1="0" x2="{width}" y1="{0}" y2="{0}"/>"#,
        height - bottom
    ));
    let listed: Vec<String> = counts
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, c)| **c > 0)
        .map(|(i, c)| format!("{}: {c}", band_label(i)))
        .collect();
    let mut desc = if graded == 0 {
        "No student has a grade yet.".to_owned()
    } else {
        format!(
            "{graded} student{} with grades, by average: {}.",
            if graded == 1 { "" } else { "s" },
            listed.join(", ")
        )
    };
    if ungraded > 0 {
        desc.push_str(&format!(" {ungraded} without grades."));
    }
    format!(
        r#"<figure class="class-chart">{}<figcaption>{}</figcaption></figure>"#,
        figure(
            "histogram",
            "class-averages",
            width,
            height,
            "The class's averages by 10-point band",
            &desc,
            &body
        ),
        esc(&desc)
    )
}

/// A student's average as a bar out of 100, drawn beside the figure in words (so the bar is
/// hidden from screen readers).
pub fn average_bar(average: Option<f64>) -> String {
    match average {
        Some(average) => format!(
            r#"<svg class="average-bar" viewBox="0 0 100 8" width="100" height="8" aria-hidden="true"><rect class="track" width="100" height="8"/><rect class="fill" width="{:.1}" height="8"/></svg>"#,
            average.clamp(0.0, 100.0)
        ),
        None => String::new(),
    }
}

/// Each grade type's marker: a shape, so series differ without colour.
fn marker(kind: GradeType, x: f64, y: f64) -> String {
    match kind {
        GradeType::Test => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="4.5"/>"#),
        GradeType::Quiz => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="8" height="8"/>"#,
            x - 4.0,
            y - 4.0
        ),
        GradeType::Exam => format!(
            r#"<path d="M{x:.1} {:.1}L{:.1} {:.1}L{:.1} {:.1}z"/>"#,
            y - 5.5,
            x + 5.0,
            y + 4.0,
            x - 5.0,
            y + 4.0
        ),
        GradeType::Homework => format!(
            r#"<path d="M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}z"/>"#,
            y - 5.5,
            x + 5.5,
            y + 5.5,
            x - 5.5
        ),
    }
}

/// A grade type's symbol in the legend, matching its marker.
fn symbol(kind: GradeType) -> &'static str {
    match kind {
        GradeType::Test => "●",
        GradeType::Quiz => "■",
        GradeType::Exam => "▲",
        GradeType::Homework => "◆",
    }
}

/// The class's average score of each grade type.
pub fn class_averages(class: &[Student]) -> BTreeMap<&'static str, f64> {
    let mut sums: BTreeMap<&'static str, (f64, usize)> = BTreeMap::new();
    for grade in class.iter().flat_map(|s| &s.grades) {
        let sum = sums.entry(grade.kind.as_str()).or_insert((0.0, 0));
        sum.0 += grade.score;
        sum.1 += 1;
    }
    sums.into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect()
}

/// `student`'s scores in the order they were added, one series per grade type, each with
/// its own marker shape and with the class's average of that type as a dashed line.
pub fn student_scores(student: &Student, class: &[Student]) -> String {
    if student.grades.is_empty() {
        return String::new();
    }
    let class_avg = class_averages(class);
    let mut grades: Vec<_> = student.grades.iter().collect();
    grades.sort_by_key(|g| g.id);
    let (width, height, left, right, top, bottom) = (560.0, 200.0, 34.0, 12.0, 10.0, 22.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let y_of = |score: f64| top + plot_h * (1.0 - score.clamp(0.0, 100.0) / 100.0);
    let step = plot_w / grades.len() as f64;
    let x_of = |i: usize| left + step * (i as f64 + 0.5);

    let mut body = String::new();
    for score in [0.0, 50.0, 100.0] {
        body.push_str(&format!(
            r#"<line class="grid" x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="axis-label" x="{}" y="{:.1}">{score}</text>"#,
            width - right,
            left - 6.0,
            y_of(score) + 4.0,
            y = y_of(score),
        ));
    }
    let mut legend = String::new();
    let mut words = Vec::new();
    for kind in GradeType::ALL {
        let series: Vec<(usize, f64)> = grades
            .iter()
            .enumerate()
            .filter(|(_, g)| g.kind == kind)
            .map(|(i, g)| (i, g.score))
            .collect();
        if series.is_empty() {
            continue;
        }
        let name = kind.as_str();
        let own = series.iter().map(|(_, s)| s).sum::<f64>() / series.len() as f64;
        let class = class_avg.get(name).copied();
        body.push_str(&format!(
            r#"<g class="series type-{}" data-type="{name}">"#,
            name.to_lowercase()
        ));
        if let Some(class) = class {
            body.push_str(&format!(
                r#"<line class="class-average" x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}"><title>Class average of {name}s: {}</title></line>"#,
                width - right,
                format::percent(class),
                y = y_of(class),
            ));
        }
        if series.len() > 1 {
            let points: Vec<String> = series
                .iter()
                .map(|(i, s)| format!("{:.1},{:.1}", x_of(*i), y_of(*s)))
                .collect();
            body.push_str(&format!(r#"<polyline points="{}"/>"#, points.join(" ")));
        }
        for (i, score) in &series {
            body.push_str(&format!(
                r#"<g class="point" data-score="{}"><title>{}: {} ({name})</title>{}</g>"#,
                format::score(*score),
                esc(&grades[*i].title),
                format::score(*score),
                marker(kind, x_of(*i), y_of(*score))
            ));
        }
        body.push_str("</g>");
        let class_text = class
            .map(|c| format!(", class {}", format::percent(c)))
            .unwrap_or_default();
        legend.push_str(&format!(
            r#"<li class="type-{}"><span aria-hidden="true">{}</span> {name}: {} grade{}, average {}{class_text} <span aria-hidden="true">(dashed)</span></li>"#,
            name.to_lowercase(),
            symbol(kind),
            series.len(),
            if series.len() == 1 { "" } else { "s" },
            format::percent(own),
        ));
        words.push(format!(
            "{name}: {} grade{}, average {}{class_text}",
            series.len(),
            if series.len() == 1 { "" } else { "s" },
            format::percent(own)
        ));
    }
    let desc = format!(
        "{} grades in the order added, against the class average of each type. {}.",
        grades.len(),
        words.join("; ")
    );
    format!(
        r#"<figure class="scores-chart">{}<figcaption><ul class="legend">{legend}</ul></figcaption></figure>"#,
        figure(
            "scores",
            "student-scores",
            width as usize,
            height as usize,
            &format!(
                "How {}, {} did over time",
                student.last_name, student.first_name
            ),
            &desc,
            &body
        )
    )
}

/// The most minutes the log chart shows: the newest minutes of the window shown.
pub const LOG_MINUTES: usize = 30;

/// `value` (not negative) written to one decimal place, as `{:.1}` writes it, but without
/// float formatting: [`log_rate`] is drawn in the browser too, and float formatting's code
/// would cost the WASM kilobytes for this alone.
fn tenths(value: f64) -> String {
    let tenths = (value.max(0.0) * 10.0).round() as u64;
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// Records per minute by service, as stacked bars over the minutes the shown records
/// span (at most the newest [`LOG_MINUTES`]), with a legend of totals and the same counts
/// as a table for reading without the picture.
pub fn log_rate(records: &[LogRecord]) -> String {
    // Times are RFC 3339 in UTC: the first 16 characters name the minute.
    let minute = |r: &LogRecord| r.time.get(..16).map(str::to_owned);
    let mut per_minute: BTreeMap<String, BTreeMap<&str, usize>> = BTreeMap::new();
    for record in records {
        if let Some(m) = minute(record) {
            *per_minute
                .entry(m)
                .or_default()
                .entry(record.service.as_str())
                .or_default() += 1;
        }
    }
    if per_minute.is_empty() {
        return String::new();
    }
    // Every minute in the span, the quiet ones included; only the newest LOG_MINUTES.
    let first = per_minute
        .keys()
        .next()
        .and_then(|m| format::epoch_millis(&format!("{m}:00Z")));
    let last = per_minute
        .keys()
        .last()
        .and_then(|m| format::epoch_millis(&format!("{m}:00Z")));
    let span = match (first, last) {
        (Some(a), Some(b)) => (((b - a) / 60_000.0) as usize + 1).min(LOG_MINUTES),
        _ => per_minute.len().min(LOG_MINUTES),
    };
    let minutes: Vec<String> = match last {
        Some(ms) => (0..span)
            .rev()
            .map(|back| format::minute_of(ms - back as f64 * 60_000.0))
            .collect(),
        None => per_minute.keys().rev().take(span).rev().cloned().collect(),
    };
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &minutes {
        for (service, n) in per_minute.get(m).into_iter().flatten() {
            *totals.entry(service).or_default() += n;
        }
    }
    let services: Vec<&str> = totals.keys().copied().collect();
    let most = minutes
        .iter()
        .map(|m| per_minute.get(m).map(|s| s.values().sum()).unwrap_or(0))
        .max()
        .unwrap_or(0)
        .max(1);
    let (width, height, bottom) = (560usize, 110usize, 18usize);
    // A short window keeps narrow bars, from the left, rather than a few wide slabs.
    let slot = width as f64 / minutes.len().max(LOG_MINUTES) as f64;
    let mut body = String::new();
    let mut rows = String::new();
    for (i, m) in minutes.iter().enumerate() {
        let counts = per_minute.get(m);
        let total: usize = counts.map(|s| s.values().sum()).unwrap_or(0);
        let mut y = (height - bottom) as f64;
        let x = i as f64 * slot + 1.0;
        body.push_str(&format!(
            r#"<g class="minute" data-minute="{}" data-count="{total}">"#,
            &m[11..]
        ));
        for (k, service) in services.iter().enumerate() {
            let n = counts.and_then(|c| c.get(service)).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let h = (height - bottom - 6) as f64 * n as f64 / most as f64;
            y -= h;
            body.push_str(&format!(
                r#"<rect class="series-{}" x="{}" y="{}" width="{}" height="{}"><title>{} at {} UTC: {n}</title></rect>"#,
                k % 8,
                tenths(x),
                tenths(y),
                tenths((slot - 2.0).max(1.0)),
                tenths(h),
                esc(service),
                &m[11..]
            ));
        }
        body.push_str("</g>");
        if i == 0 || i + 1 == minutes.len() {
            body.push_str(&format!(
                r#"<text class="minute-label" x="{}" y="{}">{}</text>"#,
                tenths(x),
                height - 4,
                &m[11..]
            ));
        }
        if total > 0 {
            let cells: String = services
                .iter()
                .map(|s| {
                    let n = counts.and_then(|c| c.get(s)).copied().unwrap_or(0);
                    format!(r#"<td class="number">{n}</td>"#)
                })
                .collect();
            rows.push_str(&format!(
                r#"<tr><th scope="row">{}</th>{cells}</tr>"#,
                &m[11..]
            ));
        }
    }
    body.push_str(&format!(
        r#"<text class="minute-label" x="{width}" y="10" text-anchor="end">most in a minute: {most}</text>"#
    ));
    let total: usize = totals.values().sum();
    let legend: String = services
        .iter()
        .enumerate()
        .map(|(k, s)| {
            format!(
                r#"<li><span class="swatch series-{}" aria-hidden="true"></span>{}: {}</li>"#,
                k % 8,
                esc(s),
                totals[s]
            )
        })
        .collect();
    let desc = format!(
        "{total} records over {} minute{} ({}–{} UTC): {}.",
        minutes.len(),
        if minutes.len() == 1 { "" } else { "s" },
        &minutes[0][11..],
        &minutes[minutes.len() - 1][11..],
        services
            .iter()
            .map(|s| format!("{s} {}", totals[s]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let head: String = services
        .iter()
        .map(|s| format!(r#"<th scope="col" class="number">{}</th>"#, esc(s)))
        .collect();
    format!(
        r#"<figure class="log-chart">{}<figcaption><ul class="legend">{legend}</ul><details><summary>Records per minute as a table</summary><table class="data"><thead><tr><th scope="col">Minute (UTC)</th>{head}</tr></thead><tbody>{rows}</tbody></table></details></figcaption></figure>"#,
        figure(
            "log-rate",
            "log-rate",
            width,
            height,
            "Log records per minute, stacked by sender",
            &desc,
            &body
        )
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn tenths_write_one_decimal_place_as_float_formatting_does() {
        for value in [0.0, 0.04, 0.06, 1.0, 12.34, 99.96, 560.0, 1234.5678] {
            assert_eq!(tenths(value), format!("{value:.1}"), "{value}");
        }
        assert_eq!(tenths(-3.0), "0.0", "nothing drawn is negative");
    }

    use super::*;
    use crate::wire::grading::Grade;

    fn student(id: i64, average: Option<f64>, grades: Vec<Grade>) -> Student {
        Student {
            id,
            first_name: "Nick".into(),
            last_name: "Carter".into(),
            grades,
            average,
        }
    }

    fn grade(id: i64, kind: GradeType, score: f64) -> Grade {
        Grade {
            id,
            title: format!("<g{id}>"),
            kind,
            score,
        }
    }

    #[test]
    fn averages_fall_in_ten_point_bands_with_100_in_the_top_one() {
        assert_eq!(band(0.0), 0);
        assert_eq!(band(9.99), 0);
        assert_eq!(band(10.0), 1);
        assert_eq!(band(89.9), 8);
        assert_eq!(band(100.0), 9);
        let class = [
            student(1, Some(87.0), vec![]),
            student(2, Some(93.7), vec![]),
            student(3, Some(100.0), vec![]),
            student(4, None, vec![]),
        ];
        assert_eq!(bands(&class), [0, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
        let html = class_histogram(&class);
        assert!(html.contains(r#"data-band="90" data-count="2""#), "{html}");
        assert!(html.contains(
            "3 students with grades, by average: 90–100: 2, 80–89: 1. 1 without grades."
        ));
        assert!(
            html.contains(
                r#"role="img" aria-labelledby="class-averages-title" aria-describedby="class-averages-desc""#
            )
        );
    }

    #[test]
    fn a_students_scores_follow_the_order_added_by_type_against_the_class() {
        let nick = student(
            1,
            Some(80.0),
            vec![
                grade(5, GradeType::Quiz, 70.0),
                grade(2, GradeType::Test, 90.0),
                grade(9, GradeType::Quiz, 80.0),
            ],
        );
        let other = student(2, Some(50.0), vec![grade(3, GradeType::Quiz, 30.0)]);
        let html = student_scores(&nick, &[nick.clone(), other]);
        // The test (id 2) comes first, then the quizzes; the class's quiz average is 60.
        assert!(
            html.contains("Test: 1 grade, average 90.0%, class 90.0%"),
            "{html}"
        );
        assert!(
            html.contains("Quiz: 2 grades, average 75.0%, class 60.0%"),
            "{html}"
        );
        assert!(html.contains("<circle cx=\"119.7\""), "{html}");
        assert!(html.contains("&lt;g5&gt;: 70 (Quiz)"), "{html}");
        assert!(!html.contains("<g5>"));
        insta::assert_snapshot!(crate::snapshot::tag_lines(&html));
        assert_eq!(student_scores(&student(3, None, vec![]), &[]), "");
    }

    #[test]
    fn log_records_count_per_minute_by_service_quiet_minutes_included() {
        let record = |time: &str, service: &str| LogRecord {
            time: format!("2026-11-30T08:{time}.000Z"),
            service: service.into(),
            message: "m".into(),
        };
        let html = log_rate(&[
            record("03:10", "GradingService"),
            record("03:01", "LogService"),
            record("03:00", "GradingService"),
            record("01:59", "<Evil>"),
        ]);
        assert!(
            html.contains(r#"data-minute="08:01" data-count="1""#),
            "{html}"
        );
        assert!(
            html.contains(r#"data-minute="08:02" data-count="0""#),
            "{html}"
        );
        assert!(
            html.contains(r#"data-minute="08:03" data-count="3""#),
            "{html}"
        );
        assert!(html.contains("4 records over 3 minutes (08:01–08:03 UTC): &lt;Evil&gt; 1, GradingService 2, LogService 1."), "{html}");
        assert!(!html.contains("<Evil>"));
        assert_eq!(log_rate(&[]), "");
    }
}
