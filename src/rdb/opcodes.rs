//! The file's top level: the opcodes between keys, each key's start and
//! end, the checksum at the end, and the events lent out for them.

use std::io::Read;

use super::error::{At, RdbError};
use super::event::{Event, KeyEnd, KeyStart, Kind, ModuleType, Raw};
use super::plain::skip_module_value;
use super::value::Shown;
use super::{MODULE_RAW_LIMIT, Magic, RdbReader, State};

/// What [`RdbReader::advance`] found, to be lent out as an [`Event`].
pub(super) enum Ready {
    Aux,
    SelectDb,
    ResizeDb { keys: u64, expires: u64 },
    Function,
    ModuleAux { module: ModuleType, when: u64 },
    SlotInfo { slot: u64, keys: u64, expires: u64 },
    KeyStart,
    Piece(Shown),
    KeyEnd { raw: bool, stream: bool },
    End { checksum: Option<u64> },
}

impl<R: Read> RdbReader<R> {
    /// Reads what the next event needs.
    pub(super) fn advance(&mut self) -> Result<Option<Ready>, RdbError> {
        match self.state {
            State::Done => return Ok(None),
            State::Key => return self.value_step().map(Some),
            State::Top => {}
        }
        loop {
            let at = self.input.offset();
            let op = self.input.u8("an object type or opcode")?;
            let ready = match op {
                0xff => self.end()?,
                0xfe => {
                    self.db = self.input.len("a database number")?;
                    Ready::SelectDb
                }
                0xfd => {
                    let secs = self.input.u32_le("an expire time in seconds")? as i32;
                    self.expire = Some(i64::from(secs) * 1000);
                    continue;
                }
                0xfc => {
                    self.expire = Some(self.input.u64_le("an expire time")? as i64);
                    continue;
                }
                0xfb => Ready::ResizeDb {
                    keys: self.input.len("a database size")?,
                    expires: self.input.len("a database's expires size")?,
                },
                0xfa => self.strings(2, "an aux field").map(|()| Ready::Aux)?,
                0xf9 => {
                    self.freq = Some(self.input.u8("an LFU frequency")?);
                    continue;
                }
                0xf8 => {
                    self.idle = Some(self.input.len("an LRU idle time")?);
                    continue;
                }
                0xf7 => self.module_aux(at)?,
                0xf6 => {
                    return Err(RdbError::unsupported(
                        at,
                        "pre-release function library (Redis 7.0 RC1 and RC2 only)",
                    ));
                }
                0xf5 => self
                    .strings(1, "a function library")
                    .map(|()| Ready::Function)?,
                0xf4 => Ready::SlotInfo {
                    slot: self.input.len("a slot")?,
                    keys: self.input.len("a slot's size")?,
                    expires: self.input.len("a slot's expires size")?,
                },
                0xf3 if self.magic == Magic::Valkey => {
                    return Err(RdbError::unsupported(
                        at,
                        "Valkey slot import state (opcode 243)",
                    ));
                }
                t => self.key_start(at, t)?,
            };
            return Ok(Some(ready));
        }
    }

    /// Reads `n` strings into `out`.
    fn strings(&mut self, n: usize, what: &'static str) -> Result<(), RdbError> {
        self.out.clear();
        for _ in 0..n {
            self.input.string_into(&mut self.out.data, what)?;
            self.out.seal();
        }
        Ok(())
    }

    /// A module's aux data: its type, `when` (after a UINT opcode), then
    /// its serialized value, kept as it is.
    fn module_aux(&mut self, at: u64) -> Result<Ready, RdbError> {
        let module = ModuleType {
            id: self.input.len("a module type ID")?,
        };
        let opcode = self.input.len("a module aux when opcode")?;
        if opcode != 2 {
            return Err(RdbError::corrupt(
                at,
                "a module aux field's when (UINT opcode 2)",
                opcode,
            ));
        }
        let when = self.input.len("a module aux when")?;
        self.input.start_capture(MODULE_RAW_LIMIT);
        skip_module_value(&mut self.input)?;
        if !self.input.end_capture() {
            return Err(RdbError::unsupported(at, "module aux data over 512 MiB"));
        }
        Ok(Ready::ModuleAux { module, when })
    }

    /// A key of RDB object type `t`: its name, then the head of its value.
    fn key_start(&mut self, at: u64, t: u8) -> Result<Ready, RdbError> {
        let last = if self.magic == Magic::Valkey { 22 } else { 25 };
        if t == 8 || t > last {
            return Err(RdbError::Unknown {
                at: At {
                    offset: at,
                    keys: 0,
                },
                byte: t,
            });
        }
        self.key.clear();
        self.input.string_into(&mut self.key, "a key")?;
        let limit = if t == 7 {
            MODULE_RAW_LIMIT
        } else {
            self.raw_limit
        };
        if limit > 0 {
            self.input.start_capture(limit);
        }
        self.rtype = t;
        self.elements = 0;
        self.chunk = None;
        self.kind = self.begin_value(at, t)?;
        self.state = State::Key;
        Ok(Ready::KeyStart)
    }

    /// The end of the current key.
    pub(super) fn key_end(&mut self) -> Result<Ready, RdbError> {
        let raw = self.input.end_capture();
        if matches!(self.kind, Kind::Module(_)) && !raw {
            return Err(RdbError::unsupported(
                self.input.offset(),
                "module value over 512 MiB",
            ));
        }
        self.keys += 1;
        (self.expire, self.idle, self.freq) = (None, None, None);
        self.state = State::Top;
        Ok(Ready::KeyEnd {
            raw,
            stream: self.kind == Kind::Stream,
        })
    }

    /// The end of the file, and its checksum.
    fn end(&mut self) -> Result<Ready, RdbError> {
        let computed = self.input.crc();
        self.state = State::Done;
        let Some(computed) = computed else {
            return Ok(Ready::End { checksum: None });
        };
        let at = self.input.offset();
        let stored = self.input.u64_le("the checksum")?;
        if stored != 0 && stored != computed {
            return Err(RdbError::Checksum {
                at: At {
                    offset: at,
                    keys: 0,
                },
                stored,
                computed,
            });
        }
        Ok(Ready::End {
            checksum: (stored != 0).then_some(stored),
        })
    }

    /// Lends out what `ready` says was read.
    pub(super) fn event(&self, ready: Ready) -> Event<'_> {
        match ready {
            Ready::Aux => {
                let v = self.out.view(0..2);
                Event::Aux {
                    key: v.get(0),
                    value: v.get(1),
                }
            }
            Ready::SelectDb => Event::SelectDb(self.db),
            Ready::ResizeDb { keys, expires } => Event::ResizeDb { keys, expires },
            Ready::Function => Event::Function {
                code: self.out.view(0..1).get(0),
            },
            Ready::ModuleAux { module, when } => Event::ModuleAux {
                module,
                when,
                data: self.input.captured(),
            },
            Ready::SlotInfo {
                slot,
                keys,
                expires,
            } => Event::SlotInfo {
                slot,
                keys,
                expires,
            },
            Ready::KeyStart => Event::KeyStart(KeyStart {
                db: self.db,
                key: &self.key,
                kind: self.kind,
                encoding: self.rtype,
                expire_at_ms: self.expire,
                idle: self.idle,
                freq: self.freq,
            }),
            Ready::Piece(shown) => Event::Piece(self.piece(shown)),
            Ready::KeyEnd { raw, stream } => Event::KeyEnd(KeyEnd {
                elements: self.elements,
                stream: stream.then_some(&self.meta),
                raw: raw.then(|| Raw {
                    encoding: self.rtype,
                    value: self.input.captured(),
                }),
            }),
            Ready::End { checksum } => Event::End { checksum },
        }
    }
}

/// Whether `prefix` (the first 9 bytes or more of an input) is an RDB
/// header this reader takes: `REDIS` and 4 digits, or `VALKEY` and 3.
pub fn is_rdb_header(prefix: &[u8]) -> bool {
    prefix.len() >= 9 && header_version(&prefix[..9]).is_ok()
}

/// The magic and version of a 9-byte header: `REDIS` and 4 digits, or
/// `VALKEY` and 3.
pub(super) fn header_version(header: &[u8]) -> Result<(Magic, u32), RdbError> {
    let digits = |d: &[u8]| -> Option<u32> {
        d.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let not_rdb = || RdbError::NotRdb {
        found: String::from_utf8_lossy(header).into_owned(),
    };
    let (magic, version) = if let Some(d) = header.strip_prefix(b"REDIS") {
        (Magic::Redis, digits(d).ok_or_else(not_rdb)?)
    } else if let Some(d) = header.strip_prefix(b"VALKEY") {
        (Magic::Valkey, digits(d).ok_or_else(not_rdb)?)
    } else {
        return Err(not_rdb());
    };
    let known = match magic {
        Magic::Redis => (1..=12).contains(&version),
        Magic::Valkey => version == 80,
    };
    if !known {
        return Err(RdbError::Version {
            magic: if magic == Magic::Redis {
                "REDIS"
            } else {
                "VALKEY"
            },
            version,
        });
    }
    Ok((magic, version))
}
