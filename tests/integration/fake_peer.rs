//! Faults a real server cannot produce on cue: a reply cut off mid-frame, a
//! close mid-frame, a broken reply, an extra reply. A tiny in-process TCP
//! peer answers rload's PING, refuses its CONFIG GETs and INFOs, acknowledges the first K commands with +OK,
//! then misbehaves as told. It is no stand-in for Redis: only for these.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use crate::support::{Run, acknowledged, rload, set_lines};

/// How the fake peer misbehaves after acknowledging `ok` commands.
pub struct Script {
    pub ok: usize,
    pub then: &'static [u8],
    pub close: bool,
}

/// Runs `rload --pipe` against a fake peer following `script`, with
/// `commands` inline SETs as input.
fn against_fake(script: Script, commands: u64) -> Run {
    against_fake_with(script, commands, &[])
}

/// [`against_fake`], with more flags.
pub fn against_fake_with(script: Script, commands: u64, args: &[&str]) -> Run {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        serve(&mut sock, &script);
    });
    let port = port.to_string();
    let mut all = vec!["--pipe", "-p", &port, "--pipe-timeout", "5"];
    all.extend_from_slice(args);
    let run = rload(&all, set_lines(0..commands));
    peer.join().unwrap();
    run
}

fn serve(sock: &mut TcpStream, script: &Script) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    // rload's login: one PING.
    while !contains(&seen, b"PING\r\n") {
        let n = sock.read(&mut buf).unwrap();
        seen.extend_from_slice(&buf[..n]);
    }
    sock.write_all(b"+PONG\r\n").unwrap();
    seen.clear();
    // Then two CONFIG GETs for the server's limits: refused, as an ACL
    // might, so rload goes on with the defaults.
    for _ in 0..2 {
        while !contains(&seen, b"CONFIG\r\n") {
            let n = sock.read(&mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        let at = seen.windows(8).position(|w| w == b"CONFIG\r\n").unwrap();
        seen.drain(..at + 8);
        sock.write_all(b"-NOPERM this user has no permissions to run the 'config|get' command\r\n")
            .unwrap();
    }
    // Then INFO server, for the RDB version RESTORE takes, and INFO
    // cluster, to tell a cluster node: refused as well, so rload goes on
    // without knowing.
    for _ in 0..2 {
        while !contains(&seen, b"INFO\r\n") {
            let n = sock.read(&mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        let at = seen.windows(6).position(|w| w == b"INFO\r\n").unwrap();
        seen.drain(..at + 6);
        sock.write_all(b"-NOPERM this user has no permissions to run the 'info' command\r\n")
            .unwrap();
    }
    seen.clear();
    // Every SET of the input starts with "*3\r\n"; acknowledge `ok` of them.
    while count(&seen, b"*3\r\n") < script.ok {
        let n = sock.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    sock.write_all(&b"+OK\r\n".repeat(script.ok)).unwrap();
    sock.write_all(script.then).unwrap();
    if script.close {
        // A clean close (FIN). Closing with rload's bytes still unread would
        // make the kernel send a reset instead.
        sock.shutdown(std::net::Shutdown::Write).unwrap();
    }
    // Keep reading until rload goes away.
    while matches!(sock.read(&mut buf), Ok(n) if n > 0) {}
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

#[test]
fn a_reply_cut_off_mid_frame_gets_an_exact_account() {
    let run = against_fake(
        Script {
            ok: 100,
            then: b"$10\r\nhel",
            close: true,
        },
        1000,
    );
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.stderr
            .contains("lost: the server closed the connection in the middle of a reply"),
        "{run:?}"
    );
    assert_eq!(acknowledged(&run), 100);
    assert!(
        run.stderr
            .contains("the last was command 100 at <stdin>:100"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume-from 100"), "{run:?}");
    assert_eq!(run.counts(), (0, 100));
}

#[test]
fn a_close_between_replies_gets_an_exact_account() {
    let run = against_fake(
        Script {
            ok: 250,
            then: b"",
            close: true,
        },
        1000,
    );
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.stderr
            .contains("lost: the server closed the connection\n"),
        "{run:?}"
    );
    assert_eq!(acknowledged(&run), 250);
    assert_eq!(run.counts(), (0, 250));
}

#[test]
fn a_broken_reply_is_a_protocol_error_with_an_account() {
    let run = against_fake(
        Script {
            ok: 7,
            then: b"?what\r\n",
            close: false,
        },
        1000,
    );
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.stderr.contains("unknown reply type byte 0x3f"),
        "{run:?}"
    );
    assert_eq!(acknowledged(&run), 7);
}

#[test]
fn a_reply_to_no_command_is_caught() {
    // Two more replies than commands: the first lands on rload's closing
    // ECHO, whose reply must be the random bytes it sent.
    let run = against_fake(
        Script {
            ok: 10,
            then: b"+OK\r\n+OK\r\n",
            close: false,
        },
        10,
    );
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains("out of step"), "{run:?}");
}
