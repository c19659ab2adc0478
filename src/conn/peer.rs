//! What the peer at the address is, when its first answer is not Redis's:
//! something that speaks another protocol (an HTTP server, NATS,
//! PostgreSQL), or a TLS port reached without `--tls`. The first failure of
//! a connection's setup is explained here, showing what the peer sent.

use std::io;

use super::Connection;
use crate::error::ConnectError;
use crate::slot::SLOTS;

/// The most of what a peer sent that a message shows.
const SHOWN: usize = 60;

/// The explanation of a failure to read the connection's first reply, if
/// it says something about the peer: bytes that are not RESP (`received`,
/// what the peer sent), a reset, or a close before any answer. `tls`:
/// the connection is under TLS already, so a reset says nothing of it.
pub(super) fn first_reply_failure(
    addr: &str,
    e: &io::Error,
    received: &[u8],
    tls: bool,
) -> Option<ConnectError> {
    let addr = addr.to_string();
    match e.kind() {
        io::ErrorKind::InvalidData => Some(ConnectError::NotRedis {
            addr,
            sent: printable(received),
        }),
        // Bytes that began a reply the peer never finished.
        io::ErrorKind::UnexpectedEof if !received.is_empty() => Some(ConnectError::NotRedis {
            addr,
            sent: printable(received),
        }),
        io::ErrorKind::UnexpectedEof => Some(ConnectError::ClosedUnanswered { addr }),
        io::ErrorKind::ConnectionReset if !tls => Some(ConnectError::ResetUnanswered { addr }),
        _ => None,
    }
}

impl Connection {
    /// Whether the server is a node of a Redis Cluster that holds only part
    /// of its keys (`cluster_enabled:1` in `INFO cluster`, and fewer than
    /// all slots its own in `CLUSTER NODES`), so that a load of it alone
    /// meets `MOVED`; false when it cannot say (an ACL without `INFO`).
    ///
    /// # Errors
    ///
    /// The connection failed.
    pub(crate) fn partial_cluster_node(&mut self) -> Result<bool, ConnectError> {
        let Some(info) = self.text("INFO", &[b"INFO", b"cluster"])? else {
            return Ok(false);
        };
        if !info.lines().any(|l| l.trim() == "cluster_enabled:1") {
            return Ok(false);
        }
        // A cluster of one master that owns every slot is loaded whole.
        let nodes = self.text("CLUSTER NODES", &[b"CLUSTER", b"NODES"])?;
        Ok(nodes.is_none_or(|nodes| own_slots(&nodes) < SLOTS))
    }

    /// The text of a reply to a setup command; `None` for an error reply.
    fn text(
        &mut self,
        command: &'static str,
        args: &[&[u8]],
    ) -> Result<Option<String>, ConnectError> {
        let reply = self.call(command, args)?;
        Ok(reply
            .as_bytes()
            .filter(|_| reply.error().is_none())
            .map(|b| String::from_utf8_lossy(b).into_owned()))
    }
}

/// How many slots the node that answered `CLUSTER NODES` owns (its line is
/// flagged `myself`; slots being moved, `[...]`, are not counted).
fn own_slots(nodes: &str) -> usize {
    let Some(line) = nodes.lines().find(|l| {
        l.split(' ')
            .nth(2)
            .is_some_and(|f| f.split(',').any(|f| f == "myself"))
    }) else {
        return 0;
    };
    line.split(' ')
        .skip(8)
        .filter(|range| !range.starts_with('['))
        .map(|range| {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            match (a.parse::<usize>(), b.parse::<usize>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 0,
            }
        })
        .sum()
}

/// Up to [`SHOWN`] bytes of `bytes`, printable: `\r`, `\n`, `\t`, `\\`,
/// `\"` and `\xHH` for the other bytes outside printable ASCII, and `...`
/// when there was more.
pub(crate) fn printable(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(SHOWN) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b' '..=b'~' => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > SHOWN {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_slots_the_node_itself_owns() {
        let nodes = "\
a1 127.0.0.1:7001@17001 master - 0 1 1 connected 5461-10922
b2 127.0.0.1:7000@17000 myself,master - 0 0 0 connected 0-5460 16000 [5461->-a1]
c3 127.0.0.1:7002@17002 master - 0 1 2 connected 10923-16383
";
        assert_eq!(own_slots(nodes), 5462);
        let alone = "b2 127.0.0.1:7000@17000 myself,master - 0 0 0 connected 0-16383\n";
        assert_eq!(own_slots(alone), SLOTS);
        let replica = "b2 127.0.0.1:7003@17003 myself,slave a1 0 0 0 connected\n";
        assert_eq!(own_slots(replica), 0);
    }

    #[test]
    fn shows_what_was_sent_escaped_and_cut_short() {
        assert_eq!(
            printable(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n\"x\"\x00\xff"),
            r#"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n\"x\"\x00\xff"#
        );
        let long = [b'a'; 100];
        assert_eq!(printable(&long), format!("{}...", "a".repeat(60)));
    }

    #[test]
    fn bytes_that_are_not_resp_name_the_peer_and_a_reset_suggests_tls() {
        let bad = io::Error::new(io::ErrorKind::InvalidData, "unknown reply type byte 0x49");
        let e = first_reply_failure("h:1", &bad, b"INFO {}\r\n", false).unwrap();
        assert_eq!(
            e.to_string(),
            r#"h:1 does not speak Redis's protocol; it sent "INFO {}\r\n""#
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let e = first_reply_failure("h:1", &reset, b"", false).unwrap();
        assert!(e.to_string().contains("try --tls"), "{e}");
        assert!(first_reply_failure("h:1", &reset, b"", true).is_none());
        let closed = io::Error::from(io::ErrorKind::UnexpectedEof);
        let e = first_reply_failure("h:1", &closed, b"", false).unwrap();
        assert!(e.to_string().contains("closed the connection"), "{e}");
        let timeout = io::Error::from(io::ErrorKind::WouldBlock);
        assert!(first_reply_failure("h:1", &timeout, b"", false).is_none());
    }
}
