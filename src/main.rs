//! The `rload` binary: parses the command line, runs the load through the
//! library, prints the summary and maps the outcome to an exit status.

use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use rload::cli::{Args, Invocation, resume_command};
use rload::dump::DumpOptions;
use rload::report::exit;
use rload::{Config, Input, Interrupt, Stop, Terminal};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::flag;

fn main() -> ExitCode {
    let code = match run() {
        Ok(code) => code,
        Err((err, code)) => {
            eprintln!("rload: {err:#}");
            code
        }
    };
    ExitCode::from(code as u8)
}

fn run() -> Result<i32, (anyhow::Error, i32)> {
    let mut invocation = Args::parse()
        .into_invocation()
        .map_err(|e| (e.into(), exit::USAGE))?;
    invocation.config.interrupt =
        stop_on_signals().map_err(|e| (e.context("cannot handle signals"), 1))?;
    for warning in &invocation.warnings {
        eprintln!("{warning}");
    }
    if let Some(options) = &invocation.config.dump {
        return dump(&invocation.config, options);
    }
    load(&invocation)
}

/// `--pipe` and `--emit`.
fn load(invocation: &Invocation) -> Result<i32, (anyhow::Error, i32)> {
    let interrupt = invocation.config.interrupt.clone();
    let summary = rload::run(&invocation.config, &invocation.inputs, Arc::new(Terminal))
        .map_err(|e| failed_to_start(&interrupt, e))?;
    let (mut out, mut err) = (io::stdout(), io::stderr());
    // A closed stdout must not turn a finished load into a crash.
    let _ = summary.print(&mut out, &mut err);
    if let Some(stop) = &summary.stop {
        let argv: Vec<String> = std::env::args().collect();
        let how = match stop {
            Stop::Input(_) => "fix the input, then resume with",
            _ => "to resume",
        };
        eprintln!(
            "rload: {how}: {}",
            resume_command(&argv, "--resume-from", &summary.resume_from.to_string())
        );
        if invocation.inputs.contains(&Input::Stdin) {
            eprintln!("rload: (feeding it the same standard input again)");
        }
    }
    Ok(summary.exit_code())
}

/// `--dump`: the keys to standard output, the account to standard error.
fn dump(config: &Config, options: &DumpOptions) -> Result<i32, (anyhow::Error, i32)> {
    let stdout = io::stdout();
    let summary = rload::dump::dump(config, options, &mut stdout.lock(), Arc::new(Terminal))
        .map_err(|e| failed_to_start(&config.interrupt, e))?;
    let _ = summary.print(&mut io::stderr());
    if let Some(cursor) = &summary.resume {
        let argv: Vec<String> = std::env::args().collect();
        eprintln!(
            "rload: to go on (appending to what was written): {}",
            resume_command(&argv, "--cursor", cursor)
        );
    }
    Ok(summary.exit_code())
}

/// The message and status of a failure before anything was sent.
fn failed_to_start(interrupt: &Interrupt, e: rload::Error) -> (anyhow::Error, i32) {
    match interrupt.requested() {
        // The failure is the signal's doing (an interrupted connect).
        Some(signal) => (
            anyhow::anyhow!(
                "interrupted by {} before the load started: nothing was sent",
                rload::signal_name(signal)
            ),
            128 + signal,
        ),
        None => {
            let code = e.exit_code();
            (e.into(), code)
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP ask the load to stop: it stops reading the
/// input, drains what is in flight (for at most a few seconds), and prints
/// its account and the resume command. A second signal exits at once, with
/// the status a shell gives a process that signal killed.
fn stop_on_signals() -> anyhow::Result<Interrupt> {
    let interrupt = Interrupt::new();
    let again = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        // In this order: the second signal finds `again` set by the first.
        flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&again))?;
        flag::register(signal, Arc::clone(&again))?;
        flag::register_usize(signal, interrupt.flag(), signal as usize)?;
    }
    Ok(interrupt)
}
