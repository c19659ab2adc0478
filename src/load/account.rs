//! The account of a load: the pipes' counts and commit points, what the
//! sink settled itself, and what the feeder sent, made into one
//! [`Summary`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Fed, Feeder};
use crate::input::{InputError, InvalidKind, Location};
use crate::pipe::PipeStop;
use crate::report::{Acknowledged, NodeSummary, Stop, Summary};
use crate::sink::Finished;

/// Sums the counts, reports the first stop (a pipe's before the feeder's;
/// a signal's when the drain it cut short is the cause), and puts the
/// resume point before the oldest command any pipe, or the sink, left
/// unacknowledged.
pub(super) fn summarize(
    finished: Finished,
    fed: Fed,
    feeder: &Feeder,
    elapsed: Duration,
) -> Summary {
    let Finished {
        pipes,
        closed,
        local,
    } = finished;
    let pipe_stop = pipes.iter().find_map(|(shared, o)| {
        let addr = shared.addr.clone();
        match o.stop.clone()? {
            PipeStop::Timeout(t) => Some(Stop::Timeout(t)),
            PipeStop::Lost(reason) => Some(Stop::ConnectionLost { addr, reason }),
            PipeStop::Protocol(reason) => Some(Stop::Protocol { addr, reason }),
            PipeStop::Interrupted => None,
        }
    });
    let undrained = pipes
        .iter()
        .any(|(_, o)| o.stop == Some(PipeStop::Interrupted));
    let interrupted = feeder
        .interrupt
        .requested()
        .filter(|_| undrained || matches!(fed.stop, Some(Stop::Interrupted { .. })))
        .map(|signal| Stop::Interrupted {
            signal,
            drained: !undrained,
        });
    // The transaction the load stopped inside was none if the server
    // refused its MULTI (an ACL without it): its commands ran one by one.
    let multi_refused = feeder.discarded.is_some_and(|block| {
        pipes
            .iter()
            .any(|(_, o)| o.refused_multi == Some(block.seq))
    });
    let fed_stop = match fed.stop {
        Some(Stop::Input(InputError::Invalid {
            kind: InvalidKind::OpenTransaction,
            ..
        })) if multi_refused => None,
        stop => stop,
    };
    let all_read = fed.all_read || (multi_refused && fed.input_ended);
    let stop = pipe_stop.or(interrupted).or(fed_stop).or(local.failure);
    let timeouts = u64::from(matches!(stop, Some(Stop::Timeout(_))));
    let first_pending = pipes
        .iter()
        .filter_map(|(_, o)| o.first_pending.map(|m| m.seq))
        .chain(local.pending)
        .min();
    let last = pipes
        .iter()
        .filter_map(|(_, o)| o.commit.last)
        .chain(local.last)
        .max_by_key(|m| m.seq)
        .map(|m| Acknowledged {
            seq: m.seq,
            at: Location::new(&feeder.names, m.position()),
        });
    let nodes = if pipes.len() > 1 || local.errors > 0 {
        pipes
            .iter()
            .map(|(s, o)| NodeSummary {
                addr: s.addr.clone(),
                replies: o.replies,
                errors: o.errors,
                redirects: s.handed_back.load(Ordering::Relaxed),
            })
            .collect()
    } else {
        Vec::new()
    };
    let done = feeder.done_through(multi_refused);
    Summary {
        replies: pipes.iter().map(|(_, o)| o.replies).sum::<u64>() + local.replies,
        errors: pipes.iter().map(|(_, o)| o.errors).sum::<u64>()
            + timeouts
            + feeder.invalid
            + local.errors,
        invalid: feeder.invalid,
        acknowledged: pipes.iter().map(|(_, o)| o.commit.count).sum::<u64>() + local.acknowledged,
        last_acknowledged: last,
        resume_from: first_pending.map_or(done, |seq| (seq - 1).min(done)),
        discarded: feeder
            .discarded
            .filter(|_| !multi_refused)
            .map(|block| Location::new(&feeder.names, block.pos)),
        all_sent: all_read && closed,
        stop,
        nodes,
        elapsed,
        emitted: feeder.emit,
        sent: feeder.sent(),
        empty_spreads: 0,
    }
}
