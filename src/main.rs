//! The `rload` binary: parses the command line, runs the load through the
//! library, prints the summary and maps the outcome to an exit status.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use rload::cli::{Args, Invocation, resume_command};
use rload::dump::{DumpOptions, DumpSummary};
use rload::progress::{Console, Work};
use rload::report::exit;
use rload::{Input, Interrupt, Stop, Summary};
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
    let args = Args::parse();
    if let Some(text) = args.generated() {
        let _ = io::stdout().write_all(&text);
        return Ok(exit::OK);
    }
    let mut invocation = args
        .into_invocation()
        .map_err(|e| (e.into(), exit::USAGE))?;
    invocation.config.interrupt =
        stop_on_signals().map_err(|e| (e.context("cannot handle signals"), 1))?;
    for warning in &invocation.warnings {
        eprintln!("{warning}");
    }
    if let Some(options) = &invocation.compare {
        return compare(&invocation, options);
    }
    if let Some(options) = &invocation.config.dump {
        return dump(&invocation, options);
    }
    load(&invocation)
}

/// `--pipe` and `--emit`.
fn load(invocation: &Invocation) -> Result<i32, (anyhow::Error, i32)> {
    let config = &invocation.config;
    // With --emit, standard output carries the commands.
    let json_out = if config.emit {
        Json::Stderr
    } else {
        Json::Stdout
    };
    if invocation.inputs.contains(&Input::Stdin) && io::stdin().is_terminal() {
        let what = match &config.records {
            Some(records) => format!("{} records", records.format),
            None => "commands".into(),
        };
        eprintln!("rload: reading {what} from the terminal until Ctrl-D (end of input)");
    }
    let console = Arc::new(Console::start(
        &config.meter,
        invocation.show,
        Work::Load,
        !invocation.json,
    ));
    let result = rload::run(config, &invocation.inputs, Arc::clone(&console) as _);
    console.finish();
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            if invocation.json {
                let signal = config.interrupt.requested();
                let json = Summary::not_started_json(&e, signal, config.resume_from, config.emit);
                json_out.print(&json);
                if let Json::Stderr = json_out {
                    // The JSON carries the message: it stays the last line.
                    return Ok(failed_to_start(&config.interrupt, e).1);
                }
            }
            return Err(failed_to_start(&config.interrupt, e));
        }
    };
    // A load that sent nothing is resumed by running it again: no line.
    let nothing_done = summary.sent == 0 && summary.resume_from == 0;
    let resume = summary.stop.as_ref().filter(|_| !nothing_done).map(|_| {
        let argv: Vec<String> = std::env::args().collect();
        resume_command(&argv, "--resume-from", &summary.resume_from.to_string())
    });
    if invocation.json {
        json_out.print(&summary.to_json(resume.as_deref()));
        return Ok(summary.exit_code());
    }
    let (mut out, mut err) = (io::stdout(), io::stderr());
    // A closed stdout must not turn a finished load into a crash.
    let _ = summary.print(&mut out, &mut err);
    if let (Some(stop), Some(resume)) = (&summary.stop, resume) {
        let how = match stop {
            Stop::Input(_) => "fix the input, then resume with",
            _ => "to resume",
        };
        eprintln!("rload: {how}: {resume}");
        if invocation.inputs.contains(&Input::Stdin) {
            eprintln!("rload: (feeding it the same standard input again)");
        }
    }
    Ok(summary.exit_code())
}

/// `--dump`: the keys to standard output, the account to standard error.
fn dump(invocation: &Invocation, options: &DumpOptions) -> Result<i32, (anyhow::Error, i32)> {
    let config = &invocation.config;
    let console = Arc::new(Console::start(
        &config.meter,
        invocation.show,
        Work::Dump,
        true,
    ));
    let stdout = io::stdout();
    let result = rload::dump::dump(
        config,
        options,
        &mut stdout.lock(),
        Arc::clone(&console) as _,
    );
    console.finish();
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            if invocation.json {
                let signal = config.interrupt.requested();
                Json::Stderr.print(&DumpSummary::not_started_json(&e, signal));
                // The JSON carries the message: it stays the last line.
                return Ok(failed_to_start(&config.interrupt, e).1);
            }
            return Err(failed_to_start(&config.interrupt, e));
        }
    };
    let resume = summary.resume.as_ref().map(|cursor| {
        let argv: Vec<String> = std::env::args().collect();
        resume_command(&argv, "--cursor", cursor)
    });
    if invocation.json {
        Json::Stderr.print(&summary.to_json(resume.as_deref()));
        return Ok(summary.exit_code());
    }
    let _ = summary.print(&mut io::stderr());
    if let Some(resume) = resume {
        eprintln!("rload: to go on (appending to what was written): {resume}");
    }
    Ok(summary.exit_code())
}

/// `--compare`: the account on standard error; with `--json`, every
/// differing key and then the account as JSON lines on standard output.
fn compare(
    invocation: &Invocation,
    options: &rload::compare::CompareOptions,
) -> Result<i32, (anyhow::Error, i32)> {
    use rload::compare::CompareSummary;
    let config = &invocation.config;
    let console = Arc::new(Console::start(
        &config.meter,
        invocation.show,
        Work::Dump,
        true,
    ));
    let result = rload::compare::compare(config, options, Arc::clone(&console) as _);
    console.finish();
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            if invocation.json {
                let signal = config.interrupt.requested();
                Json::Stdout.print(&CompareSummary::not_started_json(&e, signal));
            }
            return Err(failed_to_start(&config.interrupt, e));
        }
    };
    if invocation.json {
        let _ = summary.write_json_lines(&mut io::stdout().lock());
        Json::Stdout.print(&summary.to_json());
    } else {
        let _ = summary.print(&mut io::stderr());
    }
    Ok(summary.exit_code())
}

/// Where `--json` prints the account.
#[derive(Clone, Copy)]
enum Json {
    Stdout,
    /// Standard output carries the data.
    Stderr,
}

impl Json {
    fn print(self, value: &serde_json::Value) {
        let line = format!("{value}\n");
        // A closed output must not turn a finished load into a crash.
        let _ = match self {
            Json::Stdout => io::stdout().write_all(line.as_bytes()),
            Json::Stderr => io::stderr().write_all(line.as_bytes()),
        };
    }
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
