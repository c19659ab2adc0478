//! Templates: how a record becomes a command.
//!
//! A template is a command line in redis-cli's quoting (unquoted words,
//! `"double quotes"` with `\xHH` and the other escapes, `'single quotes'`),
//! with placeholders for the record's fields:
//!
//! | placeholder | is |
//! |---|---|
//! | `{name}` | the field's value as exactly one argument, or part of one (`user:{id}`): never split again |
//! | `{a.b}`, `{a.0}` | a field of a nested object, an element of an array |
//! | `{tags[]}` | one argument per element of an array (an argument of its own) |
//! | `{*}` | every top-level field as a name and a value, in the record's order (an argument of its own) |
//! | `{name?}` | an empty string when the field is missing or null; without `?`, that makes the record invalid |
//! | `{{`, `}}` | a literal brace, as a hash tag needs: `{{user}}:{id}` |
//!
//! A spread that gives nothing (`{tags[]}` of an empty array, `{*}` of an
//! empty object) leaves its command without the arguments it is there for
//! (`SADD k` with no member), which the server would refuse: that command
//! is not sent, and the account counts it. With `{tags[]?}`, nothing is
//! fine: the command is sent without them.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::input::ArgBuf;

/// A field a placeholder names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    /// The name as written, between the braces, without `[]` or `?`.
    pub name: String,
    /// The name split at dots, for nested records.
    pub path: Vec<String>,
    /// `?`: missing or null is an empty string (or no arguments).
    pub optional: bool,
}

/// What a template's argument is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(Vec<u8>),
    Value(Field),
    /// `{name[]}`: only valid alone in its argument.
    Spread(Field),
    /// `{*}`: only valid alone in its argument.
    All,
}

/// One argument of a template, or a spread of several.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// Text and values, joined into one argument.
    Arg(Vec<Part>),
    Spread(Field),
    All,
}

/// A parsed template.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    /// As the user wrote it, for messages.
    pub text: String,
    tokens: Vec<Token>,
}

/// What a record's fields give a template.
pub(crate) trait Record {
    /// Appends the value of `field` to `out`; false if it is missing or
    /// null.
    ///
    /// # Errors
    ///
    /// Why the value cannot be used.
    fn value(&self, field: &Field, out: &mut Vec<u8>) -> Result<bool, String>;

    /// Appends each element of the array `field` as an argument of `out`;
    /// false if it is missing or null.
    ///
    /// # Errors
    ///
    /// The field is not an array.
    fn spread(&self, field: &Field, out: &mut ArgBuf) -> Result<bool, String>;

    /// Appends every top-level field's name and value, in order, as
    /// arguments of `out`.
    ///
    /// # Errors
    ///
    /// Why a value cannot be used.
    fn all(&self, out: &mut ArgBuf) -> Result<(), String>;

    /// A JSON record's entries, in order, each value as raw JSON; `None`
    /// for a record of another format.
    fn json_entries(&self) -> Option<&[(Cow<'_, str>, &RawValue)]> {
        None
    }
}

impl Template {
    /// Parses `text`.
    ///
    /// # Errors
    ///
    /// What is wrong with it, and where (a 1-based column).
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let tokens = Parser {
            b: text.as_bytes(),
            p: 0,
        }
        .tokens()?;
        if tokens.is_empty() {
            return Err("the template is empty".into());
        }
        Ok(Template {
            text: text.to_string(),
            tokens,
        })
    }

    /// Every field the template names, spread or not (`{*}` names none).
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&Field, bool)> {
        self.tokens.iter().flat_map(|t| {
            let fields: Vec<(&Field, bool)> = match t {
                Token::Arg(parts) => parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::Value(f) => Some((f, false)),
                        _ => None,
                    })
                    .collect(),
                Token::Spread(f) => vec![(f, true)],
                Token::All => Vec::new(),
            };
            fields
        })
    }

    /// Renders `record` as the arguments of one command, into `out`; `out`
    /// is left empty when a spread without `?` gave nothing: that command
    /// is not to be sent.
    ///
    /// # Errors
    ///
    /// Why the record does not fit the template: a field it needs is
    /// missing or null, or of the wrong kind.
    pub(crate) fn render(&self, record: &dyn Record, out: &mut ArgBuf) -> Result<(), String> {
        out.clear();
        let mut spread_nothing = false;
        for token in &self.tokens {
            match token {
                Token::Arg(parts) => {
                    let start = out.scratch.len();
                    for part in parts {
                        match part {
                            Part::Text(t) => out.scratch.extend_from_slice(t),
                            Part::Value(f) => {
                                if !record.value(f, &mut out.scratch)? && !f.optional {
                                    return Err(missing(f));
                                }
                            }
                            Part::Spread(_) | Part::All => unreachable!("alone in a token"),
                        }
                    }
                    out.push_scratch(start);
                }
                Token::Spread(f) => {
                    let before = out.spans.len();
                    if !record.spread(f, out)? && !f.optional {
                        return Err(missing(f));
                    }
                    spread_nothing |= out.spans.len() == before && !f.optional;
                }
                Token::All => {
                    let before = out.spans.len();
                    record.all(out)?;
                    spread_nothing |= out.spans.len() == before;
                }
            }
        }
        if spread_nothing {
            out.clear();
            return Ok(());
        }
        if out.spans.is_empty() {
            return Err("the command is empty (every argument was a spread of nothing)".into());
        }
        Ok(())
    }
}

fn missing(f: &Field) -> String {
    format!(
        "the record has no {} (or it is null); write {{{}?}} to use an empty string instead",
        f.name, f.name
    )
}

/// A template's text, read a byte at a time.
struct Parser<'a> {
    b: &'a [u8],
    p: usize,
}

impl Parser<'_> {
    fn tokens(mut self) -> Result<Vec<Token>, String> {
        let mut tokens = Vec::new();
        loop {
            while self.p < self.b.len() && self.b[self.p].is_ascii_whitespace() {
                self.p += 1;
            }
            if self.p == self.b.len() {
                return Ok(tokens);
            }
            tokens.push(self.token()?);
        }
    }

    /// One argument: unquoted and quoted runs and placeholders, up to a
    /// space or the end.
    fn token(&mut self) -> Result<Token, String> {
        let start = self.p;
        let mut parts = Vec::new();
        let mut text = Vec::new();
        while let Some(&c) = self.b.get(self.p) {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => break,
                b'"' => self.double_quoted(&mut text, &mut parts)?,
                b'\'' => self.single_quoted(&mut text, &mut parts)?,
                _ => self.plain(&mut text, &mut parts)?,
            }
        }
        if !text.is_empty() || parts.is_empty() {
            parts.push(Part::Text(text));
        }
        match parts.as_slice() {
            [Part::Spread(f)] => Ok(Token::Spread(f.clone())),
            [Part::All] => Ok(Token::All),
            _ if parts
                .iter()
                .any(|p| matches!(p, Part::Spread(_) | Part::All)) =>
            {
                Err(format!(
                    "column {}: a spread ({{name[]}} or {{*}}) must be an argument of its own",
                    start + 1
                ))
            }
            _ => Ok(Token::Arg(parts)),
        }
    }

    /// A byte outside quotes: a brace, or itself.
    fn plain(&mut self, text: &mut Vec<u8>, parts: &mut Vec<Part>) -> Result<(), String> {
        if !self.brace(text, parts)? {
            text.push(self.b[self.p]);
            self.p += 1;
        }
        Ok(())
    }

    /// At a brace: `{{`, `}}`, or a placeholder. False if not at a brace.
    fn brace(&mut self, text: &mut Vec<u8>, parts: &mut Vec<Part>) -> Result<bool, String> {
        let (c, next) = (self.b[self.p], self.b.get(self.p + 1));
        match (c, next) {
            (b'{', Some(b'{')) | (b'}', Some(b'}')) => {
                text.push(c);
                self.p += 2;
            }
            (b'{', _) => {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(text)));
                }
                parts.push(self.placeholder()?);
            }
            (b'}', _) => {
                return Err(format!(
                    "column {}: a '}}' with no '{{' before it (write '}}}}' for a literal brace)",
                    self.p + 1
                ));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `{name}`, `{name?}`, `{name[]}`, `{name[]?}` or `{*}`, at `{`.
    fn placeholder(&mut self) -> Result<Part, String> {
        let open = self.p;
        let Some(len) = self.b[open + 1..].iter().position(|&c| c == b'}') else {
            return Err(format!(
                "column {}: the '{{' is never closed (write '{{{{' for a literal brace)",
                open + 1
            ));
        };
        let inner = std::str::from_utf8(&self.b[open + 1..open + 1 + len])
            .map_err(|_| format!("column {}: a field name must be UTF-8", open + 1))?;
        self.p = open + len + 2;
        if inner == "*" {
            return Ok(Part::All);
        }
        let (inner, optional) = match inner.strip_suffix('?') {
            Some(rest) => (rest, true),
            None => (inner, false),
        };
        let (name, spread) = match inner.strip_suffix("[]") {
            Some(rest) => (rest, true),
            None => (inner, false),
        };
        if name.is_empty() || name.contains(['{', '[', ']']) {
            return Err(format!(
                "column {}: '{{{inner}}}' is not a field: write {{name}}, {{name?}}, {{name[]}} or {{*}}",
                open + 1
            ));
        }
        let field = Field {
            name: name.to_string(),
            path: name.split('.').map(str::to_string).collect(),
            optional,
        };
        Ok(if spread {
            Part::Spread(field)
        } else {
            Part::Value(field)
        })
    }

    /// A double-quoted run, with redis-cli's escapes, at `"`.
    fn double_quoted(&mut self, text: &mut Vec<u8>, parts: &mut Vec<Part>) -> Result<(), String> {
        let open = self.p;
        self.p += 1;
        loop {
            let Some(&c) = self.b.get(self.p) else {
                return Err(format!(
                    "column {}: the double quote is never closed",
                    open + 1
                ));
            };
            match c {
                b'"' => return self.close_quote(),
                b'\\' if self.p + 1 < self.b.len() => {
                    let e = self.b[self.p + 1];
                    let hex = self
                        .b
                        .get(self.p + 2..self.p + 4)
                        .filter(|h| e == b'x' && h.iter().all(u8::is_ascii_hexdigit));
                    if let Some(h) = hex {
                        let h = std::str::from_utf8(h).expect("hex digits");
                        text.push(u8::from_str_radix(h, 16).expect("two hex digits"));
                        self.p += 4;
                        continue;
                    }
                    text.push(match e {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                    self.p += 2;
                }
                _ if self.brace(text, parts)? => {}
                _ => {
                    text.push(c);
                    self.p += 1;
                }
            }
        }
    }

    /// A single-quoted run, where only `\'` is an escape, at `'`.
    fn single_quoted(&mut self, text: &mut Vec<u8>, parts: &mut Vec<Part>) -> Result<(), String> {
        let open = self.p;
        self.p += 1;
        loop {
            let Some(&c) = self.b.get(self.p) else {
                return Err(format!(
                    "column {}: the single quote is never closed",
                    open + 1
                ));
            };
            match c {
                b'\'' => return self.close_quote(),
                b'\\' if self.b.get(self.p + 1) == Some(&b'\'') => {
                    text.push(b'\'');
                    self.p += 2;
                }
                _ if self.brace(text, parts)? => {}
                _ => {
                    text.push(c);
                    self.p += 1;
                }
            }
        }
    }

    /// A closing quote must be followed by a space or the end.
    fn close_quote(&mut self) -> Result<(), String> {
        self.p += 1;
        match self.b.get(self.p) {
            Some(c) if !c.is_ascii_whitespace() => Err(format!(
                "column {}: a closing quote must be followed by a space or the end",
                self.p
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of named values, for tests.
    struct Map(Vec<(&'static str, Option<&'static str>)>);

    impl Record for Map {
        fn value(&self, field: &Field, out: &mut Vec<u8>) -> Result<bool, String> {
            match self.0.iter().find(|(n, _)| *n == field.name) {
                Some((_, Some(v))) => {
                    out.extend_from_slice(v.as_bytes());
                    Ok(true)
                }
                _ => Ok(false),
            }
        }

        fn spread(&self, field: &Field, out: &mut ArgBuf) -> Result<bool, String> {
            let Some((_, Some(v))) = self.0.iter().find(|(n, _)| *n == field.name) else {
                return Ok(false);
            };
            for item in v.split(',') {
                let s = out.scratch.len();
                out.scratch.extend_from_slice(item.as_bytes());
                out.push_scratch(s);
            }
            Ok(true)
        }

        fn all(&self, out: &mut ArgBuf) -> Result<(), String> {
            for (n, v) in &self.0 {
                for part in [n.as_bytes(), v.unwrap_or_default().as_bytes()] {
                    let s = out.scratch.len();
                    out.scratch.extend_from_slice(part);
                    out.push_scratch(s);
                }
            }
            Ok(())
        }
    }

    fn render(template: &str, record: &Map) -> Result<Vec<String>, String> {
        let t = Template::parse(template)?;
        let mut out = ArgBuf::default();
        t.render(record, &mut out)?;
        Ok(out
            .args(&[])
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect())
    }

    fn user() -> Map {
        Map(vec![
            ("id", Some("7")),
            ("name", Some("Ada Lovelace")),
            ("tags", Some("a,b")),
            ("gone", None),
        ])
    }

    #[test]
    fn a_value_is_one_argument_joined_to_its_text() {
        assert_eq!(
            render("HSET user:{id} name {name}", &user()).unwrap(),
            ["HSET", "user:7", "name", "Ada Lovelace"]
        );
    }

    #[test]
    fn quoting_follows_redis_cli_and_braces_double() {
        assert_eq!(
            render(r#"SET "k {id}\x21" 'it\'s {name}' {{tag}}:{id}"#, &user()).unwrap(),
            ["SET", "k 7!", "it's Ada Lovelace", "{tag}:7"]
        );
    }

    #[test]
    fn spreads_arrays_and_all_fields() {
        assert_eq!(
            render("SADD s:{id} {tags[]}", &user()).unwrap(),
            ["SADD", "s:7", "a", "b"]
        );
        assert_eq!(
            render("HSET h {*}", &Map(vec![("a", Some("1")), ("b", Some("2"))])).unwrap(),
            ["HSET", "h", "a", "1", "b", "2"]
        );
    }

    #[test]
    fn a_missing_field_is_invalid_unless_optional() {
        let e = render("SET k {gone}", &user()).unwrap_err();
        assert!(e.contains("no gone") && e.contains("{gone?}"), "{e}");
        assert_eq!(
            render("SET k x{gone?}", &user()).unwrap(),
            ["SET", "k", "x"]
        );
        assert_eq!(render("SADD k {nope[]?}", &user()).unwrap(), ["SADD", "k"]);
    }

    #[test]
    fn a_spread_of_nothing_leaves_its_command_unsent() {
        assert!(render("HSET h {*}", &Map(vec![])).unwrap().is_empty());
        assert!(
            render("HSET h:{id} {*} seen 1", &Map(vec![]))
                .unwrap_err()
                .contains("no id")
        );
    }

    #[test]
    fn names_nested_paths() {
        let t = Template::parse("SET {a.b.0} x").unwrap();
        let (f, spread) = t.fields().next().unwrap();
        assert_eq!(
            (f.path.clone(), spread),
            (vec!["a".into(), "b".into(), "0".into()], false)
        );
    }

    #[test]
    fn refuses_templates_that_cannot_be_parsed() {
        for (bad, why) in [
            ("SET {id", "never closed"),
            ("SET }", "no '{' before it"),
            ("SET k {}", "is not a field"),
            ("SADD k x{tags[]}", "argument of its own"),
            ("SET \"k", "never closed"),
            ("SET \"k\"x", "followed by a space"),
            ("   ", "empty"),
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
