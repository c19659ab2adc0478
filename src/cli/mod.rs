//! The command line: the raw flags as typed, kept apart from the validated
//! [`Config`] they become. Flag names and defaults follow redis-cli, so
//! `redis-cli -h H -p P --pipe` becomes `rload -h H -p P --pipe`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};

use crate::progress::Show;
use rload::EmitFormat;
use rload::compare::CompareOptions;
use rload::config::{Config, Endpoint, Password, TlsConfig, TlsVerify, percent_decode, redact_uri};
use rload::dump::{DumpFormat, DumpOptions, Split};
use rload::error::Error;
use rload::input::Input;
use rload::load::{Destination, InputKind, LoadOptions};

mod compare;
mod help;
mod records;

/// The help's headings, in the order the help shows them.
const MODES: &str = "Modes";
const INPUT: &str = "Input";
const CONNECTION: &str = "Connection";
const TLS: &str = "TLS";
const LOAD_CONTROL: &str = "Load control";
const COMPARE: &str = "Compare";
const OUTPUT: &str = "Output";
const HELP: &str = "Help";

/// The flags as the user typed them.
#[derive(Parser, Debug)]
#[command(
    name = "rload",
    version,
    about = "Load data into Redis fast: a drop-in replacement for redis-cli --pipe",
    disable_help_flag = true,
    disable_version_flag = true,
    after_help = help::after_help()
)]
pub struct Args {
    /// Load commands from the input into the server
    #[arg(long, help_heading = MODES)]
    pipe: bool,
    /// Write the commands to standard output instead of loading them (the
    /// input's commands, or its records rendered by templates): RESP, or
    /// readable lines with --output-format inline
    #[arg(long, conflicts_with = "pipe", help_heading = MODES)]
    emit: bool,
    /// Read the server's keys out to standard output, as commands that
    /// rebuild them (or --output-format inline, jsonl, restore)
    #[arg(long, conflicts_with_all = ["pipe", "emit"], help_heading = MODES)]
    dump: bool,
    /// Compare the server's keys (or an RDB FILE's) with --target's, and
    /// say which differ: exit 0 equal, 1 different, above 1 a failure
    #[arg(long, conflicts_with_all = ["pipe", "emit", "dump"], help_heading = MODES)]
    compare: bool,
    /// --dump, --compare: only keys that match this glob (SCAN ... MATCH)
    #[arg(long = "match", value_name = "GLOB", help_heading = MODES)]
    pattern: Option<String>,
    /// --dump, --compare: only keys of this type (repeatable): string, list, set,
    /// zset, hash, stream
    #[arg(long = "type", value_name = "TYPE", help_heading = MODES)]
    types: Vec<String>,
    /// --dump: go on from where a dump cut short stopped (the value it
    /// printed)
    #[arg(long, value_name = "CURSOR", help_heading = MODES)]
    cursor: Option<String>,
    /// --dump: read only part I of N, so that N dumps read one keyspace in
    /// parallel, each key read by one: with --scan on one server, a stretch
    /// of its hash table; else the keys whose hash slot is I modulo N
    #[arg(long, value_name = "I/N", help_heading = MODES)]
    split: Option<String>,
    /// --dump, --compare: read the server with SCAN, never from a snapshot of it (the
    /// default takes its snapshot, as a replica does, where it may)
    #[arg(long, help_heading = MODES)]
    scan: bool,
    /// Input files, read in order; '-' is standard input
    #[arg(value_name = "FILE", help_heading = INPUT)]
    files: Vec<String>,
    /// How the input is written: commands, csv, tsv, json, jsonl or rdb
    /// [default: from the files' first bytes and extension, else commands].
    /// (With --dump of a server, which reads no input, the older spelling
    /// of --output-format)
    #[arg(long, value_name = "FORMAT", help_heading = INPUT, value_parser = ["commands", "csv", "tsv", "json", "jsonl", "rdb", "resp", "inline", "restore"])]
    format: Option<String>,
    /// A command for each record, with {field} placeholders (repeatable:
    /// each record gives one command per template); quote it whole
    #[arg(long = "template", value_name = "TEMPLATE", help_heading = INPUT)]
    templates: Vec<String>,
    /// CSV/TSV: the first line is a record, not column names; fields are
    /// {0}, {1}...
    #[arg(long, help_heading = INPUT)]
    no_header: bool,
    /// CSV/TSV: the field delimiter, one character ('\t' for a tab)
    #[arg(long, value_name = "CHAR", help_heading = INPUT)]
    delimiter: Option<String>,
    /// TSV: fields may be quoted as in CSV (a tab inside quotes is part of
    /// the field, "" a quote); by default a quote in TSV is just a
    /// character, as in PostgreSQL's COPY
    #[arg(long, help_heading = INPUT)]
    tsv_quotes: bool,
    /// Server hostname [default: 127.0.0.1]
    #[arg(short = 'h', value_name = "HOSTNAME", help_heading = CONNECTION)]
    host: Option<String>,
    /// Server port [default: 6379]
    #[arg(short = 'p', value_name = "PORT", help_heading = CONNECTION)]
    port: Option<u16>,
    /// Server unix socket (overrides hostname and port)
    #[arg(short = 's', value_name = "SOCKET", help_heading = CONNECTION)]
    socket: Option<PathBuf>,
    /// Server URI: redis://[user[:password]@]host[:port][/db]
    #[arg(short = 'u', value_name = "URI", help_heading = CONNECTION)]
    uri: Option<String>,
    /// Password for AUTH; REDISCLI_AUTH is the safer way to pass it
    #[arg(short = 'a', long = "pass", value_name = "PASSWORD", help_heading = CONNECTION)]
    password: Option<String>,
    /// ACL user name for AUTH (needs a password too)
    #[arg(long, value_name = "USERNAME", help_heading = CONNECTION)]
    user: Option<String>,
    /// Read the password from the terminal, without echo (ignores -a and
    /// REDISCLI_AUTH)
    #[arg(long, help_heading = CONNECTION)]
    askpass: bool,
    /// Don't warn that -a on the command line may not be safe
    #[arg(long, help_heading = CONNECTION)]
    no_auth_warning: bool,
    /// Database number
    #[arg(short = 'n', value_name = "DB", help_heading = CONNECTION)]
    db: Option<u32>,
    /// Cluster mode: route each command to the master that owns its slot,
    /// following MOVED and ASK redirects
    #[arg(short = 'c', long, help_heading = CONNECTION)]
    cluster: bool,
    /// Use RESP3 (HELLO 3)
    #[arg(short = '3', help_heading = CONNECTION)]
    resp3: bool,
    /// Timeout in seconds for connecting and for each setup command,
    /// decimals allowed (0 waits forever); the TLS handshake gets at most 5
    /// [default: 30]
    #[arg(short = 't', value_name = "SECONDS", help_heading = CONNECTION)]
    connect_timeout: Option<f64>,
    /// Keep trying to connect for up to SECONDS while the server is not up
    /// yet (connection refused, loading its dataset, with -c a cluster not
    /// yet ok), saying once what it waits for; decimals allowed
    #[arg(long, value_name = "SECONDS", help_heading = CONNECTION)]
    wait: Option<f64>,
    /// Connect with TLS; the server's certificate is verified (see
    /// --tls-verify)
    #[arg(long, help_heading = TLS)]
    tls: bool,
    /// CA certificate file to verify the server's certificate with; a
    /// self-signed server certificate given here is trusted as it is
    #[arg(long, value_name = "FILE", help_heading = TLS)]
    cacert: Option<PathBuf>,
    /// Directory of CA certificates to verify the server's certificate with
    #[arg(long, value_name = "DIR", help_heading = TLS)]
    cacertdir: Option<PathBuf>,
    /// Client certificate, for servers that require one (mutual TLS)
    #[arg(long, value_name = "FILE", help_heading = TLS)]
    cert: Option<PathBuf>,
    /// Client private key, for servers that require one (mutual TLS)
    #[arg(long, value_name = "FILE", help_heading = TLS)]
    key: Option<PathBuf>,
    /// Server name to send and to verify the certificate against (default:
    /// the host)
    #[arg(long, value_name = "NAME", help_heading = TLS)]
    sni: Option<String>,
    /// How much of the server's certificate to verify (default: full)
    #[arg(long, value_name = "MODE", value_enum, help_heading = TLS)]
    tls_verify: Option<VerifyMode>,
    /// Same as --tls-verify none: do not verify the server's certificate
    /// (dangerous: explicit opt-in)
    #[arg(long, help_heading = TLS)]
    insecure: bool,
    /// Skip the first N commands of the input: the number a failed run
    /// reported as done
    #[arg(long, value_name = "N", help_heading = LOAD_CONTROL)]
    resume_from: Option<u64>,
    /// Stop reading the input after N errors, and print at most N error
    /// lines; what was sent is still drained, and counted
    #[arg(long, value_name = "N", help_heading = LOAD_CONTROL)]
    max_errors: Option<u64>,
    /// Count invalid input commands as errors and carry on, instead of
    /// stopping at the first one
    #[arg(long, help_heading = LOAD_CONTROL)]
    skip_invalid: bool,
    /// Give up after this many seconds with no reply while waiting on the
    /// server, writing or at the end (0 waits forever)
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30,
        allow_negative_numbers = true,
        help_heading = LOAD_CONTROL
    )]
    pipe_timeout: i64,
    /// After a lost connection, reconnect up to N times (with backoff) and
    /// re-send what the server had not acknowledged
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = LOAD_CONTROL)]
    reconnect: u32,
    /// Send at most N commands a second (--dump: read at most N keys a
    /// second), to spare a live server
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = LOAD_CONTROL)]
    rate: Option<u64>,
    /// Merge commands into variadic ones so the server does less work:
    /// RPUSH, LPUSH, SADD, SREM, HSET, HMSET, HDEL, ZADD, ZREM, PFADD and
    /// GEOADD on one key, plain SETs into MSET (see the README for what
    /// differs)
    #[arg(long, conflicts_with = "dump", help_heading = LOAD_CONTROL)]
    coalesce: bool,
    /// --compare: the target, redis://[user:password@]host[:port] or
    /// rediss:// (TLS, with the TLS flags)
    #[arg(long, value_name = "URI", help_heading = COMPARE)]
    target: Option<String>,
    /// --compare: the target is a Redis Cluster (URI: any node)
    #[arg(long, help_heading = COMPARE)]
    target_cluster: bool,
    /// --compare: expiries this many milliseconds apart are the same (a
    /// key with an expiry and one without always differ)
    #[arg(long, value_name = "MS", default_value_t = 1000, help_heading = COMPARE)]
    ttl_tolerance: u64,
    /// --compare: read the differing keys again N times, after a pause, and
    /// report only those that still differ (a live source)
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = COMPARE)]
    recheck: u32,
    /// --compare: write the commands that make the target equal to the
    /// source to FILE (load it with rload --pipe into the target)
    #[arg(long, value_name = "FILE", help_heading = COMPARE)]
    repair_output: Option<PathBuf>,
    /// How --emit and --dump write: resp (default) or inline for --emit;
    /// resp, inline, jsonl or restore for --dump
    #[arg(long, visible_alias = "to", value_name = "FORMAT", help_heading = OUTPUT, value_parser = ["resp", "inline", "jsonl", "restore"])]
    output_format: Option<String>,
    /// Show progress on standard error even when it is not a terminal (a
    /// line a second there) [default: only on a terminal]
    #[arg(long, overrides_with = "no_progress", help_heading = OUTPUT)]
    progress: bool,
    /// Never show progress
    #[arg(long, overrides_with = "progress", help_heading = OUTPUT)]
    no_progress: bool,
    /// Print the account as one JSON object instead of redis-cli's lines:
    /// on standard output, or on standard error when standard output
    /// carries the data (--dump, --emit)
    #[arg(long, help_heading = OUTPUT)]
    json: bool,
    /// Print help
    #[arg(long, action = ArgAction::Help, help_heading = HELP)]
    help: Option<bool>,
    /// Print the version
    #[arg(short = 'v', long, action = ArgAction::Version, help_heading = HELP)]
    version: Option<bool>,
    /// Print a completion script for SHELL and exit
    #[arg(long, value_name = "SHELL", value_enum, exclusive = true, help_heading = HELP)]
    completions: Option<clap_complete::Shell>,
    /// Print the man page (roff) and exit
    #[arg(long, exclusive = true, help_heading = HELP)]
    man: bool,
}

/// The values of `--tls-verify`, after PostgreSQL's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum VerifyMode {
    /// Check the chain to a trusted CA, and the host name (or --sni)
    Full,
    /// Check the chain to a trusted CA only, as redis-cli does
    Ca,
    /// Check nothing: any certificate is accepted (dangerous)
    None,
}

impl From<VerifyMode> for TlsVerify {
    fn from(mode: VerifyMode) -> Self {
        match mode {
            VerifyMode::Full => TlsVerify::Full,
            VerifyMode::Ca => TlsVerify::Ca,
            VerifyMode::None => TlsVerify::None,
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub struct Invocation {
    /// What to do, with its own options.
    pub mode: Mode,
    /// The validated settings every mode shares.
    pub config: Config,
    /// The inputs, in order.
    pub inputs: Vec<Input>,
    /// Warnings to print before starting, as redis-cli does.
    pub warnings: Vec<String>,
    /// Whether to show progress.
    pub show: Show,
    /// Print the account as JSON (`--json`).
    pub json: bool,
}

/// What rload is asked to do: each mode with its own options.
#[derive(Debug)]
pub enum Mode {
    /// Load the inputs into a server (`--pipe`), or write their commands
    /// out (`--emit`).
    Load(LoadOptions),
    /// Read keys out (`--dump`).
    Dump(DumpOptions),
    /// Compare the source's keys with a target's (`--compare`).
    Compare(Box<CompareOptions>),
}

impl Args {
    /// What `--completions` or `--man` asks to print, if either was given:
    /// generated from these very flags, so they never fall behind.
    pub fn generated(&self) -> Option<Vec<u8>> {
        use clap::CommandFactory;
        let mut out = Vec::new();
        if let Some(shell) = self.completions {
            clap_complete::generate(shell, &mut Args::command(), "rload", &mut out);
        } else if self.man {
            out = help::man_page(Args::command());
        } else {
            return None;
        }
        Some(out)
    }

    /// `--tls-verify`, with `--insecure` as `none`; `None` if neither.
    fn tls_verify(&self) -> Result<Option<TlsVerify>, Error> {
        match (self.tls_verify, self.insecure) {
            (None, false) => Ok(None),
            (None | Some(VerifyMode::None), true) => Ok(Some(TlsVerify::None)),
            (Some(mode), false) => Ok(Some(mode.into())),
            (Some(mode), true) => Err(Error::Config(format!(
                "--insecure is --tls-verify none, and conflicts with --tls-verify {}",
                if mode == VerifyMode::Full {
                    "full"
                } else {
                    "ca"
                }
            ))),
        }
    }

    /// Checks the flags and turns them into settings.
    ///
    /// # Errors
    ///
    /// An inconsistent or invalid flag, named in the message.
    pub fn into_invocation(self) -> Result<Invocation, Error> {
        if !self.pipe && !self.emit && !self.dump && !self.compare {
            return Err(Error::Config(
                "nothing to do: rload loads data with --pipe, writes it as RESP with --emit, reads it back with --dump, or compares two databases with --compare (see --help)".into(),
            ));
        }
        self.refuse_flags_of_other_modes()?;
        let emit_format = self.emit_format()?;
        let dump_format = self.dump_format()?.map(str::to_string);
        let verify = self.tls_verify()?;
        let (target, target_warning) = self.target_server(verify)?;
        let compare = target.map(|t| self.compare_options(t)).transpose()?;
        let db_in_uri = self.uri.as_deref().is_some_and(uri_names_db);
        let mut config = Config::default();
        let mut warnings = Vec::new();
        let server = &mut config.server;
        if let Some(uri) = &self.uri {
            server.apply_uri(uri)?;
            if uri.contains('@') && redact_uri(uri) != *uri && !self.no_auth_warning {
                warnings.push(AUTH_WARNING.to_string());
            }
        }
        if let Some(host) = self.host {
            server.endpoint = Endpoint::Tcp {
                host,
                port: tcp_port(&server.endpoint),
            };
        }
        if let Some(port) = self.port {
            let host = match &server.endpoint {
                Endpoint::Tcp { host, .. } => host.clone(),
                Endpoint::Unix(_) => "127.0.0.1".into(),
            };
            server.endpoint = Endpoint::Tcp { host, port };
        }
        if let Some(path) = self.socket {
            server.endpoint = Endpoint::Unix(path);
        }
        if let Some(pw) = self.password {
            if !self.no_auth_warning {
                warnings.push(AUTH_WARNING.to_string());
            }
            server.password = Some(Password::new(pw));
        } else if server.password.is_none()
            && let Ok(pw) = std::env::var("REDISCLI_AUTH")
        {
            server.password = Some(Password::new(pw));
        }
        if self.askpass {
            let pw = rpassword::prompt_password("Please input password: ").map_err(|e| {
                Error::Config(format!(
                    "--askpass needs a terminal to read the password from: {e}"
                ))
            })?;
            server.password = Some(Password::new(pw));
        }
        if let Some(user) = self.user {
            server.user = Some(user);
        }
        let tls_flags = self.cacert.is_some()
            || self.cacertdir.is_some()
            || self.cert.is_some()
            || self.key.is_some()
            || self.sni.is_some()
            || verify.is_some();
        if self.tls && server.tls.is_none() {
            server.tls = Some(TlsConfig::default());
        }
        match &mut server.tls {
            Some(tls) => {
                tls.ca_cert = self.cacert.or(tls.ca_cert.take());
                tls.ca_cert_dir = self.cacertdir.or(tls.ca_cert_dir.take());
                tls.cert = self.cert.or(tls.cert.take());
                tls.key = self.key.or(tls.key.take());
                tls.sni = self.sni.or(tls.sni.take());
                tls.verify = verify.unwrap_or(tls.verify);
            }
            None if tls_flags && compare.as_ref().is_none_or(|c| c.target.tls.is_none()) => {
                return Err(Error::Config(
                    "TLS options need --tls (or a rediss:// URI); without it the connection would not be encrypted".into(),
                ));
            }
            None => {}
        }
        if matches!(
            (&server.tls, &server.endpoint),
            (Some(_), Endpoint::Unix(_))
        ) {
            return Err(Error::Config(
                "TLS needs a TCP connection: -s and --tls do not go together".into(),
            ));
        }
        if let Some(db) = self.db {
            server.db = db;
        }
        server.resp3 |= self.resp3;
        if let Some(t) = self.connect_timeout {
            if !(t.is_finite() && t >= 0.0) {
                return Err(Error::Config(format!(
                    "-t {t}: the timeout must be a number of seconds, 0 or more"
                )));
            }
            server.connect_timeout = (t > 0.0).then(|| Duration::from_secs_f64(t));
        }
        if let Some(w) = self.wait {
            if !(w.is_finite() && w >= 0.0) {
                return Err(Error::Config(format!(
                    "--wait {w}: give the most seconds to wait for the server, 0 or more"
                )));
            }
            server.wait = (w > 0.0).then(|| Duration::from_secs_f64(w));
        }
        config.pipe_timeout =
            (self.pipe_timeout > 0).then(|| Duration::from_secs(self.pipe_timeout as u64));
        config.resume_from = self.resume_from.unwrap_or(0);
        config.reconnect = self.reconnect;
        config.max_errors = self.max_errors;
        config.skip_invalid = self.skip_invalid;
        config.cluster = self.cluster;
        config.rate = self.rate;
        config.coalesce = self.coalesce;
        if self.max_errors == Some(0) {
            return Err(Error::Config("--max-errors must be at least 1".into()));
        }
        let inputs = if self.files.is_empty() {
            vec![Input::Stdin]
        } else {
            self.files
                .iter()
                .map(|f| {
                    if f == "-" {
                        Input::Stdin
                    } else {
                        Input::File(f.into())
                    }
                })
                .collect()
        };
        if inputs.iter().filter(|i| **i == Input::Stdin).count() > 1 {
            return Err(Error::Config(
                "standard input ('-') can be given only once".into(),
            ));
        }
        let to = match self.emit {
            true => Destination::Emit(emit_format),
            false => Destination::Server,
        };
        let mode = if let Some(mut compare) = compare {
            compare.target.connect_timeout = config.server.connect_timeout;
            compare.target.wait = config.server.wait;
            compare.db = (self.db.is_some() || db_in_uri).then_some(config.server.db);
            if target_warning
                && !self.no_auth_warning
                && !warnings.contains(&AUTH_WARNING.to_string())
            {
                warnings.push(AUTH_WARNING.to_string());
            }
            Mode::Compare(Box::new(compare))
        } else if self.dump {
            let mut options = dump_options(
                dump_format.as_deref(),
                self.pattern,
                self.types,
                self.cursor,
            )?;
            if self.db.is_some() || db_in_uri {
                options.db = Some(config.server.db);
            }
            options.split = self.split.as_deref().map(Split::parse).transpose()?;
            options.scan = self.scan;
            if !self.templates.is_empty() {
                return Err(Error::Config(
                    "--dump writes keys out: it takes no --template".into(),
                ));
            }
            match inputs.as_slice() {
                _ if self.files.is_empty() => {}
                [one] => options.input = Some(one.clone()),
                _ => {
                    return Err(Error::Config(
                        "--dump reads a server, or one RDB file: give one FILE at most".into(),
                    ));
                }
            }
            if options.input.is_some() && self.scan {
                return Err(Error::Config(
                    "--scan is for a server; an RDB file is read whole".into(),
                ));
            }
            Mode::Dump(options)
        } else if self.format.as_deref() == Some("rdb") {
            // RDB files are also known by their first bytes, whatever
            // their names: this is for standard input, or to insist.
            if !self.templates.is_empty() || self.no_header || self.delimiter.is_some() {
                return Err(Error::Config(
                    "--format rdb loads keys as they are: it takes no --template, --no-header or --delimiter".into(),
                ));
            }
            Mode::Load(LoadOptions {
                input: InputKind::Rdb,
                to,
            })
        } else {
            let records = records::options(
                self.format.as_deref(),
                self.templates,
                !self.no_header,
                self.delimiter.as_deref(),
                self.tsv_quotes,
                &inputs,
            )?;
            let input = records.map_or(InputKind::Commands, InputKind::Records);
            Mode::Load(LoadOptions { input, to })
        };
        let show = if self.no_progress {
            Show::Never
        } else if self.progress {
            Show::Always
        } else {
            Show::Auto
        };
        Ok(Invocation {
            mode,
            config,
            inputs,
            warnings,
            show,
            json: self.json,
        })
    }
}

/// Whether a `redis://` URI names a database (`/3`).
fn uri_names_db(uri: &str) -> bool {
    let mut probe = rload::config::ServerConfig {
        db: u32::MAX,
        ..Default::default()
    };
    probe.apply_uri(uri).is_ok() && probe.db != u32::MAX
}

impl Args {
    /// Flags that mean something in some modes only are refused in the
    /// others, never silently ignored.
    fn refuse_flags_of_other_modes(&self) -> Result<(), Error> {
        let refuse = |flag: &str, why: &str| Err(Error::Config(format!("{flag} {why}")));
        if self.emit && self.wait.is_some() {
            return refuse(
                "--wait",
                "is for a server to come up, and --emit connects to none",
            );
        }
        self.refuse_compare_flags()?;
        if !self.dump && !self.compare {
            let mode = if self.emit { "--emit" } else { "--pipe" };
            for (flag, given) in [
                ("--match", self.pattern.is_some()),
                ("--type", !self.types.is_empty()),
                ("--cursor", self.cursor.is_some()),
                ("--split", self.split.is_some()),
                ("--scan", self.scan),
            ] {
                if given {
                    return refuse(
                        flag,
                        &format!("is for --dump, which reads keys out; {mode} reads input"),
                    );
                }
            }
            return Ok(());
        }
        let no_input = "is for reading input, and --dump reads none";
        if self.compare {
            for (flag, given) in [
                ("--cursor", self.cursor.is_some()),
                ("--split", self.split.is_some()),
                ("--output-format", self.output_format.is_some()),
                ("--coalesce", self.coalesce),
            ] {
                if given {
                    return refuse(flag, "is not for --compare, which writes no keys out");
                }
            }
        }
        for (flag, given, why) in [
            (
                "--resume-from",
                self.resume_from.is_some(),
                "skips input commands; a dump goes on with --cursor (the value a dump cut short printed)",
            ),
            ("--skip-invalid", self.skip_invalid, no_input),
            ("--no-header", self.no_header, no_input),
            ("--delimiter", self.delimiter.is_some(), no_input),
            (
                "--max-errors",
                self.max_errors.is_some(),
                "is for loads: a dump stops at the first error reply it cannot retry",
            ),
            (
                "-3",
                self.resp3,
                "does not go with --dump, which reads replies as RESP2 (every server speaks it)",
            ),
        ] {
            if given {
                return refuse(flag, why);
            }
        }
        Ok(())
    }
}

impl Args {
    /// How `--emit` writes (`--output-format`), refused where it means
    /// nothing.
    fn emit_format(&self) -> Result<EmitFormat, Error> {
        let given = self.output_format.as_deref();
        match (self.pipe, self.emit, given) {
            (true, _, Some(f)) => Err(Error::Config(format!(
                "--output-format {f} is how --emit and --dump write; --pipe sends to the server (to see a load as readable lines: --emit --output-format inline)"
            ))),
            (_, true, Some("inline")) => Ok(EmitFormat::Inline),
            (_, true, Some(f)) if f != "resp" => Err(Error::Config(format!(
                "--emit --output-format {f}: --emit writes commands, as resp or inline ({f} is for --dump)"
            ))),
            _ => Ok(EmitFormat::Resp),
        }
    }

    /// How `--dump` writes: `--output-format`, or `--format`, its older
    /// spelling (a dump reads no input).
    fn dump_format(&self) -> Result<Option<&str>, Error> {
        match (self.output_format.as_deref(), self.format.as_deref()) {
            (Some(o), Some(f)) if o != f => Err(Error::Config(format!(
                "--output-format {o} and --format {f}: with --dump, --format is the older spelling of --output-format; give one"
            ))),
            (o, f) => Ok(o.or(f)),
        }
    }
}

/// The settings of `--dump`.
fn dump_options(
    format: Option<&str>,
    pattern: Option<String>,
    types: Vec<String>,
    cursor: Option<String>,
) -> Result<DumpOptions, Error> {
    let format = match format {
        None | Some("resp") => DumpFormat::Resp,
        Some("inline") => DumpFormat::Inline,
        Some("jsonl") => DumpFormat::Jsonl,
        Some("restore") => DumpFormat::Restore,
        Some(other) => {
            return Err(Error::Config(format!(
                "--dump writes keys as resp, inline, jsonl or restore, not {other}"
            )));
        }
    };
    const TYPES: [&str; 6] = ["string", "list", "set", "zset", "hash", "stream"];
    if let Some(t) = types.iter().find(|t| !TYPES.contains(&t.as_str())) {
        return Err(Error::Config(format!(
            "--type {t}: give one of {}",
            TYPES.join(", ")
        )));
    }
    Ok(DumpOptions {
        format,
        pattern,
        types,
        cursor,
        db: None,
        split: None,
        input: None,
        scan: false,
    })
}

/// redis-cli's warning, word for word.
const AUTH_WARNING: &str = "Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.";

fn tcp_port(e: &Endpoint) -> u16 {
    match e {
        Endpoint::Tcp { port, .. } => *port,
        Endpoint::Unix(_) => 6379,
    }
}

/// Short flags that take a value: in a cluster of short flags (`-3ca PW`)
/// the first of them takes the rest of the token, or the next argument.
const SHORT_WITH_VALUE: &[u8] = b"hpsanut";

/// The command line that carries on a load (or a dump) from where it
/// stopped: the same arguments with `flag` (`--resume-from`, `--cursor`)
/// set to `value` (before any `--`, after which everything is a file), and
/// any password taken out: the line starts `REDISCLI_AUTH=...`, for the
/// user to give it there. A `-u` URI loses its userinfo, its user (if any)
/// becoming `--user` (unless `--user` is given), so the password comes from
/// `REDISCLI_AUTH`; `--askpass` stays, and asks for it again.
pub fn resume_command(argv: &[String], flag: &str, value: &str) -> String {
    let mut out = Vec::new();
    let mut dropped_password = false;
    let has_user = argv
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--user" || a.starts_with("--user="));
    let askpass = argv
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--askpass");
    let mut it = argv.iter();
    if let Some(program) = it.next() {
        out.push(program.clone());
    }
    let mut files_only = Vec::new();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--" => {
                files_only.push(arg.clone());
                files_only.extend(it.by_ref().cloned());
            }
            a if a == flag => drop(it.next()),
            "--pass" => {
                dropped_password = true;
                it.next();
            }
            a if a
                .strip_prefix(flag)
                .is_some_and(|rest| rest.starts_with('=')) => {}
            a if a.starts_with("--pass=") => dropped_password = true,
            a if a.starts_with("--") || !a.starts_with('-') || a == "-" => out.push(arg.clone()),
            short => {
                let (kept, value) = split_short_cluster(short, &mut it);
                match (kept.chars().last(), value) {
                    (Some('a'), Some(_)) => {
                        dropped_password = true;
                        if kept.len() > 2 {
                            out.push(kept[..kept.len() - 1].to_string());
                        }
                    }
                    (Some('u'), Some(uri)) => {
                        let (bare, user, password) = split_uri_userinfo(&uri);
                        dropped_password |= password;
                        out.push(kept);
                        out.push(bare);
                        if let Some(user) = user.filter(|_| !has_user) {
                            out.push("--user".into());
                            out.push(user);
                        }
                    }
                    (_, Some(value)) => {
                        out.push(kept);
                        out.push(value);
                    }
                    (_, None) => out.push(kept),
                }
            }
        }
    }
    out.push(flag.into());
    out.push(value.into());
    out.extend(files_only);
    let mut line = out
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    if dropped_password && !askpass {
        line = format!("REDISCLI_AUTH=... {line}");
    }
    line
}

/// Splits a cluster of short flags (`-3c`, `-apw`, `-3a`, `-a=pw`) into its
/// flags, up to and including the first that takes a value, and that
/// value: the rest of the token, or else the next argument.
fn split_short_cluster<'a>(
    token: &str,
    rest: &mut impl Iterator<Item = &'a String>,
) -> (String, Option<String>) {
    for (i, c) in token.char_indices().skip(1) {
        if c.is_ascii() && SHORT_WITH_VALUE.contains(&(c as u8)) {
            let (flags, value) = token.split_at(i + 1);
            let value = match value.strip_prefix('=').unwrap_or(value) {
                "" => rest.next().cloned(),
                v => Some(v.to_string()),
            };
            return (flags.to_string(), value);
        }
    }
    (token.to_string(), None)
}

/// A URI without its userinfo, the user it named (`user:password@`,
/// decoded), and whether it held a password. A lone userinfo
/// (`redis://pw@host`) is a password, as redis-cli reads it.
fn split_uri_userinfo(uri: &str) -> (String, Option<String>, bool) {
    let Some(scheme_end) = uri.find("://").map(|i| i + 3) else {
        return (uri.to_string(), None, false);
    };
    let rest = &uri[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (uri.to_string(), None, false);
    };
    let bare = format!("{}{}", &uri[..scheme_end], &rest[at + 1..]);
    match rest[..at].split_once(':') {
        Some((user, _)) if !user.is_empty() => {
            let user = percent_decode(user).unwrap_or_else(|| user.to_string());
            (bare, Some(user), true)
        }
        _ => (bare, None, true),
    }
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Invocation, Error> {
        Args::try_parse_from(std::iter::once("rload").chain(args.iter().copied()))
            .unwrap()
            .into_invocation()
    }

    #[test]
    fn h_is_the_host_as_in_redis_cli() {
        let inv = parse(&["--pipe", "-h", "example", "-p", "7000", "-n", "2"]).unwrap();
        assert_eq!(
            inv.config.server.endpoint,
            Endpoint::Tcp {
                host: "example".into(),
                port: 7000
            }
        );
        assert_eq!(inv.config.server.db, 2);
        assert_eq!(inv.inputs, [Input::Stdin]);
    }

    #[test]
    fn explicit_flags_override_the_uri() {
        let inv = parse(&[
            "--pipe",
            "-u",
            "redis://u:pw@h:1/3",
            "-n",
            "5",
            "--no-auth-warning",
        ])
        .unwrap();
        assert_eq!(inv.config.server.db, 5);
        assert_eq!(inv.config.server.user.as_deref(), Some("u"));
        assert!(inv.warnings.is_empty());
    }

    #[test]
    fn warns_about_a_password_on_the_command_line() {
        let inv = parse(&["--pipe", "-a", "pw"]).unwrap();
        assert_eq!(inv.warnings, [AUTH_WARNING]);
    }

    #[test]
    fn pipe_timeout_zero_or_less_waits_forever() {
        assert_eq!(
            parse(&["--pipe", "--pipe-timeout", "0"])
                .unwrap()
                .config
                .pipe_timeout,
            None
        );
        assert_eq!(
            parse(&["--pipe", "--pipe-timeout", "-3"])
                .unwrap()
                .config
                .pipe_timeout,
            None
        );
        assert_eq!(
            parse(&["--pipe"]).unwrap().config.pipe_timeout,
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn help_shows_the_defaults_of_host_port_and_timeout() {
        use clap::CommandFactory;
        let help = Args::command().render_help().to_string();
        for default in [
            "Server hostname [default: 127.0.0.1]",
            "Server port [default: 6379]",
            "[default: 30]",
        ] {
            assert!(help.contains(default), "{default} missing from:\n{help}");
        }
    }

    #[test]
    fn requires_pipe_mode() {
        assert!(
            parse(&["file.txt"])
                .unwrap_err()
                .to_string()
                .contains("--pipe")
        );
    }

    #[test]
    fn reads_files_in_order_with_dash_as_stdin() {
        let inv = parse(&["--pipe", "a.txt", "-", "b.txt"]).unwrap();
        assert_eq!(
            inv.inputs,
            [
                Input::File("a.txt".into()),
                Input::Stdin,
                Input::File("b.txt".into())
            ]
        );
        assert!(parse(&["--pipe", "-", "-"]).is_err());
    }

    #[test]
    fn the_resume_command_replaces_resume_from_and_drops_passwords() {
        let argv: Vec<String> = [
            "rload",
            "--pipe",
            "-a",
            "hunter2",
            "--resume-from",
            "5",
            "-u",
            "redis://u:hunter2@h",
            "my file.txt",
        ]
        .map(String::from)
        .to_vec();
        let line = resume_command(&argv, "--resume-from", "1234");
        assert!(!line.contains("hunter2"), "{line}");
        // The URI's user is a user still: `redis://u@h` would be the
        // password `u`, as redis-cli reads it.
        assert_eq!(
            line,
            "REDISCLI_AUTH=... rload --pipe -u redis://h --user u 'my file.txt' --resume-from 1234"
        );
    }

    fn resume_of(args: &[&str]) -> String {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        resume_command(&argv, "--resume-from", "7")
    }

    #[test]
    fn the_resume_point_goes_before_a_double_dash() {
        assert_eq!(
            resume_of(&["rload", "--pipe", "--", "-a", "--resume-from"]),
            "rload --pipe --resume-from 7 -- -a --resume-from"
        );
    }

    #[test]
    fn passwords_are_dropped_from_clusters_of_short_flags_and_lone_userinfo() {
        assert_eq!(
            resume_of(&["rload", "--pipe", "-3ca", "pw", "f"]),
            "REDISCLI_AUTH=... rload --pipe -3c f --resume-from 7"
        );
        assert_eq!(
            resume_of(&["rload", "--pipe", "-apw", "-a=pw", "--pass=pw", "f"]),
            "REDISCLI_AUTH=... rload --pipe f --resume-from 7"
        );
        assert_eq!(
            resume_of(&["rload", "--pipe", "-u", "redis://SECRET@h:1/2", "-p1"]),
            "REDISCLI_AUTH=... rload --pipe -u redis://h:1/2 -p 1 --resume-from 7"
        );
        assert_eq!(
            resume_of(&["rload", "--pipe", "-n", "3", "-h", "host"]),
            "rload --pipe -n 3 -h host --resume-from 7"
        );
    }

    #[test]
    fn a_uri_user_becomes_user_and_every_password_comes_from_redis_cli_auth() {
        for (args, line) in [
            (
                &["-u", "redis://bob:pw@h"][..],
                "REDISCLI_AUTH=... rload --pipe -u redis://h --user bob --resume-from 7",
            ),
            (
                &["-u", "redis://:pw@h:1/2"],
                "REDISCLI_AUTH=... rload --pipe -u redis://h:1/2 --resume-from 7",
            ),
            (
                &["-u", "rediss://b%40b:p%3Aw@h"],
                "REDISCLI_AUTH=... rload --pipe -u rediss://h --user b@b --resume-from 7",
            ),
            (
                &["--user", "alice", "-u", "redis://bob:pw@h"],
                "REDISCLI_AUTH=... rload --pipe --user alice -u redis://h --resume-from 7",
            ),
            (
                &["--user", "bob", "--pass", "pw"],
                "REDISCLI_AUTH=... rload --pipe --user bob --resume-from 7",
            ),
            (
                &["-u", "redis://h", "--user", "bob"],
                "rload --pipe -u redis://h --user bob --resume-from 7",
            ),
            (
                &["--askpass", "-a", "pw", "--user", "bob"],
                "rload --pipe --askpass --user bob --resume-from 7",
            ),
        ] {
            let argv: Vec<&str> = ["rload", "--pipe"].iter().chain(args).copied().collect();
            let got = resume_of(&argv);
            assert_eq!(got, line, "{args:?}");
            assert!(!got.contains("pw") && !got.contains("p%3Aw"), "{got}");
        }
    }

    #[test]
    fn tls_options_need_tls_and_rediss_turns_it_on() {
        assert!(
            parse(&["--pipe", "--cacert", "ca.pem"])
                .unwrap_err()
                .to_string()
                .contains("need --tls")
        );
        let inv = parse(&[
            "--pipe",
            "--tls",
            "--cacert",
            "ca.pem",
            "--sni",
            "redis.local",
        ])
        .unwrap();
        let tls = inv.config.server.tls.unwrap();
        assert_eq!(
            (tls.ca_cert, tls.sni, tls.verify),
            (
                Some("ca.pem".into()),
                Some("redis.local".into()),
                TlsVerify::Full
            )
        );
        let inv = parse(&["--pipe", "-u", "rediss://h:6380", "--insecure"]).unwrap();
        assert_eq!(inv.config.server.tls.unwrap().verify, TlsVerify::None);
        assert!(parse(&["--pipe", "--tls", "-s", "/tmp/sock"]).is_err());
    }

    #[test]
    fn tls_verify_takes_three_modes_and_insecure_is_none() {
        let verify = |args: &[&str]| {
            let all = [&["--pipe", "--tls"], args].concat();
            parse(&all).map(|inv| inv.config.server.tls.unwrap().verify)
        };
        assert_eq!(verify(&[]).unwrap(), TlsVerify::Full);
        assert_eq!(verify(&["--tls-verify", "full"]).unwrap(), TlsVerify::Full);
        assert_eq!(verify(&["--tls-verify", "ca"]).unwrap(), TlsVerify::Ca);
        assert_eq!(verify(&["--tls-verify", "none"]).unwrap(), TlsVerify::None);
        assert_eq!(verify(&["--insecure"]).unwrap(), TlsVerify::None);
        let both = ["--insecure", "--tls-verify", "none"];
        assert_eq!(verify(&both).unwrap(), TlsVerify::None);
        let conflict = verify(&["--insecure", "--tls-verify", "ca"]).unwrap_err();
        assert_eq!(conflict.exit_code(), 2);
        assert!(
            conflict
                .to_string()
                .contains("conflicts with --tls-verify ca"),
            "{conflict}"
        );
        assert!(
            Args::try_parse_from(["rload", "--pipe", "--tls", "--tls-verify", "some"]).is_err()
        );
        let without_tls = parse(&["--pipe", "--tls-verify", "ca"]).unwrap_err();
        assert!(
            without_tls.to_string().contains("need --tls"),
            "{without_tls}"
        );
    }
}
