//! Input that is valid but unusual: CRLF line ends, lines far over the
//! server's 64 KB inline limit, and a 101 MB line.

use crate::support::{Redis, rload_pipe};

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
