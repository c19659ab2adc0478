//! The flags of structured input: `--format`, `--template`, `--no-header`,
//! `--delimiter` and `--tsv-quotes`, checked against each other and the
//! inputs' names.

use rload::error::Error;
use rload::input::Input;
use rload::records::{Format, RecordOptions};

/// How to read the inputs as records, or `None` to read them as commands.
///
/// # Errors
///
/// Flags that do not go together, a delimiter that is not one character,
/// inputs whose names say different formats.
pub(super) fn options(
    format: Option<&str>,
    templates: Vec<String>,
    header: bool,
    delimiter: Option<&str>,
    tsv_quotes: bool,
    inputs: &[Input],
) -> Result<Option<RecordOptions>, Error> {
    refuse_split_template(&templates, inputs)?;
    let format = match format {
        Some(name) => parse_format(name)?,
        None => format_of(inputs)?,
    };
    if !format.is_records() {
        if !templates.is_empty() {
            return Err(Error::Config(
                "--template needs records: --format csv, tsv, json or jsonl, or files named so (.csv, .json...)".into(),
            ));
        }
        if !header || delimiter.is_some() || tsv_quotes {
            return Err(Error::Config(
                "--no-header, --delimiter and --tsv-quotes are for --format csv or tsv".into(),
            ));
        }
        return Ok(None);
    }
    if templates.is_empty() && format != Format::Jsonl {
        return Err(Error::Config(format!(
            "--format {format} needs at least one --template, such as --template 'HSET user:{{id}} {{*}}'"
        )));
    }
    if tsv_quotes && format != Format::Tsv {
        return Err(Error::Config(format!(
            "--tsv-quotes is for TSV, not {format} (CSV fields may always be quoted)"
        )));
    }
    let csv = matches!(format, Format::Csv | Format::Tsv);
    if !csv && (!header || delimiter.is_some()) {
        return Err(Error::Config(format!(
            "--no-header and --delimiter are for CSV and TSV, not {format}"
        )));
    }
    Ok(Some(RecordOptions {
        format,
        templates,
        header,
        delimiter: delimiter.map(parse_delimiter).transpose()?,
        tsv_quotes,
    }))
}

/// A template given unquoted (`--template HSET user:{id} {*}`) is split
/// by the shell: its first word is the template, and the rest become FILE
/// arguments. Files that do not exist, one of them with a placeholder,
/// are taken for that rest, and the message shows the quoting.
fn refuse_split_template(templates: &[String], inputs: &[Input]) -> Result<(), Error> {
    let Some(template) = templates.last() else {
        return Ok(());
    };
    let missing: Vec<String> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::File(path) if !path.exists() => Some(i.name()),
            _ => None,
        })
        .collect();
    let placeholder = |s: &String| s.find('{').is_some_and(|at| s[at..].contains('}'));
    if !missing.iter().any(placeholder) {
        return Ok(());
    }
    let rest = missing.join(" ");
    Err(Error::Config(format!(
        "--template '{template}' is followed by {rest}, which are no files: the shell split the template at its spaces; quote it whole: --template '{template} {rest}'"
    )))
}

fn parse_format(name: &str) -> Result<Format, Error> {
    Ok(match name {
        "csv" => Format::Csv,
        "tsv" => Format::Tsv,
        "json" => Format::Json,
        "jsonl" => Format::Jsonl,
        "commands" => Format::Commands,
        other => {
            return Err(Error::Config(format!(
                "--format {other} is an output format: --format says how the input is written (commands, csv, tsv, json or jsonl); --output-format {other} says how --emit or --dump writes"
            )));
        }
    })
}

/// The format the files' names say; commands for standard input, or for
/// names that say none. Files that say different formats need `--format`.
fn format_of(inputs: &[Input]) -> Result<Format, Error> {
    let mut found: Option<(Format, &Input)> = None;
    for input in inputs {
        let format = match input {
            Input::File(path) => Format::of_path(path).unwrap_or(Format::Commands),
            _ => Format::Commands,
        };
        match found {
            Some((f, first)) if f != format => {
                return Err(Error::Config(format!(
                    "{} is {f} and {} is {format}, by their names: give --format for all of them",
                    first.name(),
                    input.name()
                )));
            }
            _ => found = Some((format, input)),
        }
    }
    Ok(found.map_or(Format::Commands, |(f, _)| f))
}

/// One byte: a character, or `\t` (or `tab`) for a tab.
fn parse_delimiter(text: &str) -> Result<u8, Error> {
    match text {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        s if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => {
            Ok(s.as_bytes()[0])
        }
        _ => Err(Error::Config(format!(
            "--delimiter {text:?}: give one ASCII character (not a quote or a line end), or \\t for a tab"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> Input {
        Input::File(name.into())
    }

    #[test]
    fn the_format_comes_from_the_names_through_compression() {
        assert_eq!(
            format_of(&[file("a.csv"), file("b.CSV.gz")]).unwrap(),
            Format::Csv
        );
        assert_eq!(format_of(&[file("d.ndjson.zst")]).unwrap(), Format::Jsonl);
        assert_eq!(
            format_of(&[file("x.txt"), Input::Stdin]).unwrap(),
            Format::Commands
        );
        assert!(format_of(&[file("a.csv"), file("b.json")]).is_err());
    }

    #[test]
    fn an_unquoted_template_points_at_the_quoting() {
        let e = options(
            None,
            vec!["HSET".into()],
            true,
            None,
            false,
            &[file("user:{id}"), file("{*}"), file("Cargo.toml")],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "--template 'HSET' is followed by user:{id} {*}, which are no files: the shell split the template at its spaces; quote it whole: --template 'HSET user:{id} {*}'"
        );
        // Files that are missing, with no placeholder: a plain mistake.
        let e = options(
            None,
            vec!["SET {a} 1".into()],
            true,
            None,
            false,
            &[file("x.csv"), file("y.json")],
        );
        assert!(e.unwrap_err().to_string().contains("give --format"));
    }

    #[test]
    fn records_need_templates_and_commands_take_none() {
        assert!(options(Some("csv"), vec![], true, None, false, &[]).is_err());
        let keys = options(Some("jsonl"), vec![], true, None, false, &[])
            .unwrap()
            .unwrap();
        assert!(
            keys.templates.is_empty(),
            "JSON lines without a template are keys"
        );
        assert!(
            options(
                None,
                vec!["SET {a} 1".into()],
                true,
                None,
                false,
                &[file("x.txt")]
            )
            .is_err()
        );
        let o = options(
            None,
            vec!["SET {a} 1".into()],
            false,
            Some("\\t"),
            false,
            &[file("x.tsv")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (o.format, o.header, o.delimiter),
            (Format::Tsv, false, Some(b'\t'))
        );
        assert!(
            options(
                Some("json"),
                vec!["SET {a} 1".into()],
                false,
                None,
                false,
                &[]
            )
            .is_err()
        );
        assert!(parse_delimiter(";;").is_err());
    }
}
