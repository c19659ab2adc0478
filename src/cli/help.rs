//! The text around the flags: what `--help` says after them (the input,
//! the exit statuses), and the man page, whose synopsis names each flag's
//! value and which has EXIT STATUS and EXAMPLES sections of its own.

use clap_mangen::roff::{Roff, bold, italic, roman};

/// What the input is, and which format flag is which.
const INPUT: &str = "\
Input is read from FILEs in order, or from standard input when none is given
('-' also means standard input). Each command is an inline line (redis-cli's
quoting rules) or a RESP frame; the two may be mixed. --format says how the
input is written; --output-format, how --emit and --dump write.";

/// The exit statuses, and what each means.
const EXIT_STATUSES: &[(&str, &str)] = &[
    ("0", "every command was sent and no reply was an error"),
    (
        "1",
        "some replies were errors, or the server stopped replying (timeout); --compare: the keys differ",
    ),
    (
        "2",
        "the command line is invalid, or does not fit the server (a Redis Cluster node without -c)",
    ),
    (
        "3",
        "an input could not be read, holds an invalid command, or is not commands or records (an image, an archive, an RDB file)",
    ),
    (
        "4",
        "could not connect, set up TLS, log in (AUTH) or select the database",
    ),
    (
        "5",
        "the connection was lost mid-load, or the server broke the protocol",
    ),
    ("6", "--compare stopped on an error reply or a timeout"),
    (
        "128+N",
        "stopped by signal N (130: Ctrl-C, SIGINT; 143: SIGTERM)",
    ),
];

/// Examples for the man page: what each does, and the command.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "Load a file of commands, as redis-cli --pipe does:",
        "rload --pipe -h redis.example.com data.txt",
    ),
    (
        "Load a CSV file, one hash per row, keyed by its id column:",
        "rload --pipe --template 'HSET user:{id} {*}' users.csv",
    ),
    (
        "Preview what a load would send, as readable lines:",
        "rload --emit --output-format inline --template 'HSET user:{id} {*}' users.csv | head",
    ),
    (
        "Load into a Redis Cluster, routing each key to its master:",
        "rload --pipe -c -p 7000 data.txt.gz",
    ),
    (
        "In a CI job, load as soon as the server that is starting is up:",
        "rload --pipe --wait 30 seed.txt",
    ),
    (
        "Carry on after a failure, from the number it printed:",
        "rload --pipe data.txt --resume-from 1234",
    ),
    (
        "Copy one server's keys to another:",
        "rload --dump -h old.example.com | rload --pipe -h new.example.com",
    ),
    (
        "Read some keys out as JSON lines:",
        "rload --dump --match 'user:*' --output-format jsonl > users.jsonl",
    ),
];

/// What `--help` prints after the flags.
pub(super) fn after_help() -> String {
    let mut text = format!("{INPUT}\n\nExit status:\n");
    for (code, meaning) in EXIT_STATUSES {
        text.push_str(&format!("  {code:<6} {meaning}\n"));
    }
    text.pop();
    text
}

/// The man page (roff) of `cmd`: clap_mangen's title, name, options and
/// version, around a synopsis, a description and two sections of rload's.
pub(super) fn man_page(cmd: clap::Command) -> Vec<u8> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    let written = (|| {
        man.render_title(&mut out)?;
        man.render_name_section(&mut out)?;
        synopsis(&cmd).to_writer(&mut out)?;
        description(&cmd).to_writer(&mut out)?;
        man.render_options_section(&mut out)?;
        exit_status_and_examples().to_writer(&mut out)?;
        man.render_version_section(&mut out)
    })();
    written.expect("writing to memory does not fail");
    out
}

/// The DESCRIPTION section: what rload is, and what its input is.
fn description(cmd: &clap::Command) -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", ["DESCRIPTION"]);
    if let Some(about) = cmd.get_about() {
        roff.text([roman(about.to_string())]);
    }
    roff.control("PP", []);
    roff.text([roman(INPUT.replace('\n', " "))]);
    roff
}

/// The EXIT STATUS and EXAMPLES sections.
fn exit_status_and_examples() -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in EXIT_STATUSES {
        roff.control("TP", []);
        roff.text([bold(*code)]);
        roff.text([roman(*meaning)]);
    }
    roff.control("SH", ["EXAMPLES"]);
    for (what, command) in EXAMPLES {
        roff.control("PP", []);
        roff.text([roman(*what)]);
        roff.control("RS", ["4"]);
        roff.control("nf", []);
        roff.text([bold(*command)]);
        roff.control("fi", []);
        roff.control("RE", []);
    }
    roff
}

/// The SYNOPSIS section: each flag with the name of its value
/// (`[-h HOSTNAME]`), then the files.
fn synopsis(cmd: &clap::Command) -> Roff {
    let mut line = vec![bold("rload"), roman(" ")];
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let value = arg
            .get_value_names()
            .filter(|_| arg.get_action().takes_values())
            .map(|v| v.join(" "));
        if arg.is_positional() {
            continue;
        }
        line.push(roman("["));
        let flags: Vec<String> = arg
            .get_short()
            .map(|s| format!("-{s}"))
            .into_iter()
            .chain(arg.get_long().map(|l| format!("--{l}")))
            .collect();
        for (i, flag) in flags.iter().enumerate() {
            if i > 0 {
                line.push(roman("|"));
            }
            line.push(bold(flag.as_str()));
        }
        if let Some(value) = value {
            line.push(roman(" "));
            line.push(italic(value));
        }
        line.push(roman("] "));
    }
    for arg in cmd.get_positionals() {
        let name = arg
            .get_value_names()
            .map_or_else(|| arg.get_id().to_string(), |v| v.join(" "));
        line.extend([roman("["), italic(name), roman("]...")]);
    }
    let mut roff = Roff::default();
    roff.control("SH", ["SYNOPSIS"]);
    roff.text(line);
    roff
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Args;

    #[test]
    fn the_help_groups_the_flags_modes_first() {
        let help = Args::command().render_help().to_string();
        let mut at = 0;
        for heading in [
            "Modes:",
            "Input:",
            "Connection:",
            "TLS:",
            "Load control:",
            "Output:",
            "Help:",
            "Exit status:",
        ] {
            let found = help[at..]
                .find(&format!("\n{heading}\n"))
                .unwrap_or_else(|| panic!("{heading} missing, or out of order, in:\n{help}"));
            at += found + 1;
        }
        assert!(!help.contains("\nOptions:\n"), "{help}");
        let modes = &help[help.find("Modes:").unwrap()..help.find("Input:").unwrap()];
        for flag in ["--pipe", "--emit", "--dump"] {
            assert!(modes.contains(flag), "{flag} not under Modes:\n{modes}");
        }
        assert!(help.contains("128+N"), "{help}");
    }

    #[test]
    fn the_man_page_names_values_and_has_exit_status_and_examples() {
        let text = String::from_utf8(man_page(Args::command())).unwrap();
        let mut at = 0;
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH DESCRIPTION",
            ".SH MODES",
            ".SH CONNECTION",
            ".SH \"EXIT STATUS\"",
            ".SH EXAMPLES",
        ] {
            let found = text[at..]
                .find(section)
                .unwrap_or_else(|| panic!("{section} missing or out of order:\n{text}"));
            at += found;
        }
        assert!(!text.contains(".SH EXTRA"), "{text}");
        let synopsis =
            &text[text.find(".SH SYNOPSIS").unwrap()..text.find(".SH DESCRIPTION").unwrap()];
        for flag in [
            r"\fB\-h\fR \fIHOSTNAME\fR",
            r"\fB\-p\fR \fIPORT\fR",
            r"\fB\-\-wait\fR \fISECONDS\fR",
            r"\fB\-\-output\-format\fR \fIFORMAT\fR",
            r"\fIFILE\fR",
        ] {
            assert!(synopsis.contains(flag), "{flag} missing from:\n{synopsis}");
        }
        assert!(!synopsis.contains(r"\fB\-h \fR"), "{synopsis}");
        assert!(text.contains("128+N"));
        assert!(text.contains("rload \\-\\-pipe \\-\\-wait 30"), "{text}");
    }
}
