//! CSV and TSV records (RFC 4180: quoted fields, doubled quotes, embedded
//! delimiters and newlines, CRLF), read with `csv-core` as the bytes
//! arrive. A UTF-8 byte order mark is skipped; the first record is the
//! header unless `--no-header`; a record with a different number of fields
//! than the first is invalid.

use std::collections::HashMap;

use csv_core::ReadRecordResult;

use super::template::{Field, Record, Template};
use super::{Parsed, Parser};
use crate::input::ArgBuf;

/// Reads CSV records out of a buffer, resuming across reads.
pub(crate) struct Csv {
    delimiter: u8,
    with_header: bool,
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
}

/// The names of the columns, by position, and their positions, by name.
pub(crate) struct Header {
    pub names: Vec<Vec<u8>>,
    index: HashMap<Vec<u8>, usize>,
}

impl Csv {
    pub(crate) fn new(delimiter: u8, with_header: bool) -> Self {
        Csv {
            delimiter,
            with_header,
            reader: Self::reader(delimiter),
            fields: vec![0; 4096],
            ends: vec![0; 64],
            nout: 0,
            nend: 0,
            fed: 0,
            header: None,
            width: None,
        }
    }

    fn reader(delimiter: u8) -> csv_core::Reader {
        csv_core::ReaderBuilder::new().delimiter(delimiter).build()
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
                ReadRecordResult::OutputFull => self.fields.resize(self.fields.len() * 2, 0),
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
                            "the template '{}' names the column '{}', which the header lacks (its columns: {})",
                            t.text,
                            field.name,
                            h.names
                                .iter()
                                .map(|n| String::from_utf8_lossy(n))
                                .collect::<Vec<_>>()
                                .join(", ")
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
        self.reader = Self::reader(self.delimiter);
        (self.nout, self.nend, self.fed) = (0, 0, 0);
        self.header = None;
        self.width = None;
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
        if self.with_header && self.header.is_none() {
            let (fields, ends) = self.take_record();
            self.header = Some(Header::new(&fields, &ends));
            self.width = Some(width);
            return Parsed::Skip { lead, used };
        }
        let expected = *self.width.get_or_insert(width);
        let result = if width != expected {
            Err(format!(
                "the record has {width} fields, but {} {expected}",
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
        Parsed::Record { lead, used, result }
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
        let index = names
            .iter()
            .enumerate()
            .rev()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Header { names, index }
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
        for i in 0..self.ends.len() {
            let start = out.scratch.len();
            match self.header {
                Some(h) => out.scratch.extend_from_slice(&h.names[i]),
                None => out.scratch.extend_from_slice(i.to_string().as_bytes()),
            }
            out.push_scratch(start);
            let start = out.scratch.len();
            out.scratch
                .extend_from_slice(self.field(i).expect("i < the number of fields"));
            out.push_scratch(start);
        }
        Ok(())
    }
}
