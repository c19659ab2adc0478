//! What the pipe's threads send the writer: chunks from the producer, the
//! reader's exit, and the producer's requests. Kept apart so the reader and
//! the writer each depend on it, not on each other.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

use super::chunk::{Chunk, SentCommand};
use super::shared::PipeStop;
use super::window::Window;

/// How the reader stopped: `None` when the closing ECHO came back (every
/// reply is in), else why not (the connection broke, and a new one may
/// carry on; or the reply stream cannot be trusted).
pub(crate) type ReaderEnd = Option<PipeStop>;

/// What the reader hands back to the writer when it stops.
pub(crate) struct ReaderExit {
    pub window: Window,
    /// Chunks the writer sent that the reader had not taken yet.
    pub chunks: Receiver<Arc<Chunk>>,
    pub end: ReaderEnd,
}

/// Messages to the writer, from the producer and from the reader.
pub(crate) enum WriterMsg {
    /// A full chunk to send.
    Chunk(Chunk),
    /// The reader stopped.
    ReaderExit(Box<ReaderExit>),
    /// The producer is done: give the account once the reader has stopped.
    Finish,
    /// The router takes back an orphaned pipe's unacknowledged commands.
    HandBack(Sender<Option<Vec<SentCommand>>>),
}
