//! Structured input: records (CSV, TSV, a JSON array, JSON lines) turned
//! into commands by templates. A [`RecordSource`] is a
//! [`CommandSource`], like the reader of
//! command lines, so everything a load does (`--resume-from`,
//! `--skip-invalid`, cluster routing) works the same on records.
//!
//! - `format`: the formats, how to read them, and the parser for each.
//! - `template`: templates, and what a record gives them.
//! - `csv`: CSV and TSV, with `csv-core`, and RFC 4180's quoting checked.
//! - `json`: JSON arrays, streamed, and JSON lines.
//! - `keys`: with no template, JSON lines of the shape `--dump --format
//!   jsonl` writes, each rebuilt as the key it describes.
//!
//! Each record gives one command per template, in order, numbered as any
//! command is: resume points count commands, not records. An invalid
//! record (a field missing, a wrong number of fields, bad JSON or
//! quoting) gives no command; its error names the line where it starts,
//! and the records after it are read as if it were not there.

mod csv;
mod format;
mod json;
mod keys;
mod template;

use crate::input::{
    ArgBuf, Command, CommandSource, Expect, Input, InputError, Inputs, InvalidKind, Location, Next,
    Position,
};
use crate::interrupt::Interrupt;

pub(crate) use format::parser;
pub use format::{Format, RecordOptions};
pub(crate) use template::{Record, Template};

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
    /// A record of `used` bytes the parser holds, read out of them: it is
    /// rendered by [`Parser::render_held`] once they are consumed, so a
    /// huge record is not held twice while it is rendered.
    Held { lead: usize, used: usize },
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

    /// After a [`Parsed::Held`]: renders the record it held.
    fn render_held(
        &mut self,
        render: &mut dyn FnMut(&dyn Record) -> Result<(), String>,
    ) -> Result<(), String> {
        let _ = render;
        unreachable!("a parser that holds no record is never asked to render one")
    }

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
    /// A record too long to hold was found: the rest of this input is
    /// passed over.
    skip_rest: bool,
    /// Commands not sent because a spread gave them nothing.
    empty_spreads: u64,
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
        let parser = parser(options);
        let inputs = Inputs::open_as(inputs, Expect::Records)?;
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
            skip_rest: false,
            empty_spreads: 0,
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
            render(templates, keys, out, rendered, record)
        })
    }

    /// Renders the record the parser holds, after a [`Parsed::Held`].
    fn render_held(&mut self) -> Result<(), String> {
        let (templates, out) = (&self.templates, &mut self.out);
        let (keys, rendered) = (&mut self.keys, &mut self.rendered);
        self.parser
            .render_held(&mut |record| render(templates, keys, out, rendered, record))
    }

    /// Gives back the memory of a huge record once it is consumed.
    fn release(&mut self) {
        if self.end - self.start < READ_SIZE {
            self.buf.copy_within(self.start..self.end, 0);
            (self.end, self.start) = (self.end - self.start, 0);
            self.buf.truncate(2 * READ_SIZE);
            self.buf.shrink_to_fit();
        }
        for o in &mut self.out {
            if o.scratch.capacity() > 8 * READ_SIZE {
                *o = ArgBuf::default();
            }
        }
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
                if self.out[i].spans.is_empty() {
                    // A spread gave its command nothing: not sent.
                    self.empty_spreads += 1;
                    continue;
                }
                return Ok(Next::Command(Command {
                    pos: self.pos,
                    args: self.out[i].args(&[]),
                    resp: None,
                    takeable: false,
                }));
            }
            if self.skip_rest {
                if !self.next_input() {
                    return Ok(Next::End);
                }
                self.skip_rest = false;
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
                Parsed::Held { lead, used } => {
                    self.consume(lead);
                    self.pos = self.position();
                    self.consume(used);
                    if self.buf.len() > 8 * READ_SIZE {
                        self.release();
                    }
                    match self.render_held() {
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
                // Nothing after the start of so long a record can be told
                // apart from it: the rest of this input is passed over.
                let kind = InvalidKind::TooLong(crate::input::MAX_COMMAND_BYTES);
                let e = self.invalid(self.position(), kind);
                self.skip_rest = true;
                (self.start, self.end) = (0, 0);
                return Err(e);
            }
            // Grown exactly (a large block is remapped, not copied), so a
            // huge record is held about once.
            let len = self.end + READ_SIZE;
            self.buf.reserve_exact(len - self.buf.len());
            self.buf.resize(len, 0);
        } else if self.buf.len() > 8 * READ_SIZE && self.end < READ_SIZE {
            // A huge record has gone: give its memory back.
            self.buf.truncate(2 * READ_SIZE);
            self.buf.shrink_to_fit();
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

    fn watch(&mut self, interrupt: Interrupt, meter: crate::meter::Meter) {
        self.inputs.watch(interrupt, meter);
    }

    fn empty_spreads(&self) -> u64 {
        self.empty_spreads
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

/// Renders `record` into `out`: by each of `templates`, or (with none) as
/// the key it describes; `rendered` is how many commands it gave.
#[inline]
fn render(
    templates: &[Template],
    keys: &mut Option<keys::KeyLines>,
    out: &mut Vec<ArgBuf>,
    rendered: &mut usize,
    record: &dyn Record,
) -> Result<(), String> {
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
