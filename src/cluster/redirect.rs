//! The way back from the pipes to the router: a reply that redirects a
//! command (`MOVED`, `ASK`) or asks for it later (`TRYAGAIN`,
//! `CLUSTERDOWN`), and a master whose connection is gone.

use std::sync::Mutex;
use std::sync::mpsc::Sender;

use crate::pipe::{HandBack, SentCommand};

/// Commands a cluster node answered with a redirect, on their way back to
/// the router to be sent again: one command, or a whole transaction.
#[derive(Debug)]
pub(crate) struct Redirect {
    /// The pipe that received the redirect.
    pub from: usize,
    pub kind: RedirectKind,
    pub cmds: Vec<SentCommand>,
}

/// What a cluster node asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RedirectKind {
    /// `MOVED slot host:port`: the slot has a new owner.
    Moved { slot: u16, host: String, port: u16 },
    /// `ASK slot host:port`: this key is at the target, mid-migration.
    Ask { slot: u16, host: String, port: u16 },
    /// `TRYAGAIN` or `CLUSTERDOWN`: try again later; holds the error text.
    Retry(String),
    /// The connection to this master is gone, for this reason; what it
    /// had not acknowledged is there to take back.
    Lost(String),
}

impl RedirectKind {
    /// Reads a redirect out of an error reply's text.
    pub(crate) fn parse(text: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(text).ok()?;
        let mut words = text.split(' ');
        let kind = words.next()?;
        if kind == "TRYAGAIN" || kind == "CLUSTERDOWN" {
            return Some(RedirectKind::Retry(text.to_string()));
        }
        let slot = words.next()?.parse().ok()?;
        let (host, port) = words.next()?.rsplit_once(':')?;
        let (host, port) = (
            host.trim_matches(['[', ']']).to_string(),
            port.parse().ok()?,
        );
        match kind {
            "MOVED" => Some(RedirectKind::Moved { slot, host, port }),
            "ASK" => Some(RedirectKind::Ask { slot, host, port }),
            _ => None,
        }
    }
}

/// The router's inbox, as the pipes see it.
pub(crate) struct Inbox(pub Mutex<Sender<Redirect>>);

impl Inbox {
    fn send(&self, r: Redirect) {
        let tx = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = tx.send(r);
    }
}

impl HandBack for Inbox {
    fn wants_resend(&self, reply: &[u8]) -> bool {
        RedirectKind::parse(reply).is_some()
    }

    fn resend(&self, from: usize, reply: &[u8], cmds: Vec<SentCommand>) {
        if let Some(kind) = RedirectKind::parse(reply) {
            self.send(Redirect { from, kind, cmds });
        }
    }

    fn lost(&self, from: usize, reason: &str) -> bool {
        self.send(Redirect {
            from,
            kind: RedirectKind::Lost(reason.to_string()),
            cmds: Vec::new(),
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_redirects_out_of_error_replies() {
        assert_eq!(
            RedirectKind::parse(b"MOVED 3999 127.0.0.1:6381"),
            Some(RedirectKind::Moved {
                slot: 3999,
                host: "127.0.0.1".into(),
                port: 6381
            })
        );
        assert_eq!(
            RedirectKind::parse(b"ASK 12 [::1]:7000"),
            Some(RedirectKind::Ask {
                slot: 12,
                host: "::1".into(),
                port: 7000
            })
        );
        assert!(matches!(
            RedirectKind::parse(b"TRYAGAIN Multiple keys request during rehashing of slot"),
            Some(RedirectKind::Retry(_))
        ));
        assert!(matches!(
            RedirectKind::parse(b"CLUSTERDOWN The cluster is down"),
            Some(RedirectKind::Retry(_))
        ));
        assert_eq!(RedirectKind::parse(b"ERR wrong number of arguments"), None);
        assert_eq!(RedirectKind::parse(b"MOVED notaslot h:1"), None);
    }
}
