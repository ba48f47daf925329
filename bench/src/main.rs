//! `make bench`: measures the registry, the log service and the portal on this machine.
//!
//! It starts the release binaries as separate processes on 127.0.0.1, drives them with
//! its own load generator (and Debian's `wrk` where the issue names it), prints one table
//! and writes it to `BENCHMARKS.md` with the core count and the date. Each figure is
//! measured in the same run as its baseline, since these machines are noisy. Nothing
//! here asserts: a missed target is reported as missed.
//!
//! `bench soak` is `make soak`, which does assert: see [`soak`].

mod cluster;
mod detection;
mod discovery;
mod figure;
mod grading;
mod heartbeat;
mod helpers;
mod history;
mod load;
mod log_ingest;
mod portal;
mod procs;
mod propagation;
mod registry;
mod soak;

use clap::{Parser, Subcommand};

/// make bench: measures the registry, the log service and the portal on this machine, each
/// figure beside a baseline measured in the same run (see BENCHMARKS.md). `bench soak` is
/// make soak.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Run only the figures whose name contains this word: lookups, registrations,
    /// propagation, detection, heartbeat, log, grade, portal, discovery (dns, consul) or
    /// etcd. Without it every
    /// figure runs and the table is written to BENCHMARKS.md.
    only: Option<String>,
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// make soak: instances churning against the registry, which must stay flat.
    Soak(soak::SoakArgs),
    /// (a helper process) a bare handler answering every GET with a file's bytes.
    #[command(hide = true)]
    Bare(helpers::BareArgs),
    /// (a helper process) a bare handler appending each POST /log body to a file.
    #[command(hide = true)]
    BareLog(helpers::BareLogArgs),
    /// (a helper process) a bare DNS responder answering every question with the same records.
    #[command(hide = true)]
    BareDns(helpers::BareDnsArgs),
    /// (a helper process) answers GET /hb/{i} for many instances on many listeners.
    #[command(hide = true)]
    Stub(helpers::StubArgs),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match cli.mode {
        Some(Mode::Soak(args)) => soak::soak(args).await,
        Some(Mode::Bare(args)) => helpers::bare(args).await,
        Some(Mode::BareLog(args)) => helpers::bare_log(args).await,
        Some(Mode::Stub(args)) => helpers::stub(args).await,
        Some(Mode::BareDns(args)) => helpers::bare_dns(args).await,
        None => figures(cli.only).await,
    }
}

/// Measures the figures `only` names (every one without it), and prints the table.
async fn figures(only: Option<String>) {
    // The temp dirs (gigabytes of log and grade files) go also when a figure panics.
    let _cleanup = procs::TempDirs;
    let wanted = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    let mut figures = Vec::new();
    if wanted("lookups") {
        figures.push(registry::lookups().await);
    }
    if wanted("registrations") {
        figures.push(registry::registrations().await);
    }
    if wanted("history") {
        figures.extend(history::figures().await);
    }
    if wanted("propagation") {
        figures.push(propagation::propagation().await);
    }
    if wanted("detection") {
        figures.push(detection::failure_detection().await);
    }
    if wanted("heartbeat") {
        figures.extend(heartbeat::heartbeat_scale().await);
    }
    if wanted("log") {
        figures.extend(log_ingest::log_ingest().await);
    }
    if wanted("grade") {
        figures.extend(grading::figures().await);
    }
    if wanted("portal") {
        figures.extend(portal::portal().await);
    }
    if wanted("discovery") || wanted("dns") || wanted("consul") {
        figures.extend(discovery::figures().await);
    }
    if wanted("etcd") {
        figures.extend(cluster::figures().await);
    }
    figure::report(&figures, only.is_none());
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Mode};

    #[test]
    fn every_invocation_of_the_makefile_and_of_the_bench_itself_parses() {
        Cli::command().debug_assert();
        let parse = |line: &str| Cli::try_parse_from(line.split_whitespace());

        let all = parse("bench").unwrap();
        assert!(all.only.is_none() && all.mode.is_none());
        assert_eq!(parse("bench etcd").unwrap().only.as_deref(), Some("etcd"));
        let Some(Mode::Soak(soak)) = parse("bench soak --cluster --duration 2m").unwrap().mode
        else {
            panic!("soak is a mode")
        };
        assert!(format!("{soak:?}").contains("cluster: true"));
        for helper in [
            "bench bare --body /tmp/b --type text/html",
            "bench bare --addr 127.0.0.1:1 --body /tmp/b",
            "bench bare-log --file /tmp/f --fsync",
            "bench stub --listeners 2 --count 10",
            "bench bare-dns --answers 8",
        ] {
            assert!(parse(helper).unwrap().mode.is_some(), "{helper}");
        }
        // What used to be ignored now stops with a usage error.
        for wrong in [
            "bench soak --duraton 2m",
            "bench soak --instances 3",
            "bench soak --seed x",
        ] {
            assert!(parse(wrong).is_err(), "{wrong}");
        }
    }
}
