//! The `rload` binary: parses the command line, runs the load through the
//! library, prints the summary and maps the outcome to an exit status.

use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use rload::cli::{Args, resume_command};
use rload::report::exit;
use rload::{Input, Interrupt, Stop, Terminal};
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
    let interrupt = invocation.config.interrupt.clone();
    let summary =
        rload::run(&invocation.config, &invocation.inputs, Arc::new(Terminal)).map_err(|e| {
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
        })?;
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
            resume_command(&argv, summary.resume_from)
        );
        if invocation.inputs.contains(&Input::Stdin) {
            eprintln!("rload: (feeding it the same standard input again)");
        }
    }
    Ok(summary.exit_code())
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
