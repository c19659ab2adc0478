//! JSON records: a top-level array of objects, streamed element by element
//! (a multi-GB array is never held whole), or JSON lines (one object per
//! line, blank lines skipped).
//!
//! Values keep their text: a number is rendered exactly as written (`1.50`,
//! `1e3`, `12345678901234567890`), so each element is kept as raw JSON
//! (serde_json's `RawValue`) and read only as deep as a template reaches.
//!
//! The splitter finds where each element ends by its first byte alone (an
//! object or array at its closing bracket, a string at its closing quote,
//! any other value before the next separator), so each element is judged
//! on its own: one that is not an object, or not valid JSON, is one invalid
//! record, and the elements after it are read as if it were not there. A
//! duplicate key is read as `JSON.parse` reads it: the last value wins, at
//! the key's first place.

mod record;
mod scan;

use super::template::Record;
use super::{Parsed, Parser};
#[cfg(test)]
pub(crate) use record::parse_entries;
use record::render_element;
use scan::{Scan, is_space};

/// Where the splitter of a JSON array is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Before the array's `[`.
    Start,
    /// Between elements: at the first one (or `]`), or at `,` or `]`.
    Between { first: bool },
    /// At an element (after its `,`); `stray` when no `,` came before it.
    Element { stray: bool },
    /// After the array's `]`, or after the input ended inside it.
    Done,
    /// After what cannot be read as an array's elements, which was one
    /// invalid record: the rest of the input is passed over.
    Rest,
}

/// Reads the elements of a top-level JSON array, or JSON lines.
pub(crate) struct Json {
    lines: bool,
    place: Place,
    scan: Scan,
    /// Nothing of the input is seen yet: a byte order mark may come.
    fresh: bool,
}

impl Json {
    pub(crate) fn new(lines: bool) -> Self {
        Json {
            lines,
            place: Place::Start,
            scan: Scan::default(),
            fresh: true,
        }
    }

    /// One JSON line, at `data[0]` (after blank lines).
    fn next_line(data: &[u8], eof: bool) -> Option<(usize, &[u8])> {
        match memchr::memchr(b'\n', data) {
            Some(i) => Some((i + 1, &data[..i])),
            None if eof && !data.is_empty() => Some((data.len(), data)),
            None => None,
        }
    }

    /// An invalid record of `used` bytes from `lead`, after which the
    /// splitter is at `place`.
    fn invalid(&mut self, lead: usize, used: usize, place: Place, why: &str) -> Parsed {
        self.place = place;
        Parsed::Record {
            lead,
            used,
            result: Err(why.into()),
        }
    }

    /// Before the array, and after it: only white space may be there.
    fn outside(&mut self, data: &[u8], eof: bool, lead: usize) -> Parsed {
        match (data.get(lead), self.place) {
            (None, _) if eof => Parsed::End { lead: data.len() },
            (None, _) => Parsed::NeedMore { lead },
            (Some(b'['), Place::Start) => {
                self.place = Place::Between { first: true };
                Parsed::Skip { lead, used: 1 }
            }
            // The rest of the input is one invalid record, here: nothing in
            // it can be told apart.
            (Some(_), Place::Start) => self.invalid(
                lead,
                0,
                Place::Rest,
                "a JSON input must be an array of objects, [ {...}, ... ] (or JSON lines, with --format jsonl)",
            ),
            (Some(_), _) => self.invalid(
                lead,
                0,
                Place::Rest,
                "text after the end of the JSON array",
            ),
        }
    }

    /// Between elements: a `,`, the closing `]`, or (when the first) the
    /// first element.
    fn between(&mut self, data: &[u8], eof: bool, lead: usize, first: bool) -> Option<Parsed> {
        Some(match data.get(lead) {
            Some(b']') => {
                self.place = Place::Done;
                Parsed::Skip { lead, used: 1 }
            }
            Some(b',') if !first => {
                self.place = Place::Element { stray: false };
                Parsed::Skip { lead, used: 1 }
            }
            Some(_) => {
                // The first element, or one after a missing ',': read it
                // whole, so the elements after it are still found.
                self.place = Place::Element { stray: !first };
                return None;
            }
            None if eof => self.invalid(
                lead,
                0,
                Place::Done,
                "the input ends inside the JSON array (no ']')",
            ),
            None => Parsed::NeedMore { lead },
        })
    }

    /// At an element: the element, or what stands where one should.
    fn element(
        &mut self,
        data: &[u8],
        eof: bool,
        lead: usize,
        stray: bool,
        render: &mut dyn FnMut(&dyn Record) -> Result<(), String>,
    ) -> Parsed {
        let element = &data[lead..];
        match element.first() {
            None if eof => {
                return self.invalid(
                    lead,
                    0,
                    Place::Done,
                    "the input ends inside the JSON array (no ']')",
                );
            }
            Some(b']') if !stray => {
                return self.invalid(
                    lead,
                    1,
                    Place::Done,
                    "a ',' before the array's ']' (JSON has no trailing commas)",
                );
            }
            Some(b',') if !stray => {
                return self.invalid(
                    lead,
                    1,
                    Place::Element { stray: false },
                    "an empty element: two ',' in a row",
                );
            }
            _ => {}
        }
        match self.scan.end(element, eof) {
            Some(used) => {
                self.place = Place::Between { first: false };
                let result = if stray {
                    Err("expected ',' or ']' between the array's elements, before this one".into())
                } else {
                    render_element(&element[..used], render)
                };
                Parsed::Record { lead, used, result }
            }
            None if eof => self.invalid(
                lead,
                element.len(),
                Place::Done,
                "the input ends inside a JSON value",
            ),
            // The white space before the element may go; the scan goes on
            // from where it stopped, relative to the element's start.
            None => Parsed::NeedMore { lead },
        }
    }
}

impl Parser for Json {
    fn reset(&mut self) {
        *self = Json::new(self.lines);
    }

    fn next(
        &mut self,
        data: &[u8],
        eof: bool,
        render: &mut dyn FnMut(&dyn Record) -> Result<(), String>,
    ) -> Parsed {
        // A byte order mark (at the very start of the input, and maybe
        // cut by a read), then white space, go before a record.
        const BOM: &[u8] = b"\xef\xbb\xbf";
        let fresh = self.fresh;
        if fresh && !eof && !data.is_empty() && BOM.len() > data.len() && BOM.starts_with(data) {
            return Parsed::NeedMore { lead: 0 };
        }
        self.fresh &= data.is_empty();
        let bom = if fresh && data.starts_with(BOM) {
            BOM.len()
        } else {
            0
        };
        let lead = bom + data[bom..].iter().take_while(|&&b| is_space(b)).count();
        if self.lines {
            let Some((used, line)) = Self::next_line(&data[lead..], eof) else {
                return if eof {
                    Parsed::End { lead: data.len() }
                } else {
                    Parsed::NeedMore { lead }
                };
            };
            return Parsed::Record {
                lead,
                used,
                result: render_element(line, render),
            };
        }
        match self.place {
            Place::Rest if data.is_empty() && eof => Parsed::End { lead: 0 },
            Place::Rest if data.is_empty() => Parsed::NeedMore { lead: 0 },
            Place::Rest => Parsed::Skip {
                lead: 0,
                used: data.len(),
            },
            Place::Start | Place::Done => self.outside(data, eof, lead),
            Place::Between { first } => match self.between(data, eof, lead, first) {
                Some(parsed) => parsed,
                None => self.next(data, eof, render),
            },
            Place::Element { stray } => self.element(data, eof, lead, stray, render),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_an_array_into_elements_whatever_the_reads() {
        let text = br#"[ {"a": "x,]}"}, {"a": [1, {"b": "\"]"}]} ,{"a":2} ]"#;
        for step in 1..text.len() {
            let mut json = Json::new(false);
            let (mut start, mut end, mut got) = (0, 0, Vec::new());
            loop {
                let eof = end == text.len();
                let mut seen = None;
                match json.next(&text[start..end], eof, &mut |_| {
                    seen = Some(());
                    Ok(())
                }) {
                    Parsed::NeedMore { lead } => {
                        start += lead;
                        end = (end + step).min(text.len());
                    }
                    Parsed::Skip { lead, used } => start += lead + used,
                    Parsed::Record { lead, used, result } => {
                        result.unwrap();
                        got.push(
                            String::from_utf8_lossy(&text[start + lead..start + lead + used])
                                .into_owned(),
                        );
                        start += lead + used;
                        assert!(seen.is_some());
                    }
                    Parsed::End { .. } => break,
                    Parsed::Held { .. } => unreachable!("JSON renders as it reads"),
                }
            }
            assert_eq!(
                got,
                [
                    r#"{"a": "x,]}"}"#,
                    r#"{"a": [1, {"b": "\"]"}]}"#,
                    r#"{"a":2}"#
                ],
                "reads of {step} bytes"
            );
        }
    }
}
