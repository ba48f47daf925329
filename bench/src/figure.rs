//! One row of the table, how its figures are written, and the table itself (printed,
//! and written to `BENCHMARKS.md` after a full run).

use std::time::Duration;

/// One row of the table: what was measured, beside what.
pub(crate) struct Figure {
    pub(crate) name: &'static str,
    pub(crate) how: String,
    /// The baseline measured in the same run, the same way, and its figure; or why there
    /// is none.
    pub(crate) baseline: String,
    pub(crate) measured: String,
    /// Ours against the baseline, as the target reads it (`—` without a baseline).
    pub(crate) ratio: String,
    pub(crate) target: String,
    /// Whether the target holds; `None` for figures that are only reported.
    pub(crate) holds: Option<bool>,
}

/// A ratio as a percentage: `87%`.
pub(crate) fn percent(ratio: f64) -> String {
    format!("{:.0}%", ratio * 100.0)
}

/// A ratio as a multiple: `1.4×`.
pub(crate) fn times_str(ratio: f64) -> String {
    format!("{ratio:.2}×")
}

/// What a figure without a baseline says in its baseline column.
pub(crate) fn no_baseline(why: &str) -> String {
    format!("none: {why}")
}

/// The `p` quantile (0 to 1) of `sorted`.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A duration in milliseconds, as the table writes it.
pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub(crate) fn report(figures: &[Figure], write_file: bool) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let date = humantime::format_rfc3339(std::time::SystemTime::now()).to_string();
    let mut table = String::new();
    table.push_str(
        "| figure | how | baseline (same run) | measured | ratio | target | holds |\n| --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for figure in figures {
        let holds = match figure.holds {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "(report)",
        };
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            figure.name,
            figure.how,
            figure.baseline,
            figure.measured,
            figure.ratio,
            figure.target,
            holds
        ));
    }
    let missed: Vec<&str> = figures
        .iter()
        .filter(|f| f.holds == Some(false))
        .map(|f| f.name)
        .collect();
    let summary = if missed.is_empty() {
        "Every target holds.".to_owned()
    } else {
        format!("Targets missed: {}.", missed.join(", "))
    };
    println!("\n{table}\n{summary}");
    if write_file {
        let text = format!(
            "# Benchmarks\n\nMeasured by `make bench` on {} with {cores} cores. Only ratios travel between \
             machines: each figure stands beside a baseline measured in the same run, the same way, and its \
             target is a ratio to that baseline where one exists (a figure without one says why). The \
             services ran as separate release processes on 127.0.0.1, logging as a user's do by default \
             (`RUST_LOG` unset); wrk's socket errors and timeouts count as errors.\n\n\
             {table}\n{summary}\n",
            &date[..10]
        );
        std::fs::write("BENCHMARKS.md", text).unwrap();
        println!("(written to BENCHMARKS.md)");
    }
}
