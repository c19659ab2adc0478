//! How records are written ([`Format`]), how to read them
//! ([`RecordOptions`]), and the parser for each.

use std::fmt;
use std::path::Path;

use super::{Parser, csv, json};

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
    /// TSV: fields may be quoted, as in CSV (`--tsv-quotes`); by default a
    /// quote in TSV is the character itself.
    pub tsv_quotes: bool,
}

/// The parser `options` ask for.
pub(crate) fn parser(options: &RecordOptions) -> Box<dyn Parser> {
    match options.format {
        Format::Csv => Box::new(csv::Csv::new(
            options.delimiter.unwrap_or(b','),
            options.header,
            true,
        )),
        Format::Tsv => Box::new(csv::Csv::new(
            options.delimiter.unwrap_or(b'\t'),
            options.header,
            options.tsv_quotes,
        )),
        Format::Json => Box::new(json::Json::new(false)),
        Format::Jsonl => Box::new(json::Json::new(true)),
        Format::Commands => unreachable!("commands are read by InputReader"),
    }
}
