//! The portal's charts, as SVG components: the class's averages by 10-point band and one
//! bar per student ([`ClassHistogram`], [`AverageBar`]) for `/students`, one student's
//! scores against the class ([`ScoresChart`]) for `/students/{id}`, and records per minute
//! by service ([`LogRate`]) for `/logs`.
//!
//! Each is a pure function of its data, so the server renders it into the page and an
//! island ([`crate::islands`]) redraws it from newer data. None says anything by colour
//! alone: bars carry their counts as text, series differ in marker shape and line style,
//! and every chart has a title and a text summary for a screen reader (or a table, for the
//! log chart).

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::{
    format,
    wire::{
        grading::{Grade, GradeType, Student},
        logs::LogRecord,
    },
};

/// An SVG `<title>`: the view macro would make an HTML one, which a browser neither shows
/// as a tooltip nor reads inside a picture drawn in the browser.
pub fn svg_title(text: String) -> impl IntoView {
    leptos::svg::title().child(text)
}

/// An `<svg>` that is an image with a title and a description.
#[component]
fn Figure(
    class: &'static str,
    id: &'static str,
    width: usize,
    height: usize,
    title: String,
    desc: String,
    children: Children,
) -> impl IntoView {
    let view_box = format!("0 0 {width} {height}");
    view! {
        <svg
            class=format!("chart {class}")
            id=id
            viewBox=view_box
            width=width
            height=height
            role="img"
            aria-labelledby=format!("{id}-title")
            aria-describedby=format!("{id}-desc")
        >
            {leptos::svg::title().id(format!("{id}-title")).child(title)}
            <desc id=format!("{id}-desc")>{desc}</desc>
            {children()}
        </svg>
    }
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

/// The class's averages as a histogram by 10-point band (`counts`, as the grading service counts them), each
/// bar labelled with its count; `ungraded` students have no average.
#[component]
pub fn ClassHistogram(counts: [usize; 10], ungraded: usize) -> impl IntoView {
    let graded: usize = counts.iter().sum();
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    let (width, height, bottom, top) = (440, 150, 20, 16);
    let slot = width / 10;
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
    let bars = counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| {
            let h = (height - bottom - top) * count / most;
            let (x, y) = (i * slot, height - bottom - h);
            view! {
                <rect class="band" data-band=i * 10 data-count=count x=x + 4 y=y width=slot - 8 height=h>
                    {svg_title(format!("{}: {count}", band_label(i)))}
                </rect>
                <text class="count" x=x + slot / 2 y=y.saturating_sub(4)>{count}</text>
                <text class="label" x=x + slot / 2 y=height - 5>{band_label(i)}</text>
            }
        })
        .collect_view();
    view! {
        <figure class="class-chart">
            <Figure
                class="histogram"
                id="class-averages"
                width
                height
                title="The class's averages by 10-point band".into()
                desc=desc.clone()
            >
                {bars}
                <line class="axis" x1="0" x2=width y1=height - bottom y2=height - bottom/>
            </Figure>
            <figcaption>{desc}</figcaption>
        </figure>
    }
}

/// A student's average as a bar out of 100, drawn beside the figure in words (so the bar
/// is hidden from screen readers).
#[component]
pub fn AverageBar(average: Option<f64>) -> impl IntoView {
    average.map(|average| {
        view! {
            <svg class="average-bar" viewBox="0 0 100 8" width="100" height="8" aria-hidden="true">
                <rect class="track" width="100" height="8"/>
                <rect class="fill" width=format!("{:.1}", average.clamp(0.0, 100.0)) height="8"/>
            </svg>
        }
    })
}

/// Each grade type's marker: a shape, so series differ without colour.
#[component]
fn Marker(kind: GradeType, x: f64, y: f64) -> impl IntoView {
    let at = |v: f64| format!("{v:.1}");
    match kind {
        GradeType::Test => view! { <circle cx=at(x) cy=at(y) r="4.5"/> }.into_any(),
        GradeType::Quiz => {
            view! { <rect x=at(x - 4.0) y=at(y - 4.0) width="8" height="8"/> }.into_any()
        }
        GradeType::Exam => {
            let d = format!(
                "M{x:.1} {:.1}L{:.1} {:.1}L{:.1} {:.1}z",
                y - 5.5,
                x + 5.0,
                y + 4.0,
                x - 5.0,
                y + 4.0
            );
            view! { <path d=d/> }.into_any()
        }
        GradeType::Homework => {
            let d = format!(
                "M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}z",
                y - 5.5,
                x + 5.5,
                y + 5.5,
                x - 5.5
            );
            view! { <path d=d/> }.into_any()
        }
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

/// The average score of each grade type over these grades.
pub fn type_averages<'a>(grades: impl IntoIterator<Item = &'a Grade>) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for grade in grades {
        let sum = sums
            .entry(grade.kind.as_str().to_owned())
            .or_insert((0.0, 0));
        sum.0 += grade.score;
        sum.1 += 1;
    }
    sums.into_iter()
        .map(|(k, (s, n))| (k, s / n as f64))
        .collect()
}

/// `student`'s scores in the order they were added, one series per grade type, each with
/// its own marker shape and with the class's average of that type (`class`, by type name)
/// as a dashed line. Nothing for a student without grades.
#[component]
pub fn ScoresChart(student: Student, class: BTreeMap<String, f64>) -> Option<impl IntoView> {
    if student.grades.is_empty() {
        return None;
    }
    let mut grades = student.grades.clone();
    grades.sort_by_key(|g| g.id);
    let (width, height, left, right, top, bottom) = (560.0, 200.0, 34.0, 12.0, 10.0, 22.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let y_of = move |score: f64| top + plot_h * (1.0 - score.clamp(0.0, 100.0) / 100.0);
    let step = plot_w / grades.len() as f64;
    let x_of = move |i: usize| left + step * (i as f64 + 0.5);
    let at = |v: f64| format!("{v:.1}");

    let grid = [0.0, 50.0, 100.0]
        .into_iter()
        .map(|score| {
            view! {
                <line class="grid" x1=left x2=width - right y1=at(y_of(score)) y2=at(y_of(score))/>
                <text class="axis-label" x=left - 6.0 y=at(y_of(score) + 4.0)>{score}</text>
            }
        })
        .collect_view();
    let mut series_views = Vec::new();
    let mut legend = Vec::new();
    let mut words = Vec::new();
    for kind in GradeType::ALL {
        let series: Vec<(usize, Grade)> = grades
            .iter()
            .enumerate()
            .filter(|(_, g)| g.kind == kind)
            .map(|(i, g)| (i, g.clone()))
            .collect();
        if series.is_empty() {
            continue;
        }
        let name = kind.as_str();
        let n = series.len();
        let own = series.iter().map(|(_, g)| g.score).sum::<f64>() / n as f64;
        let class_average = class.get(name).copied();
        let average_line = class_average.map(|c| {
            view! {
                <line class="class-average" x1=left x2=width - right y1=at(y_of(c)) y2=at(y_of(c))>
                    {svg_title(format!("Class average of {name}s: {}", format::percent(c)))}
                </line>
            }
        });
        let line = (n > 1).then(|| {
            let points: Vec<String> = series
                .iter()
                .map(|(i, g)| format!("{:.1},{:.1}", x_of(*i), y_of(g.score)))
                .collect();
            view! { <polyline points=points.join(" ")/> }
        });
        let points = series
            .into_iter()
            .map(|(i, grade)| {
                let score = format::score(grade.score);
                let when = grade
                    .added
                    .as_deref()
                    .and_then(format::added)
                    .map(|when| format!(", added {when}"))
                    .unwrap_or_default();
                let tip = format!("{}: {score} ({name}){when}", grade.title);
                view! {
                    <g class="point" data-score=score>
                        {svg_title(tip)}
                        <Marker kind x=x_of(i) y=y_of(grade.score)/>
                    </g>
                }
            })
            .collect_view();
        series_views.push(view! {
            <g class=format!("series type-{}", name.to_lowercase()) data-type=name>
                {average_line}
                {line}
                {points}
            </g>
        });
        let class_text = class_average
            .map(|c| format!(", class {}", format::percent(c)))
            .unwrap_or_default();
        let text = format!(
            "{name}: {n} grade{}, average {}{class_text}",
            if n == 1 { "" } else { "s" },
            format::percent(own)
        );
        legend.push(view! {
            <li class=format!("type-{}", name.to_lowercase())>
                <span aria-hidden="true">{symbol(kind)}</span>
                " "
                {text.clone()}
                " "
                <span aria-hidden="true">"(dashed)"</span>
            </li>
        });
        words.push(text);
    }
    // When the first and the last grade were added, under the ends of the x axis (a
    // grade stored before the service kept the time has none).
    let when = |grade: &Grade| grade.added.as_deref().and_then(format::added);
    let (first, last) = (when(&grades[0]), when(&grades[grades.len() - 1]));
    let span = match (&first, &last) {
        (Some(first), Some(last)) if grades.len() > 1 => format!(" from {first} to {last}"),
        (_, Some(last)) if grades.len() == 1 => format!(", added on {last}"),
        (_, Some(last)) => format!(", the last on {last}"),
        _ => String::new(),
    };
    let x_axis = [
        first.filter(|_| grades.len() > 1).map(|first| {
            view! { <text class="axis-label" x=left y=height - 6.0 text-anchor="start">{first}</text> }
        }),
        last.map(|last| {
            view! { <text class="axis-label" x=width - right y=height - 6.0 text-anchor="end">{last}</text> }
        }),
    ];
    let desc = format!(
        "{} grade{} in the order added{span}, against the class average of each type. {}.",
        grades.len(),
        if grades.len() == 1 { "" } else { "s" },
        words.join("; ")
    );
    let title = format!(
        "How {}, {} did over time",
        student.last_name, student.first_name
    );
    Some(view! {
        <figure class="scores-chart">
            <Figure class="scores" id="student-scores" width=width as usize height=height as usize title desc>
                {grid}
                {x_axis}
                {series_views}
            </Figure>
            <figcaption>
                <ul class="legend">{legend}</ul>
            </figcaption>
        </figure>
    })
}

/// The most minutes the log chart shows: the newest minutes of the window shown.
pub const LOG_MINUTES: usize = 30;

/// `value` (not negative) written to one decimal place, as `{:.1}` writes it, but without
/// float formatting: [`LogRate`] is drawn in the browser too, and float formatting's code
/// would cost the WASM kilobytes for this alone.
fn tenths(value: f64) -> String {
    let tenths = (value.max(0.0) * 10.0).round() as u64;
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// The log chart's figures: records per minute by service over the minutes the records
/// span (at most the newest [`LOG_MINUTES`], the quiet ones included).
#[derive(Debug, Clone, PartialEq)]
pub struct LogMinutes {
    /// Each minute (`HH:MM`, UTC) with its count per service, in the order of `services`.
    pub minutes: Vec<(String, Vec<usize>)>,
    /// The services that sent any, by name, with their totals.
    pub services: Vec<(String, usize)>,
}

impl LogMinutes {
    pub fn of(records: &[LogRecord]) -> Option<LogMinutes> {
        // Times are RFC 3339 in UTC: the first 16 characters name the minute.
        let mut per_minute: BTreeMap<String, BTreeMap<&str, usize>> = BTreeMap::new();
        for record in records {
            if let Some(m) = record.time.get(..16) {
                *per_minute
                    .entry(m.to_owned())
                    .or_default()
                    .entry(record.service.as_str())
                    .or_default() += 1;
            }
        }
        let millis = |m: &String| format::epoch_millis(&format!("{m}:00Z"));
        let first = per_minute.keys().next().and_then(millis);
        let last = per_minute.keys().last().and_then(millis);
        let span = match (first, last) {
            (Some(a), Some(b)) => (((b - a) / 60_000.0) as usize + 1).min(LOG_MINUTES),
            _ => per_minute.len().min(LOG_MINUTES),
        };
        if span == 0 {
            return None;
        }
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
        let minutes = minutes
            .iter()
            .map(|m| {
                let counts = per_minute.get(m);
                let row = totals
                    .keys()
                    .map(|s| counts.and_then(|c| c.get(s)).copied().unwrap_or(0))
                    .collect();
                // `HH:MM`; a time that is not RFC 3339 (any text a log service sent)
                // is shown whole rather than cut inside a character.
                (m.get(11..).unwrap_or(m).to_owned(), row)
            })
            .collect();
        let services = totals.into_iter().map(|(s, n)| (s.to_owned(), n)).collect();
        Some(LogMinutes { minutes, services })
    }
}

/// Records per minute by service, as stacked bars over the minutes the records span, with
/// a legend of totals and the same counts as a table for reading without the picture.
/// Nothing when there are no records.
#[component]
pub fn LogRate(records: Vec<LogRecord>) -> Option<impl IntoView> {
    let LogMinutes { minutes, services } = LogMinutes::of(&records)?;
    let total_of = |row: &Vec<usize>| row.iter().sum::<usize>();
    let most = minutes
        .iter()
        .map(|(_, row)| total_of(row))
        .max()
        .unwrap_or(0)
        .max(1);
    let (width, height, bottom) = (560usize, 110usize, 18usize);
    // A short window keeps narrow bars, from the left, rather than a few wide slabs.
    let slot = width as f64 / minutes.len().max(LOG_MINUTES) as f64;
    let count = minutes.len();
    let bars = minutes
        .iter()
        .enumerate()
        .map(|(i, (minute, row))| {
            let x = i as f64 * slot + 1.0;
            let mut y = (height - bottom) as f64;
            let stack = row
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(k, &n)| {
                    let h = (height - bottom - 6) as f64 * n as f64 / most as f64;
                    y -= h;
                    let tip = format!("{} at {minute} UTC: {n}", services[k].0);
                    view! {
                        <rect
                            class=format!("series-{}", k % 8)
                            x=tenths(x)
                            y=tenths(y)
                            width=tenths((slot - 2.0).max(1.0))
                            height=tenths(h)
                        >
                            {svg_title(tip)}
                        </rect>
                    }
                })
                .collect_view();
            let label = (i == 0 || i + 1 == count).then(|| {
                view! { <text class="minute-label" x=tenths(x) y=height - 4>{minute.clone()}</text> }
            });
            view! {
                <g class="minute" data-minute=minute.clone() data-count=total_of(row)>{stack}</g>
                {label}
            }
        })
        .collect_view();
    let total: usize = services.iter().map(|(_, n)| n).sum();
    let desc = format!(
        "{total} records over {count} minute{} ({}–{} UTC): {}.",
        if count == 1 { "" } else { "s" },
        minutes[0].0,
        minutes[count - 1].0,
        services
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let legend = services
        .iter()
        .enumerate()
        .map(|(k, (service, n))| {
            view! {
                <li>
                    <span class=format!("swatch series-{}", k % 8) aria-hidden="true"></span>
                    {format!("{service}: {n}")}
                </li>
            }
        })
        .collect_view();
    let head = services
        .iter()
        .map(|(service, _)| view! { <th scope="col" class="number">{service.clone()}</th> })
        .collect_view();
    let rows = minutes
        .iter()
        .filter(|(_, row)| total_of(row) > 0)
        .map(|(minute, row)| {
            let cells = row
                .iter()
                .map(|n| view! { <td class="number">{*n}</td> })
                .collect_view();
            view! { <tr><th scope="row">{minute.clone()}</th>{cells}</tr> }
        })
        .collect_view();
    Some(view! {
        <figure class="log-chart">
            <Figure
                class="log-rate"
                id="log-rate"
                width
                height
                title="Log records per minute, stacked by sender".into()
                desc
            >
                {bars}
                <text class="minute-label" x=width y="10" text-anchor="end">{format!("most in a minute: {most}")}</text>
            </Figure>
            <figcaption>
                <ul class="legend">{legend}</ul>
                <details>
                    <summary>"Records per minute as a table"</summary>
                    <table class="data">
                        <thead><tr><th scope="col">"Minute (UTC)"</th>{head}</tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </details>
            </figcaption>
        </figure>
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{html, tag_lines};
    use crate::wire::grading::Grade;

    #[test]
    fn tenths_write_one_decimal_place_as_float_formatting_does() {
        for value in [0.0, 0.04, 0.06, 1.0, 12.34, 99.96, 560.0, 1234.5678] {
            assert_eq!(tenths(value), format!("{value:.1}"), "{value}");
        }
        assert_eq!(tenths(-3.0), "0.0", "nothing drawn is negative");
    }

    fn student(id: i64, grades: Vec<Grade>) -> Student {
        Student {
            id,
            first_name: "Nick".into(),
            last_name: "Carter".into(),
            grades,
            average: None,
        }
    }

    fn grade(id: i64, kind: GradeType, score: f64) -> Grade {
        Grade {
            id,
            title: format!("<g{id}>"),
            kind,
            score,
            added: (id % 2 == 0).then(|| format!("2026-12-0{}T09:30:00Z", id % 9 + 1)),
        }
    }

    #[test]
    fn averages_fall_in_ten_point_bands_with_100_in_the_top_one() {
        assert_eq!(band(0.0), 0);
        assert_eq!(band(9.99), 0);
        assert_eq!(band(10.0), 1);
        assert_eq!(band(89.9), 8);
        assert_eq!(band(100.0), 9);
        let mut counts = [0; 10];
        for average in [87.0, 93.7, 100.0] {
            counts[band(average)] += 1;
        }
        assert_eq!(counts, [0, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
        let html = html(|| view! { <ClassHistogram counts ungraded=1/> });
        assert!(html.contains(r#"data-band="90" data-count="2""#), "{html}");
        assert!(html.contains(
            "3 students with grades, by average: 90–100: 2, 80–89: 1. 1 without grades."
        ));
        insta::assert_snapshot!(tag_lines(&html));
    }

    #[test]
    fn a_students_scores_follow_the_order_added_by_type_against_the_class() {
        let nick = student(
            1,
            vec![
                grade(5, GradeType::Quiz, 70.0),
                grade(2, GradeType::Test, 90.0),
                grade(9, GradeType::Quiz, 80.0),
            ],
        );
        let other = student(2, vec![grade(3, GradeType::Quiz, 30.0)]);
        let class = type_averages(nick.grades.iter().chain(&other.grades));
        let html = html(|| view! { <ScoresChart student=nick class/> });
        // The test (id 2) comes first, then the quizzes; the class's quiz average is 60.
        assert!(
            html.contains("Test: 1 grade, average 90.0%, class 90.0%"),
            "{html}"
        );
        assert!(
            html.contains("Quiz: 2 grades, average 75.0%, class 60.0%"),
            "{html}"
        );
        assert!(html.contains("&lt;g5&gt;: 70 (Quiz)"), "{html}");
        assert!(!html.contains("<g5>"));
        insta::assert_snapshot!(tag_lines(&html));
        let none = crate::snapshot::html(
            || view! { <ScoresChart student=student(3, vec![]) class=BTreeMap::new()/> },
        );
        assert_eq!(none, "");
    }

    #[test]
    fn log_records_count_per_minute_by_service_quiet_minutes_included() {
        let record = |time: &str, service: &str| LogRecord {
            time: format!("2026-11-30T08:{time}.000Z"),
            service: service.into(),
            message: "m".into(),
        };
        let records = vec![
            record("03:10", "GradingService"),
            record("03:01", "LogService"),
            record("03:00", "GradingService"),
            record("01:59", "<Evil>"),
        ];
        let html = html(|| view! { <LogRate records/> });
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
        insta::assert_snapshot!(tag_lines(&html));
        assert_eq!(
            crate::snapshot::html(|| view! { <LogRate records=vec![]/> }),
            ""
        );
        // A rogue log service's time, valid for 16 bytes with a character across the
        // 11th: drawn, not a panic.
        let rogue = vec![LogRecord {
            time: "9999-99-99é1:00:00.000Z".into(),
            service: "Rogue".into(),
            message: "m".into(),
        }];
        let html = crate::snapshot::html(|| view! { <LogRate records=rogue/> });
        assert!(html.contains("Rogue: 1"), "{html}");
    }
}
