//! CSV and TSV records (RFC 4180: quoted fields, doubled quotes, embedded
//! delimiters and newlines, CRLF), read with `csv-core` as the bytes
//! arrive. A UTF-8 byte order mark is skipped; the first record is the
//! header unless `--no-header`; a record with a different number of fields
//! than the first is invalid.
//!
//! Quoting is checked as RFC 4180 has it, where `csv-core` would guess: a
//! quoted field that is never closed (a truncated file) and text after a
//! closing quote (`"a"b`) make the record invalid, and reading goes on at
//! the line after the one it starts on, so no line is lost unnamed. A quote
//! inside an unquoted field (`5" tall`) is the quote itself. TSV takes
//! quotes literally, as its definition and PostgreSQL's `COPY` do, unless
//! `--tsv-quotes` asks for CSV's quoting.
//!
//! A column named twice in the header is read as a JSON object's key given
//! twice: `{name}` is its last value, and `{*}` gives it once, at its first
//! place, with its last value.

use std::collections::HashMap;

use csv_core::ReadRecordResult;

mod quoting;

use quoting::quoting_error;

use super::template::{Field, Record, Template};
use super::{Parsed, Parser};
use crate::input::ArgBuf;
use crate::report::count;

/// The record buffer's size to start with...
const FIELDS_BYTES: usize = 4096;
/// ...and past which it is given back once a record is done.
const BIG_RECORD: usize = 1 << 20;

/// Reads CSV records out of a buffer, resuming across reads.
pub(crate) struct Csv {
    delimiter: u8,
    with_header: bool,
    /// Fields may be quoted (CSV, and TSV with `--tsv-quotes`).
    quoting: bool,
    reader: csv_core::Reader,
    /// The record being read: its fields' bytes, and where each ends.
    fields: Vec<u8>,
    ends: Vec<usize>,
    nout: usize,
    nend: usize,
    /// Bytes of the record fed to the reader so far.
    fed: usize,
    /// Column names and their positions, once the header is read.
    header: Option<Header>,
    /// The number of fields every record must have.
    width: Option<usize>,
    /// What is wrong with the header's quoting, for [`Parser::check`].
    bad_header: Option<String>,
}

/// The names of the columns, by position, and their positions, by name.
pub(crate) struct Header {
    pub names: Vec<Vec<u8>>,
    /// Each name's last column.
    index: HashMap<Vec<u8>, usize>,
    /// What `{*}` gives: each name's first column, and its last.
    all: Vec<(usize, usize)>,
}

impl Csv {
    pub(crate) fn new(delimiter: u8, with_header: bool, quoting: bool) -> Self {
        Csv {
            delimiter,
            with_header,
            quoting,
            reader: Self::reader(delimiter, quoting),
            fields: vec![0; FIELDS_BYTES],
            ends: vec![0; 64],
            nout: 0,
            nend: 0,
            fed: 0,
            header: None,
            width: None,
            bad_header: None,
        }
    }

    /// A header of one column that holds another common delimiter was
    /// most likely split by that one: the hint to give it.
    fn delimiter_hint(&self, header: &Header) -> String {
        let [name] = header.names.as_slice() else {
            return String::new();
        };
        let found = [b';', b'|', b'\t', b',']
            .into_iter()
            .find(|&d| d != self.delimiter && name.contains(&d));
        match found {
            Some(b'\t') => "; the header is one column holding tabs: give --delimiter '\\t'".into(),
            Some(d) => format!(
                "; the header is one column holding '{0}': if '{0}' separates the fields, give --delimiter '{0}'",
                d as char
            ),
            None => String::new(),
        }
    }

    fn reader(delimiter: u8, quoting: bool) -> csv_core::Reader {
        csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .quoting(quoting)
            .build()
    }

    /// Reads the next record, or more of it, from `data` (the bytes from
    /// the record's start): `None` until it is whole.
    fn read(&mut self, data: &[u8], eof: bool) -> Option<usize> {
        loop {
            let input = if eof && self.fed == data.len() {
                &[][..]
            } else {
                &data[self.fed..]
            };
            if input.is_empty() && !eof {
                return None;
            }
            let (res, nin, nout, nend) = self.reader.read_record(
                input,
                &mut self.fields[self.nout..],
                &mut self.ends[self.nend..],
            );
            self.fed += nin;
            self.nout += nout;
            self.nend += nend;
            match res {
                ReadRecordResult::InputEmpty if !eof => return None,
                ReadRecordResult::InputEmpty => {}
                // A field is never longer than its text: the output needs
                // at most what is left of the input, so a huge field is
                // held about once, not up to twice.
                ReadRecordResult::OutputFull => {
                    let need = self.nout + (data.len() - self.fed).max(1);
                    let len = (self.fields.len() * 2).min(need).max(self.fields.len() + 1);
                    self.fields.resize(len, 0);
                }
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record => return Some(self.fed),
                ReadRecordResult::End => return None,
            }
        }
    }

    fn take_record(&mut self) -> (Vec<u8>, Vec<usize>) {
        let record = (
            self.fields[..self.nout].to_vec(),
            self.ends[..self.nend].to_vec(),
        );
        (self.nout, self.nend, self.fed) = (0, 0, 0);
        record
    }
}

impl Parser for Csv {
    /// Every field the templates name must be a column: by name, with a
    /// header; by number, without one (`{0}`, `{1}`). A CSV field is never
    /// an array to spread.
    fn check(&self, templates: &[Template]) -> Result<(), String> {
        for t in templates {
            for (field, spread) in t.fields() {
                if spread {
                    return Err(format!(
                        "the template '{}' spreads {{{}[]}}, but a CSV field is not an array",
                        t.text, field.name
                    ));
                }
                let known = match &self.header {
                    Some(h) => h.position(&field.name).is_some(),
                    None => field.name.parse::<usize>().is_ok(),
                };
                if !known && !field.optional {
                    return Err(match &self.header {
                        Some(h) => format!(
                            "the template '{}' names the column '{}', which the header lacks (its columns: {}){}",
                            t.text,
                            field.name,
                            h.names
                                .iter()
                                .map(|n| String::from_utf8_lossy(n))
                                .collect::<Vec<_>>()
                                .join(", "),
                            self.delimiter_hint(h)
                        ),
                        None => format!(
                            "the template '{}' names the field '{}', but with --no-header fields are numbers: {{0}}, {{1}}...",
                            t.text, field.name
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.reader.reset();
        (self.nout, self.nend, self.fed) = (0, 0, 0);
        self.header = None;
        self.width = None;
        self.bad_header = None;
    }

    fn next(
        &mut self,
        data: &[u8],
        eof: bool,
        render: &mut dyn FnMut(&dyn Record) -> Result<(), String>,
    ) -> Parsed {
        // Blank lines between records are skipped; a record starts at its
        // first byte.
        let lead = if self.fed == 0 {
            data.iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count()
        } else {
            0
        };
        let Some(used) = self.read(&data[lead..], eof) else {
            return if eof {
                Parsed::End { lead: data.len() }
            } else {
                Parsed::NeedMore { lead }
            };
        };
        let width = self.nend;
        let record = &data[lead..lead + used];
        // A record whose text is its fields, its delimiters and its line
        // end, byte for byte, opened no quoted field (csv-core drops the
        // quotes of one): only another may be quoted wrong. (At the end of
        // the input, a line end may be a field's own, in a quoted field
        // never closed: that record is checked whatever its length.)
        let end = record
            .iter()
            .rev()
            .take(2)
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        let last = eof && lead + used == data.len();
        let plain = !last && record.len() == self.nout + width.saturating_sub(1) + end;
        let quoting = if self.quoting && !plain && memchr::memchr(b'"', record).is_some() {
            quoting_error(record, self.delimiter)
        } else {
            None
        };
        if self.with_header && self.header.is_none() {
            let (fields, ends) = self.take_record();
            self.header = Some(Header::new(&fields, &ends));
            self.width = Some(width);
            self.bad_header = quoting.map(|why| format!("the header is not valid CSV: {why}"));
            return Parsed::Skip { lead, used };
        }
        if let Some(why) = quoting {
            // Read on from the next line: what the quote took in may be
            // records of their own.
            self.resync();
            let line = memchr::memchr(b'\n', record).map_or(used, |i| i + 1);
            return Parsed::Record {
                lead,
                used: line,
                result: Err(why),
            };
        }
        self.fed = 0;
        if self.nout > BIG_RECORD {
            // Rendered once the bytes are consumed: a huge record is then
            // held once, in `fields`, while it is rendered.
            return Parsed::Held { lead, used };
        }
        Parsed::Record {
            lead,
            used,
            result: self.render_held(render),
        }
    }

    #[inline]
    fn render_held(
        &mut self,
        render: &mut dyn FnMut(&dyn Record) -> Result<(), String>,
    ) -> Result<(), String> {
        let width = self.nend;
        let expected = *self.width.get_or_insert(width);
        let result = if width != expected {
            Err(format!(
                "the record has {}, but {} {expected}",
                count(width as u64, "field"),
                if self.header.is_some() {
                    "the header has"
                } else {
                    "the first record has"
                }
            ))
        } else {
            let record = CsvRecord {
                fields: &self.fields[..self.nout],
                ends: &self.ends[..self.nend],
                header: self.header.as_ref(),
            };
            render(&record)
        };
        (self.nout, self.nend, self.fed) = (0, 0, 0);
        if self.fields.len() > BIG_RECORD {
            // A huge record has gone: give its memory back.
            self.fields = vec![0; FIELDS_BYTES];
        }
        result
    }
}

impl Csv {
    /// Starts afresh, after an invalid record, at the line after its
    /// first: the header and the width stay.
    fn resync(&mut self) {
        self.reader.reset();
        (self.nout, self.nend, self.fed) = (0, 0, 0);
    }
}

impl Header {
    fn new(fields: &[u8], ends: &[usize]) -> Self {
        let mut names = Vec::with_capacity(ends.len());
        let mut start = 0;
        for &end in ends {
            names.push(fields[start..end].to_vec());
            start = end;
        }
        // The last column of a name given twice wins.
        let index: HashMap<Vec<u8>, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let all = (0..names.len())
            .filter(|&i| !names[..i].contains(&names[i]))
            .map(|i| (i, index[&names[i]]))
            .collect();
        Header { names, index, all }
    }

    /// The position of column `name`.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name.as_bytes()).copied()
    }
}

/// One CSV record: fields by position, and by name through the header.
struct CsvRecord<'a> {
    fields: &'a [u8],
    ends: &'a [usize],
    header: Option<&'a Header>,
}

impl CsvRecord<'_> {
    fn field(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.fields[start..end])
    }

    /// The position a placeholder names: a column of the header, or, with
    /// no header, a number.
    fn position(&self, field: &Field) -> Option<usize> {
        match self.header {
            Some(h) => h.position(&field.name),
            None => field.name.parse().ok(),
        }
    }
}

impl Record for CsvRecord<'_> {
    fn value(&self, field: &Field, out: &mut Vec<u8>) -> Result<bool, String> {
        match self.position(field).and_then(|i| self.field(i)) {
            Some(v) => {
                out.extend_from_slice(v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn spread(&self, field: &Field, _out: &mut ArgBuf) -> Result<bool, String> {
        Err(format!("{{{}[]}}: a CSV field is not an array", field.name))
    }

    fn all(&self, out: &mut ArgBuf) -> Result<(), String> {
        let mut push = |name: &[u8], value: &[u8]| {
            let start = out.scratch.len();
            out.scratch.extend_from_slice(name);
            out.push_scratch(start);
            let start = out.scratch.len();
            out.scratch.extend_from_slice(value);
            out.push_scratch(start);
        };
        match self.header {
            // A name given twice: once, with its last value.
            Some(h) if h.all.len() < h.names.len() => {
                for &(name, value) in &h.all {
                    push(&h.names[name], self.field(value).expect("a column"));
                }
            }
            header => {
                let mut start = 0;
                for (i, &end) in self.ends.iter().enumerate() {
                    let value = &self.fields[start..end];
                    match header {
                        Some(h) => push(&h.names[i], value),
                        None => push(itoa::Buffer::new().format(i).as_bytes(), value),
                    }
                    start = end;
                }
            }
        }
        Ok(())
    }
}
