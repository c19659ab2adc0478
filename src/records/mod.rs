//! Structured input: records (CSV, TSV, a JSON array, JSON lines) turned
//! into commands by templates. A [`RecordSource`] is a
//! [`CommandSource`], like the reader of
//! command lines, so everything a load does (`--resume-from`,
//! `--skip-invalid`, cluster routing) works the same on records.
//!
//! - `template`: templates, and what a record gives them.
//! - `csv`: CSV and TSV, with `csv-core`.
//! - `json`: JSON arrays, streamed, and JSON lines.
//! - `keys`: with no template, JSON lines of the shape `--dump --format
//!   jsonl` writes, each rebuilt as the key it describes.
//!
//! Each record gives one command per template, in order, numbered as any
//! command is: resume points count commands, not records. An invalid
//! record (a field missing, a wrong number of fields, bad JSON) gives no
//! command; its error names the line where it starts.

mod csv;
mod json;
mod keys;
mod template;

use std::fmt;
use std::path::Path;

use crate::input::{
    ArgBuf, Command, CommandSource, Input, InputError, Inputs, InvalidKind, Location, Next,
    Position,
};
use crate::interrupt::Interrupt;

pub(crate) use template::{Record, Template};

/// How the input is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Commands: inline lines and RESP frames, as `redis-cli --pipe` takes.
    Commands,
    /// Comma-separated values.
    Csv,
    /// Tab-separated values.
    Tsv,
    /// A JSON array of objects.
    Json,
    /// JSON lines: one object per line.
    Jsonl,
}

impl Format {
    /// The format a file's name says: `.csv`, `.tsv`, `.json`, `.jsonl` or
    /// `.ndjson`, looking through a `.gz` or `.zst` suffix; `None` for any
    /// other.
    pub fn of_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = ["gz", "zst"]
            .iter()
            .find_map(|ext| name.strip_suffix(&format!(".{ext}")))
            .unwrap_or(&name)
            .to_string();
        let (_, ext) = name.rsplit_once('.')?;
        match ext {
            "csv" => Some(Format::Csv),
            "tsv" => Some(Format::Tsv),
            "json" => Some(Format::Json),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }

    /// Whether the input is records, which need templates.
    pub fn is_records(self) -> bool {
        self != Format::Commands
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Commands => "commands",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
        })
    }
}

/// How to read records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordOptions {
    /// CSV, TSV, JSON or JSON lines.
    pub format: Format,
    /// The templates, as written; each record gives one command per
    /// template.
    pub templates: Vec<String>,
    /// CSV and TSV: the first record names the columns.
    pub header: bool,
    /// CSV and TSV: the field delimiter, when not the format's own.
    pub delimiter: Option<u8>,
}

/// What a parser found at the start of the bytes it was given. `lead`
/// bytes (blank lines, white space, separators) go before what it found.
pub(crate) enum Parsed {
    /// More bytes are needed.
    NeedMore { lead: usize },
    /// `used` bytes that are no record: a header, an array's brackets.
    Skip { lead: usize, used: usize },
    /// A record of `used` bytes, rendered or not (why not).
    Record {
        lead: usize,
        used: usize,
        result: Result<(), String>,
    },
    /// No more records in this input.
    End { lead: usize },
}

/// Finds records in bytes, resuming where it stopped when more arrive.
pub(crate) trait Parser: Send {
    /// Starts on a new input.
    fn reset(&mut self);

    /// The next record at the start of `data` (`eof`: no more will come),
    /// handed to `render` when found.
    fn next(
        &mut self,
        data: &[u8],
        eof: bool,
        render: &mut dyn FnMut(&dyn Record) -> Result<(), String>,
    ) -> Parsed;

    /// After a [`Parsed::Skip`]: what is wrong with `templates` given what
    /// was read (a CSV header that lacks a column they name).
    fn check(&self, templates: &[Template]) -> Result<(), String> {
        let _ = templates;
        Ok(())
    }
}

/// Bytes asked of the input per read.
const READ_SIZE: usize = 256 * 1024;

/// Records from a list of inputs, as commands.
pub struct RecordSource {
    inputs: Inputs,
    parser: Box<dyn Parser>,
    templates: Vec<Template>,
    /// With no template: JSON lines are keys, as a dump writes them.
    keys: Option<keys::KeyLines>,
    /// The current record's commands in `out`.
    rendered: usize,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Line and byte offset of `buf[start]` in the current input.
    line: u64,
    offset: u64,
    /// The current record's commands: `out[next..ready]` are still to be
    /// lent.
    out: Vec<ArgBuf>,
    next: usize,
    ready: usize,
    /// Where the current record starts.
    pos: Position,
    max_bulk: u64,
    /// What [`CommandSource::check`] parsed past the header, to take first.
    peeked: Option<Parsed>,
}

impl RecordSource {
    /// A source of `inputs`' records, rendered by `options.templates`.
    ///
    /// # Errors
    ///
    /// An input that cannot be opened; a template that cannot be parsed
    /// (its message names the template).
    pub fn open(inputs: &[Input], options: &RecordOptions) -> Result<Self, RecordError> {
        let templates = options
            .templates
            .iter()
            .map(|t| {
                Template::parse(t).map_err(|why| RecordError::Template {
                    template: t.clone(),
                    why,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let keys = match (templates.is_empty(), options.format) {
            (true, Format::Jsonl) => Some(keys::KeyLines::default()),
            (true, format) => return Err(RecordError::NoTemplate(format)),
            (false, _) => None,
        };
        let parser: Box<dyn Parser> = match options.format {
            Format::Csv | Format::Tsv => {
                let default = if options.format == Format::Tsv {
                    b'\t'
                } else {
                    b','
                };
                let delimiter = options.delimiter.unwrap_or(default);
                Box::new(csv::Csv::new(delimiter, options.header))
            }
            Format::Json => Box::new(json::Json::new(false)),
            Format::Jsonl => Box::new(json::Json::new(true)),
            Format::Commands => unreachable!("commands are read by InputReader"),
        };
        let inputs = Inputs::open(inputs)?;
        Ok(RecordSource {
            inputs,
            parser,
            out: (0..templates.len()).map(|_| ArgBuf::default()).collect(),
            rendered: templates.len(),
            templates,
            keys,
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            line: 1,
            offset: 0,
            next: 0,
            ready: 0,
            pos: Position::default(),
            max_bulk: crate::resp::MAX_BULK_LEN,
            peeked: None,
        })
    }

    fn consume(&mut self, n: usize) {
        let newlines = memchr::memchr_iter(b'\n', &self.buf[self.start..self.start + n]).count();
        self.line += newlines as u64;
        self.start += n;
        self.offset += n as u64;
    }

    fn position(&self) -> Position {
        Position {
            source: self.inputs.current(),
            line: self.line,
            offset: self.offset,
        }
    }

    fn invalid(&self, pos: Position, kind: InvalidKind) -> InputError {
        InputError::Invalid {
            at: Location::new(self.inputs.names(), pos),
            kind,
        }
    }

    /// Parses the next record (or what comes before one), rendering it.
    fn parse(&mut self) -> Parsed {
        let (templates, out) = (&self.templates, &mut self.out);
        let (keys, rendered) = (&mut self.keys, &mut self.rendered);
        let data = &self.buf[self.start..self.end];
        self.parser.next(data, self.eof, &mut |record| {
            if let Some(keys) = keys {
                let entries = record.json_entries().ok_or("a key line is a JSON object")?;
                *rendered = keys.render(entries, out)?;
                return Ok(());
            }
            for (t, o) in templates.iter().zip(out.iter_mut()) {
                t.render(record, o)
                    .map_err(|why| format!("{why} (template {})", t.text))?;
            }
            Ok(())
        })
    }

    /// Takes a rendered record's commands, unless an argument is longer
    /// than the server accepts.
    fn accept(&mut self) -> Result<(), InputError> {
        for o in &self.out[..self.rendered] {
            if let Some((index, len)) = o.longest().filter(|&(_, len)| len as u64 > self.max_bulk) {
                let kind = InvalidKind::ArgTooLong {
                    index,
                    len: len as u64,
                    max: self.max_bulk,
                };
                return Err(self.invalid(self.pos, kind));
            }
        }
        (self.next, self.ready) = (0, self.rendered);
        Ok(())
    }

    /// Passes over what is no record (a header, an array's brackets),
    /// checking a header against the templates.
    fn skip(&mut self, lead: usize, used: usize) -> Result<(), InputError> {
        self.consume(lead);
        let at = self.position();
        self.consume(used);
        self.parser
            .check(&self.templates)
            .map_err(|why| InputError::Header {
                at: Location::new(self.inputs.names(), at),
                why,
            })
    }

    /// Moves to the next input; false when there is none.
    fn next_input(&mut self) -> bool {
        if !self.inputs.next_input() {
            return false;
        }
        self.parser.reset();
        (self.start, self.end, self.eof) = (0, 0, false);
        (self.line, self.offset) = (1, 0);
        true
    }
}

impl CommandSource for RecordSource {
    fn next_buffered(&mut self) -> Result<Next<'_>, InputError> {
        loop {
            if self.next < self.ready {
                let i = self.next;
                self.next += 1;
                return Ok(Next::Command(Command {
                    pos: self.pos,
                    args: self.out[i].args(&[]),
                    resp: None,
                    takeable: false,
                }));
            }
            let parsed = match self.peeked.take() {
                Some(parsed) => parsed,
                None => self.parse(),
            };
            match parsed {
                Parsed::NeedMore { lead } => {
                    self.consume(lead);
                    return Ok(Next::NeedInput);
                }
                Parsed::Skip { lead, used } => self.skip(lead, used)?,
                Parsed::Record { lead, used, result } => {
                    self.consume(lead);
                    self.pos = self.position();
                    self.consume(used);
                    match result {
                        Ok(()) => self.accept()?,
                        Err(why) => return Err(self.invalid(self.pos, InvalidKind::Record(why))),
                    }
                }
                Parsed::End { lead } => {
                    self.consume(lead);
                    if !self.next_input() {
                        return Ok(Next::End);
                    }
                }
            }
        }
    }

    fn read_more(&mut self) -> Result<(), InputError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.end, self.start) = (self.end - self.start, 0);
        }
        if self.end + READ_SIZE > self.buf.len() {
            if self.end > crate::input::MAX_COMMAND_BYTES {
                let kind = InvalidKind::TooLong(crate::input::MAX_COMMAND_BYTES);
                return Err(self.invalid(self.position(), kind));
            }
            self.buf.resize(self.end + READ_SIZE, 0);
        }
        match self.inputs.read(&mut self.buf[self.end..])? {
            0 => self.eof = true,
            n => self.end += n,
        }
        Ok(())
    }

    fn take_last(&mut self) -> Vec<u8> {
        unreachable!("a record's commands are never taken: they are not takeable")
    }

    fn names(&self) -> &[String] {
        self.inputs.names()
    }

    fn set_max_bulk(&mut self, max: u64) {
        self.max_bulk = max;
    }

    fn watch(&mut self, interrupt: Interrupt, meter: crate::Meter) {
        self.inputs.watch(interrupt, meter);
    }

    /// Reads up to the first record, so a CSV header that lacks a column a
    /// template names stops the load before it connects.
    fn check(&mut self) -> Result<(), InputError> {
        loop {
            match self.parse() {
                Parsed::NeedMore { lead } => {
                    self.consume(lead);
                    self.read_more()?;
                }
                Parsed::Skip { lead, used } => self.skip(lead, used)?,
                other => {
                    self.peeked = Some(other);
                    return Ok(());
                }
            }
        }
    }
}

/// Why records cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A template cannot be parsed.
    #[error("template '{template}': {why}")]
    Template {
        /// The template, as given.
        template: String,
        /// What is wrong with it.
        why: String,
    },
    /// Records need at least one template.
    #[error(
        "--format {0} needs at least one --template, such as --template 'HSET user:{{id}} {{*}}'"
    )]
    NoTemplate(Format),
    /// An input cannot be opened.
    #[error(transparent)]
    Input(#[from] InputError),
}
