//! The `rload` binary: parses the command line, runs the load through the
//! library, prints the summary and maps the outcome to an exit status.

use std::io;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use rload::cli::{Args, resume_command};
use rload::report::exit;
use rload::{Input, Stop, Terminal};

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
    let invocation = Args::parse()
        .into_invocation()
        .map_err(|e| (e.into(), exit::USAGE))?;
    for warning in &invocation.warnings {
        eprintln!("{warning}");
    }
    let summary =
        rload::run(&invocation.config, &invocation.inputs, Arc::new(Terminal)).map_err(|e| {
            let code = e.exit_code();
            (e.into(), code)
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
