//! The `rload` binary: parses the command line into one mode and its
//! options, runs that mode through the library, prints its account and maps
//! the outcome to an exit status. The command line ([`cli`]) and the
//! progress display ([`progress`]) are the binary's own modules.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

mod cli;
mod progress;

use clap::Parser;
use cli::{Args, Invocation, Mode, resume_command};
use progress::{Console, Work};
use rload::compare::CompareSummary;
use rload::dump::DumpSummary;
use rload::report::exit;
use rload::{Account, Destination, Events, Handles, Input, InputKind, Interrupt, Meter, Summary};
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
    let invocation = args
        .into_invocation()
        .map_err(|e| (e.into(), exit::USAGE))?;
    let handles = Handles {
        interrupt: stop_on_signals().map_err(|e| (e.context("cannot handle signals"), 1))?,
        meter: Meter::new(),
    };
    for warning in &invocation.warnings {
        eprintln!("{warning}");
    }
    let config = &invocation.config;
    match &invocation.mode {
        Mode::Load(options) => {
            let emit = matches!(options.to, Destination::Emit(_));
            if invocation.inputs.contains(&Input::Stdin) && io::stdin().is_terminal() {
                let what = match &options.input {
                    InputKind::Records(records) => format!("{} records", records.format),
                    InputKind::Commands | InputKind::Rdb => "commands".into(),
                };
                eprintln!("rload: reading {what} from the terminal until Ctrl-D (end of input)");
            }
            let (console, events) = display(&invocation, &handles, Work::Load, !invocation.json);
            let result = rload::run(config, &handles, options, &invocation.inputs, events);
            console.finish();
            let not_started = |e: &rload::Error, signal| {
                Summary::not_started_json(e, signal, config.resume_from, emit)
            };
            // With --emit, standard output carries the commands.
            let json = if emit { Json::Stderr } else { Json::Stdout };
            report(&invocation, &handles, result, not_started, json)
        }
        Mode::Dump(options) => {
            let (console, events) = display(&invocation, &handles, Work::Dump, true);
            let stdout = io::stdout();
            let result = rload::dump::dump(config, &handles, options, &mut stdout.lock(), events);
            console.finish();
            report(
                &invocation,
                &handles,
                result,
                DumpSummary::not_started_json,
                Json::Stderr,
            )
        }
        Mode::Compare(options) => {
            let (console, events) = display(&invocation, &handles, Work::Dump, true);
            let result = rload::compare::compare(config, &handles, options, events);
            console.finish();
            // With --json, each differing key, then the account.
            report(
                &invocation,
                &handles,
                result,
                CompareSummary::not_started_json,
                Json::Stdout,
            )
        }
    }
}

/// The progress display of a run, as `invocation` asks, and the same as
/// the run's events; with `stdout_lines` off, it writes nothing to
/// standard output (which carries data, or `--json`).
fn display(
    invocation: &Invocation,
    handles: &Handles,
    work: Work,
    stdout_lines: bool,
) -> (Arc<Console>, Arc<dyn Events>) {
    let console = Console::start(&handles.meter, invocation.show, work, stdout_lines);
    let console = Arc::new(console);
    let events = Arc::clone(&console) as Arc<dyn Events>;
    (console, events)
}

/// Prints the account of a run, whatever its mode, and gives its exit
/// status: as text (and the command that goes on after a stop), or as
/// JSON where `json` says. A run that failed before it started prints
/// what `not_started` makes of the failure.
fn report<A: Account>(
    invocation: &Invocation,
    handles: &Handles,
    result: Result<A, rload::Error>,
    not_started: impl Fn(&rload::Error, Option<i32>) -> serde_json::Value,
    json: Json,
) -> Result<i32, (anyhow::Error, i32)> {
    let account = match result {
        Ok(account) => account,
        Err(e) => {
            if invocation.json {
                json.print(&not_started(&e, handles.interrupt.requested()));
                if let Json::Stderr = json {
                    // The JSON carries the message: it stays the last line.
                    return Ok(failed_to_start(&handles.interrupt, e).1);
                }
            }
            return Err(failed_to_start(&handles.interrupt, e));
        }
    };
    let resume = account.resume().map(|r| {
        let argv: Vec<String> = std::env::args().collect();
        (r.advice, resume_command(&argv, r.flag, &r.value))
    });
    if invocation.json {
        let _ = match json {
            Json::Stdout => account.write_json_lines(&mut io::stdout().lock()),
            Json::Stderr => account.write_json_lines(&mut io::stderr().lock()),
        };
        json.print(&account.to_json(resume.as_ref().map(|r| r.1.as_str())));
        return Ok(account.exit_code());
    }
    // A closed stdout must not turn a finished run into a crash.
    let _ = account.print(&mut io::stdout(), &mut io::stderr());
    if let Some((advice, command)) = resume {
        eprintln!("rload: {advice}: {command}");
        if matches!(invocation.mode, Mode::Load(_)) && invocation.inputs.contains(&Input::Stdin) {
            eprintln!("rload: (feeding it the same standard input again)");
        }
    }
    Ok(account.exit_code())
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
