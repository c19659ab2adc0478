//! Input that is valid but unusual: CRLF line ends, lines far over the
//! server's 64 KB inline limit, and a 101 MB line, held once in memory.

use crate::support::{Background, Redis, rload_pipe};

#[test]
fn accepts_crlf_line_endings() {
    let redis = Redis::start();
    let run = rload_pipe(
        &redis,
        &[],
        "SET a 1\r\nSET b \"x y\"\r\nSET c 'z'\r\n\r\nRPUSH l a\r\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 4));
    assert_eq!(redis.cli(&["MGET", "a", "b", "c"]), "1\nx y\nz");
}

#[test]
fn accepts_inline_lines_over_the_servers_64k_inline_limit() {
    let redis = Redis::start();
    let value = "v".repeat(70_000);
    let quoted = "q".repeat(200_000);
    let input = format!("SET plain {value}\nSET quoted \"{quoted}\\x41\"\n");
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.cli(&["STRLEN", "plain"]), "70000");
    assert_eq!(redis.cli(&["STRLEN", "quoted"]), "200001");
}

#[test]
fn accepts_a_101_mb_line() {
    let redis = Redis::start();
    let size = 101 << 20;
    let mut input = b"SET huge ".to_vec();
    input.resize(input.len() + size, b'x');
    input.extend_from_slice(b"\nSET after 1\n");
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 2));
    assert_eq!(redis.cli(&["STRLEN", "huge"]), size.to_string());
}

/// A huge command is held once: the read buffer that holds it becomes the
/// bytes in flight (an inline line is encoded over itself), rather than
/// being copied. Peak memory stays near the command's size, not twice it.
#[test]
fn a_huge_command_is_held_once() {
    const SIZE: usize = 100 << 20;
    for (what, command) in [
        ("inline", {
            let mut line = b"SET huge ".to_vec();
            line.resize(line.len() + SIZE, b'x');
            line.push(b'\n');
            line
        }),
        ("RESP", {
            let value = vec![b'y'; SIZE];
            crate::support::resp(&[b"SET", b"huge", &value])
        }),
    ] {
        let redis = Redis::start();
        let port = redis.port.to_string();
        let load = Background::start_streaming(&["--pipe", "-p", &port], move |pipe| {
            let _ = pipe.write_all(&command);
            // Stay open, idle, until rload is gone, so its memory can be read.
            while pipe.flush().is_ok() && pipe.write_all(b"\n").is_ok() {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
        .underway(60, || redis.cli(&["STRLEN", "huge"]) == SIZE.to_string());
        let peak_mib = load.peak_rss_kib().expect("VmHWM") / 1024;
        load.signal(libc::SIGTERM);
        let run = load.wait();
        assert_eq!(run.counts(), (0, 1), "{run:?}");
        assert!(
            peak_mib < 140,
            "{what}: a 100 MiB command peaked at {peak_mib} MiB (twice it would be over 200)"
        );
    }
}
