//! Writing one `SCAN` page of keys, the step both drivers (one server, a
//! cluster) repeat: read the page, write each key, retry what a transient
//! error cut short, and report keys whose slot moved. The caller's cursor
//! stays before the page until every key of it is written.

use super::KeyOutcome;
use super::link::{Class, Fault, Retry};
use super::payload::Payload;
use super::read::{Found, KeyReader};
use super::summary::DumpSummary;
use super::write::Output;
use super::{DumpFormat, DumpOptions};
use crate::interrupt::Interrupt;
use crate::meter::Meter;
use crate::rate::Bucket;
use crate::report::Events;

/// Times a key replaced by one of another type is read again before it is
/// left out.
const REPLACED_TRIES: u32 = 3;

/// What the drivers share: where keys go, and the account.
pub(crate) struct Pager<'a> {
    pub output: &'a mut dyn Output,
    pub options: &'a DumpOptions,
    pub events: &'a dyn Events,
    pub interrupt: Interrupt,
    pub meter: Meter,
    pub retry: Retry,
    pub summary: DumpSummary,
    /// `--rate`: what holds the keys back.
    pub bucket: Option<Bucket>,
    /// Keys asked of `SCAN` per page: fewer under a low `--rate`, so that
    /// pages come smoothly.
    pub page_size: usize,
}

/// Where a page stands.
#[derive(Default)]
pub(crate) struct PageState {
    /// Keys of the page dealt with (written, skipped, or moved).
    pub done: usize,
    /// Of those, keys written whole.
    pub written: u64,
    /// Slots of keys that answered with a redirect.
    pub moved: Vec<u16>,
    /// Times the current key was found replaced by another type.
    replaced: u32,
}

impl Pager<'_> {
    /// Writes `keys` from `state.done` on, retrying transient errors.
    pub(crate) fn page(
        &mut self,
        reader: &mut KeyReader,
        keys: &[Vec<u8>],
        state: &mut PageState,
    ) -> Result<(), Fault> {
        self.wait_for_rate(keys.len() - state.done)?;
        while state.done < keys.len() {
            let before = state.done;
            let result = self.try_page(reader, keys, state);
            self.say(reader);
            if state.done > before {
                // Errors that come and go while keys get written are not
                // one long outage: the bound counts from the last progress.
                self.retry.reset();
            }
            match result {
                Ok(()) => {}
                Err(Fault::Reply(e)) if e.class() == Class::Transient => {
                    self.retry.pause(e, &self.interrupt)?;
                }
                Err(Fault::Reply(e)) if matches!(e.class(), Class::Redirect(_)) => {
                    // A window of a big key, redirected: the key is read
                    // again where its slot went.
                    let Class::Redirect(slot) = e.class() else {
                        unreachable!()
                    };
                    state.moved.push(slot);
                    state.done += 1;
                }
                Err(f) => return Err(f),
            }
        }
        Ok(())
    }

    fn wait_for_rate(&mut self, keys: usize) -> Result<(), Fault> {
        let Some(bucket) = &mut self.bucket else {
            return Ok(());
        };
        let output = &mut self.output;
        if !bucket.wait(keys as u64, &self.interrupt, || {
            let _ = output.flush();
        }) && let Some(signal) = self.interrupt.requested()
        {
            return Err(Fault::Interrupted(signal));
        }
        Ok(())
    }

    /// Passes on what the reader had to give up, once each, and counts
    /// the keys it read again.
    fn say(&mut self, reader: &mut KeyReader) {
        for notice in reader.notices.drain(..) {
            self.events.notice(&notice);
        }
        self.summary.changed += std::mem::take(&mut reader.changed);
    }

    fn try_page(
        &mut self,
        reader: &mut KeyReader,
        keys: &[Vec<u8>],
        state: &mut PageState,
    ) -> Result<(), Fault> {
        let rest = &keys[state.done..];
        if self.options.format == DumpFormat::Restore {
            for (key, found) in rest.iter().zip(reader.payloads(rest)?) {
                match found {
                    Payload::Found(payload, at) => {
                        self.output.payload(key, &payload, at)?;
                        self.written(state);
                    }
                    Payload::Moved(slot) => state.moved.push(slot),
                    Payload::Gone => {}
                }
                state.done += 1;
            }
            return Ok(());
        }
        let found = reader.page(rest, &self.options.types)?;
        for (key, found) in rest.iter().zip(found) {
            if let Some(interrupt) = self.interrupt.requested() {
                return Err(Fault::Interrupted(interrupt));
            }
            match found {
                Found::Skip => {}
                Found::Moved(slot) => state.moved.push(slot),
                Found::Unknown(t) => {
                    self.summary.skipped += 1;
                    self.events.notice(&format!(
                        "{} is of type {t}, which only --format restore can dump: skipped",
                        String::from_utf8_lossy(key)
                    ));
                }
                Found::Key {
                    kind,
                    expire_at,
                    value: Some(v),
                    field_expiry,
                } => {
                    reader.write_small(self.output, key, kind, v, expire_at, field_expiry)?;
                    self.written(state);
                }
                Found::Key {
                    kind, value: None, ..
                } => match reader.write_big(self.output, key, kind)? {
                    KeyOutcome::Whole => self.written(state),
                    KeyOutcome::Vanished => self.summary.vanished += 1,
                    KeyOutcome::Changed => {
                        self.summary.changed += 1;
                        state.replaced += 1;
                        if state.replaced < REPLACED_TRIES {
                            // Read it again from the top, as what it is now.
                            return Ok(());
                        }
                        self.events.notice(&format!(
                            "{} was replaced by a key of another type each time it was read: left out",
                            String::from_utf8_lossy(key)
                        ));
                    }
                },
            }
            state.replaced = 0;
            state.done += 1;
        }
        Ok(())
    }

    fn written(&mut self, state: &mut PageState) {
        state.written += 1;
        self.meter.add_commands(1);
    }
}
