//! RFC 4180 quoting, checked on a record `csv-core` delimited: it would
//! guess where the RFC says the record is wrong.

/// What is wrong with the quoting of `record` (a whole record, as
/// `csv-core` delimited it, that holds a quote), if anything: a field that
/// opens with a quote must close it, and the closing quote must end the
/// field. Quotes elsewhere in a field are the field's own.
pub(super) fn quoting_error(record: &[u8], delimiter: u8) -> Option<String> {
    let mut from = 0;
    while let Some(q) = memchr::memchr(b'"', &record[from..]).map(|i| from + i) {
        from = q + 1;
        if q > 0 && record[q - 1] != delimiter {
            continue;
        }
        // An opening quote: its field ends at the first quote not doubled.
        loop {
            let Some(c) = memchr::memchr(b'"', &record[from..]).map(|i| from + i) else {
                return Some(format!(
                    "the quoted field {} is never closed: the input ends inside it",
                    field_number(record, q, delimiter)
                ));
            };
            match record.get(c + 1) {
                Some(b'"') => from = c + 2,
                Some(&b) if b != delimiter && b != b'\r' && b != b'\n' => {
                    return Some(format!(
                        "text after the closing quote of field {}",
                        field_number(record, q, delimiter)
                    ));
                }
                _ => {
                    from = c + 1;
                    break;
                }
            }
        }
    }
    None
}

/// The 1-based number of the field that starts at `at` in `record`,
/// counting delimiters outside quoted fields.
fn field_number(record: &[u8], at: usize, delimiter: u8) -> usize {
    let (mut n, mut quoted) = (1, false);
    for (i, &b) in record[..at].iter().enumerate() {
        if b == b'"' && (quoted || i == 0 || record[i - 1] == delimiter) {
            quoted = !quoted;
        } else if b == delimiter && !quoted {
            n += 1;
        }
    }
    n
}
