//! `--wait SECS`: the first connection keeps trying while the server is
//! not up yet, so a load started beside the server (a CI job, a container)
//! does not fail for being early. It waits while the connection is refused,
//! reset or closed before any answer, while the server loads its dataset
//! (`LOADING`), and, for a cluster, until `CLUSTER INFO` says
//! `cluster_state:ok`; it says once what it waits for, and after SECS gives
//! the error the last attempt met.
//!
//! One [`Patience`] serves a whole start (a cluster's seed and then each
//! master), so SECS bounds the start, not each connection.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Connection, connect, connect_with};
use crate::config::ServerConfig;
use crate::error::ConnectError;
use crate::interrupt::Interrupt;
use crate::report::Events;

/// How long to pause between attempts: short, since a server that starts
/// up is ready within a moment, and an attempt costs a connection.
const RETRY: Duration = Duration::from_millis(100);

/// What a server loading its dataset is waited for.
pub(super) const LOADING: &str = "loading its dataset";

/// How long a start may wait for servers, and whom it tells.
#[derive(Clone)]
pub(crate) struct Patience {
    /// The wait asked for; `None` tries once.
    wait: Option<Duration>,
    deadline: Option<Instant>,
    interrupt: Interrupt,
    events: Arc<dyn Events>,
    /// Whether the wait was announced: it is, once.
    announced: Arc<AtomicBool>,
}

impl Patience {
    /// Waits of up to `wait` from now (`None`: no wait), cut short by
    /// `interrupt`, announced to `events`.
    pub(crate) fn new(
        wait: Option<Duration>,
        interrupt: &Interrupt,
        events: Arc<dyn Events>,
    ) -> Self {
        Patience {
            wait,
            deadline: wait.map(|w| Instant::now() + w),
            interrupt: interrupt.clone(),
            events,
            announced: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Tells the user `text`, as a wait is told.
    pub(crate) fn notice(&self, text: &str) {
        self.events.notice(text);
    }

    /// Whether to try `addr` again, which is not ready because of `why`:
    /// after a pause, if the wait has time left and no signal asked to
    /// stop. The first wait is announced.
    pub(super) fn keep_waiting(&self, addr: &str, why: &str) -> bool {
        let (Some(wait), Some(deadline)) = (self.wait, self.deadline) else {
            return false;
        };
        if Instant::now() + RETRY > deadline || self.interrupt.requested().is_some() {
            return false;
        }
        if !self.announced.swap(true, Ordering::Relaxed) {
            self.events.notice(&format!(
                "waiting up to {} s for {addr} ({why})",
                wait.as_secs_f64()
            ));
        }
        std::thread::sleep(RETRY);
        self.interrupt.requested().is_none()
    }
}

/// Connects as [`connect`] does, waiting as `patience` allows for a server
/// that is not up yet.
///
/// # Errors
///
/// What the last attempt met, once the wait is over.
pub(crate) fn connect_waiting(
    cfg: &ServerConfig,
    patience: &Patience,
) -> Result<Connection, ConnectError> {
    connect_when_ready(cfg, patience, |_| Ok(None))
}

/// [`connect_waiting`], then, with a wait, asks `ready` on the connection
/// until it finds nothing missing (`None`) or the wait is over; `Some`
/// names what is missing.
///
/// # Errors
///
/// What the last attempt met, or [`ConnectError::NotReady`] with what
/// `ready` last found missing.
pub(crate) fn connect_when_ready(
    cfg: &ServerConfig,
    patience: &Patience,
    mut ready: impl FnMut(&mut Connection) -> Result<Option<String>, ConnectError>,
) -> Result<Connection, ConnectError> {
    let Some(wait) = patience.wait else {
        return connect(cfg);
    };
    let addr = cfg.addr();
    let mut conn = loop {
        match connect_with(cfg, Some(patience)) {
            Ok(conn) => break conn,
            Err(e) => match retryable(&e) {
                Some(why) if patience.keep_waiting(&addr, why) => {}
                _ => return Err(e),
            },
        }
    };
    loop {
        match ready(&mut conn)? {
            None => return Ok(conn),
            Some(why) if patience.keep_waiting(&addr, &why) => {}
            Some(why) => {
                return Err(ConnectError::NotReady {
                    addr,
                    why,
                    waited: wait,
                });
            }
        }
    }
}

/// What a failed attempt waits for, if trying again may cure it: a server
/// not listening yet (or a proxy in front of one, which closes or resets
/// the connection), or one loading its dataset.
fn retryable(e: &ConnectError) -> Option<&'static str> {
    match e {
        ConnectError::Io { source, .. } => match source.kind() {
            io::ErrorKind::ConnectionRefused => Some("connection refused"),
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                Some("connection reset")
            }
            io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => Some("connection closed"),
            io::ErrorKind::NotFound => Some("no socket there yet"),
            _ => None,
        },
        ConnectError::ResetUnanswered { .. } => Some("connection reset"),
        ConnectError::ClosedUnanswered { .. } => Some("connection closed"),
        ConnectError::Setup { reply, .. } if reply.starts_with("LOADING") => Some(LOADING),
        _ => None,
    }
}

/// Whether a cluster node says its cluster is whole (`cluster_state:ok`):
/// `None` if so, or if it cannot say (an ACL without `CLUSTER INFO`, a
/// server not in cluster mode, whose error the caller meets next);
/// otherwise the state it reports.
///
/// # Errors
///
/// The connection failed.
pub(crate) fn cluster_state(conn: &mut Connection) -> Result<Option<String>, ConnectError> {
    let reply = conn.call("CLUSTER INFO", &[b"CLUSTER", b"INFO"])?;
    let Some(info) = reply.as_bytes().filter(|_| reply.error().is_none()) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(info);
    let state = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("cluster_state:"))
        .map(str::to_string);
    Ok(state
        .filter(|s| s != "ok")
        .map(|s| format!("cluster_state:{s}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_reset_closed_and_loading_are_waited_for_and_the_rest_not() {
        let io = |kind| ConnectError::io("h:1", io::Error::from(kind));
        assert_eq!(
            retryable(&io(io::ErrorKind::ConnectionRefused)),
            Some("connection refused")
        );
        assert_eq!(
            retryable(&io(io::ErrorKind::NotFound)),
            Some("no socket there yet")
        );
        assert_eq!(retryable(&io(io::ErrorKind::TimedOut)), None);
        let loading = ConnectError::Setup {
            addr: "h:1".into(),
            command: "PING",
            reply: "LOADING Redis is loading the dataset in memory".into(),
        };
        assert_eq!(retryable(&loading), Some(LOADING));
        let auth = ConnectError::Auth {
            addr: "h:1".into(),
            reply: "WRONGPASS".into(),
        };
        assert_eq!(retryable(&auth), None);
        let not_redis = ConnectError::NotRedis {
            addr: "h:1".into(),
            sent: "HTTP".into(),
        };
        assert_eq!(retryable(&not_redis), None);
    }

    #[test]
    fn without_a_wait_nothing_is_tried_again() {
        let p = Patience::new(None, &Interrupt::new(), Arc::new(crate::report::Terminal));
        let started = Instant::now();
        assert!(!p.keep_waiting("h:1", "connection refused"));
        assert!(started.elapsed() < RETRY);
    }

    #[test]
    fn a_signal_ends_the_wait() {
        let interrupt = Interrupt::new();
        let p = Patience::new(
            Some(Duration::from_secs(60)),
            &interrupt,
            Arc::new(crate::report::Terminal),
        );
        interrupt.request(2);
        assert!(!p.keep_waiting("h:1", "connection refused"));
    }
}
