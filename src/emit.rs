//! `--emit`: the load's commands written to standard output rather than
//! sent to a server, a sink like any other, so every input format,
//! `--skip-invalid` and `--resume-from` work the same. As RESP (the
//! default) or as inline lines (`--output-format inline`, readable, quoted
//! with redis-cli's rules); either loads with `rload --pipe` or
//! `redis-cli --pipe` (an inline line up to the server's 64 KiB).

use std::io::{self, BufWriter, Stdout, Write};

use crate::command::{CmdMeta, Stopped, Watch};
use crate::input::{ArgBuf, Command, frame_args};
use crate::report::Stop;
use crate::resp::{encode_command, encode_inline};
use crate::sink::{Closing, Finished, LocalAccount, Sink};

/// How `--emit` writes the commands (`--output-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EmitFormat {
    /// RESP, as `rload --pipe` and `redis-cli --pipe` load it.
    #[default]
    Resp,
    /// Inline lines, quoted as redis-cli reads them: readable, and loadable
    /// too.
    Inline,
}

/// Writes each command, encoded, to standard output.
pub(crate) struct Emit {
    format: EmitFormat,
    out: BufWriter<Stdout>,
    /// Scratch for encoding one command.
    buf: Vec<u8>,
    /// Input commands written, and the last of them.
    written: u64,
    last: Option<CmdMeta>,
    failure: Option<Stop>,
}

impl Emit {
    pub(crate) fn new(format: EmitFormat) -> Self {
        Emit {
            format,
            out: BufWriter::with_capacity(256 * 1024, io::stdout()),
            buf: Vec::new(),
            written: 0,
            last: None,
            failure: None,
        }
    }

    fn write(&mut self, bytes: &[u8], meta: CmdMeta) -> Result<(), Stopped> {
        if let Err(e) = self.out.write_all(bytes) {
            return Err(self.fail(e));
        }
        self.written += u64::from(meta.count);
        if !meta.is_own() {
            self.last = Some(meta);
        }
        Ok(())
    }

    /// Writes `args` as one inline line.
    fn write_inline<'a>(
        &mut self,
        args: impl Iterator<Item = &'a [u8]>,
        meta: CmdMeta,
    ) -> Result<(), Stopped> {
        let args: Vec<&[u8]> = args.collect();
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        encode_inline(&mut buf, &args);
        let written = self.write(&buf, meta);
        self.buf = buf;
        written
    }

    /// Writes a command rload encoded as RESP, as the format says.
    fn write_encoded(&mut self, bytes: &[u8], meta: CmdMeta) -> Result<(), Stopped> {
        if self.format == EmitFormat::Resp {
            return self.write(bytes, meta);
        }
        let mut spans = ArgBuf::default();
        let args = frame_args(bytes, &mut spans).expect("rload encoded one whole command");
        self.write_inline(args.iter(), meta)
    }

    fn fail(&mut self, e: io::Error) -> Stopped {
        self.failure.get_or_insert(Stop::OutputLost {
            reason: e.to_string(),
        });
        Stopped
    }
}

impl Sink for Emit {
    fn push(
        &mut self,
        cmd: &Command<'_>,
        meta: CmdMeta,
        _watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        if self.format == EmitFormat::Inline {
            return self.write_inline(cmd.args.iter(), meta);
        }
        if let Some(frame) = cmd.resp {
            return self.write(frame, meta);
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        encode_command(&mut buf, &cmd.args);
        let written = self.write(&buf, meta);
        self.buf = buf;
        written
    }

    fn push_owned(
        &mut self,
        bytes: Vec<u8>,
        meta: CmdMeta,
        _watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        self.write_encoded(&bytes, meta)
    }

    fn push_span(
        &mut self,
        bytes: &[u8],
        meta: CmdMeta,
        covered: &[CmdMeta],
    ) -> Result<(), Stopped> {
        self.write_encoded(bytes, meta)?;
        self.last = covered.last().copied().or(self.last);
        Ok(())
    }

    /// Written out, so what reads the output discards it too.
    fn abandon_transaction(&mut self, multi: CmdMeta) -> Result<(), Stopped> {
        let mut discard = Vec::new();
        encode_command(&mut discard, &[&b"DISCARD"[..]][..]);
        self.write_encoded(&discard, CmdMeta::own(Some(&multi)))
    }

    fn flush(&mut self) -> Result<(), Stopped> {
        self.out.flush().map_err(|e| self.fail(e))
    }

    fn errors(&self) -> u64 {
        0
    }

    fn finish(mut self: Box<Self>, _closing: Closing) -> Finished {
        let flushed = self.flush().is_ok();
        Finished {
            pipes: Vec::new(),
            closed: flushed,
            local: LocalAccount {
                acknowledged: self.written,
                last: self.last,
                failure: self.failure.take(),
                ..LocalAccount::default()
            },
        }
    }
}
