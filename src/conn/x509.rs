//! The few fields of an X.509 certificate that rload reads itself: its
//! validity period, its public key, and the host names and addresses in
//! its subjectAltName.
//!
//! webpki, which verifies certificates for rustls, reads only version 3
//! certificates and keeps these fields to itself. rload needs them to take
//! a version 1 client certificate (still what `openssl x509 -req` makes
//! without extensions) and check that the key goes with it, to check the
//! dates of a self-signed server certificate trusted as it is, and to say
//! which names a certificate is valid for. Nothing is trusted because of
//! this reader: a certificate it cannot read gets rustls's checks and
//! messages, unchanged.

use std::net::IpAddr;

/// DER tags, as they appear in a certificate.
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const SEQUENCE: u8 = 0x30;
/// `[0] EXPLICIT Version` and `[3] EXPLICIT Extensions` in TBSCertificate.
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;
/// `dNSName [2] IA5String` and `iPAddress [7] OCTET STRING` in GeneralName.
const DNS_NAME: u8 = 0x82;
const IP_ADDRESS: u8 = 0x87;
/// The subjectAltName extension's OID, 2.5.29.17, as DER contents.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// What rload reads from a certificate.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Certificate<'a> {
    /// Valid from, in seconds since the Unix epoch.
    pub(crate) not_before: i64,
    /// Valid until, in seconds since the Unix epoch.
    pub(crate) not_after: i64,
    /// The whole SubjectPublicKeyInfo, in DER: tag and length included.
    pub(crate) public_key_info: &'a [u8],
    /// The subjectAltName's host names and addresses, as OpenSSL prints
    /// them (`DNS:localhost`, `IP:127.0.0.1`); `None` if the certificate
    /// has no subjectAltName.
    pub(crate) alt_names: Option<Vec<String>>,
}

impl<'a> Certificate<'a> {
    /// Reads `der`, a certificate of any X.509 version; `None` if it is
    /// not one.
    pub(crate) fn parse(der: &'a [u8]) -> Option<Self> {
        // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
        let mut cert = Reader(Reader(der).expect(SEQUENCE)?);
        // TBSCertificate ::= SEQUENCE { [0] version OPTIONAL (absent in v1),
        //   serialNumber, signature, issuer, validity, subject,
        //   subjectPublicKeyInfo, [1] [2] unique IDs OPTIONAL, [3] extensions OPTIONAL }
        let mut tbs = Reader(cert.expect(SEQUENCE)?);
        if tbs.peek() == Some(VERSION) {
            tbs.next()?;
        }
        tbs.expect(INTEGER)?;
        tbs.expect(SEQUENCE)?;
        tbs.expect(SEQUENCE)?;
        let (not_before, not_after) = validity(tbs.expect(SEQUENCE)?)?;
        tbs.expect(SEQUENCE)?;
        let (tag, _, public_key_info) = tbs.next()?;
        if tag != SEQUENCE {
            return None;
        }
        let mut alt_names = None;
        while let Some((tag, contents, _)) = tbs.next() {
            if tag == EXTENSIONS {
                alt_names = match find_alt_names(contents)? {
                    Some(names) => Some(host_names(names)?),
                    None => None,
                };
            }
        }
        Some(Certificate {
            not_before,
            not_after,
            public_key_info,
            alt_names,
        })
    }
}

/// `Validity ::= SEQUENCE { notBefore Time, notAfter Time }`.
fn validity(contents: &[u8]) -> Option<(i64, i64)> {
    let mut r = Reader(contents);
    let (tag, from, _) = r.next()?;
    let not_before = time(tag, from)?;
    let (tag, until, _) = r.next()?;
    Some((not_before, time(tag, until)?))
}

/// The contents of the subjectAltName extension (a GeneralNames
/// SEQUENCE) among `Extensions ::= SEQUENCE OF Extension`: `Some(None)`
/// if there is none, `None` if the extensions cannot be read.
fn find_alt_names(extensions: &[u8]) -> Option<Option<&[u8]>> {
    let mut list = Reader(Reader(extensions).expect(SEQUENCE)?);
    while let Some((tag, extension, _)) = list.next() {
        if tag != SEQUENCE {
            return None;
        }
        // Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
        let mut ext = Reader(extension);
        if ext.expect(OID)? != SUBJECT_ALT_NAME {
            continue;
        }
        if ext.peek() == Some(BOOLEAN) {
            ext.next()?;
        }
        let value = ext.expect(OCTET_STRING)?;
        return Some(Some(Reader(value).expect(SEQUENCE)?));
    }
    Some(None)
}

/// The DNS names and IP addresses among GeneralNames; other kinds (email,
/// URI, directory names) name no host, and are left out.
fn host_names(general_names: &[u8]) -> Option<Vec<String>> {
    let mut r = Reader(general_names);
    let mut names = Vec::new();
    while let Some((tag, contents, _)) = r.next() {
        match tag {
            DNS_NAME => names.push(format!("DNS:{}", String::from_utf8_lossy(contents))),
            IP_ADDRESS => names.push(format!("IP:{}", ip_address(contents)?)),
            _ => {}
        }
    }
    Some(names)
}

fn ip_address(octets: &[u8]) -> Option<IpAddr> {
    match octets.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(octets).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(octets).ok()?)),
        _ => None,
    }
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950 to 2049) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`), as DER requires them, in seconds since the epoch.
fn time(tag: u8, contents: &[u8]) -> Option<i64> {
    let digits = contents.strip_suffix(b"Z")?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |d: &[u8]| d.iter().fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => match num(&digits[..2]) {
            yy @ 50.. => (1900 + yy, &digits[2..]),
            yy => (2000 + yy, &digits[2..]),
        },
        (GENERALIZED_TIME, 14) => (num(&digits[..4]), &digits[4..]),
        _ => return None,
    };
    let [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map(|i| num(&rest[i..i + 2]));
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Reads DER elements off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// The next element's tag, contents, and whole encoding; `None` at the
    /// end or on a malformed element. The length is `0x00..=0x7f`, or
    /// `0x8N` followed by N bytes of length (at most 4 here).
    fn next(&mut self) -> Option<(u8, &'a [u8], &'a [u8])> {
        let [tag, first, rest @ ..] = self.0 else {
            return None;
        };
        if tag & 0x1f == 0x1f {
            return None; // a multi-byte tag: none occurs where rload reads
        }
        let (len, rest) = match *first {
            short @ 0..0x80 => (usize::from(short), rest),
            long => {
                let n = usize::from(long & 0x7f);
                if n == 0 || n > 4 || rest.len() < n {
                    return None;
                }
                let len = rest[..n].iter().fold(0, |l, &b| l << 8 | usize::from(b));
                (len, &rest[n..])
            }
        };
        if rest.len() < len {
            return None;
        }
        let header = self.0.len() - rest.len();
        let whole = &self.0[..header + len];
        self.0 = &rest[len..];
        Some((*tag, &rest[..len], whole))
    }

    /// The contents of the next element, if it has tag `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (t, contents, _) = self.next()?;
        (t == tag).then_some(contents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, PublicKeyData, date_time_ymd};

    fn make(names: Vec<String>) -> (Vec<u8>, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.not_before = date_time_ymd(2024, 2, 29);
        params.not_after = date_time_ymd(2051, 1, 1);
        (params.self_signed(&key).unwrap().der().to_vec(), key)
    }

    #[test]
    fn reads_names_dates_and_the_public_key() {
        let (der, key) = make(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]);
        let cert = Certificate::parse(&der).unwrap();
        assert_eq!(
            cert.alt_names.unwrap(),
            ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]
        );
        // 2024-02-29 as UTCTime, 2051-01-01 as GeneralizedTime.
        assert_eq!(cert.not_before, 1_709_164_800);
        assert_eq!(cert.not_after, 2_556_144_000);
        assert_eq!(cert.public_key_info, key.subject_public_key_info());
    }

    #[test]
    fn tells_no_alt_names_from_an_empty_list() {
        let (der, _) = make(Vec::new());
        assert_eq!(Certificate::parse(&der).unwrap().alt_names, None);
    }

    #[test]
    fn rejects_every_truncation_without_panicking() {
        let (der, _) = make(vec!["localhost".into()]);
        for n in 0..der.len() {
            assert_eq!(Certificate::parse(&der[..n]), None, "{n} bytes");
        }
    }

    #[test]
    fn converts_dates_around_the_epoch_and_leap_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(time(UTC_TIME, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(time(UTC_TIME, b"500101000000Z"), Some(-631_152_000));
        assert_eq!(time(UTC_TIME, b"241301000000Z"), None);
        assert_eq!(time(UTC_TIME, b"+40101000000Z"), None);
        assert_eq!(time(GENERALIZED_TIME, b"20240101000000"), None);
    }
}
