//! Differential tests: the same input through redis-cli and through rload
//! must leave the same dataset (DEBUG DIGEST) and the same counts.

use crate::support::{Redis, redis_cli, resp, rload_pipe};

/// Inline lines that exercise every quoting rule. redis-cli's line mode (no
/// `--pipe`) tokenizes them with `sdssplitargs`, the reference. No line
/// starts with a digit, which that mode would take as a repeat count.
const TRICKY_INLINE: &str = concat!(
    "SET plain value\n",
    "SET \"quoted key\" \"quoted value\"\n",
    "SET single 'it\\'s'\n",
    "SET esc \"tab\\there\\nnewline\\r\\x00nul\\x7f\\xff\\b\\a\"\n",
    "SET hexcase \"\\x4A\\x4a\\xZZ\\x4\"\n",
    "SET empty \"\"\n",
    "SET emptysingle ''\n",
    "SET utf8 \"värde ✓ 日本\"\n",
    "SET utf8raw värde✓\n",
    "SET midquote foo\"bar baz\"\n",
    "SET midsingle foo'bar baz'\n",
    "SET backslash a\\b\\c\n",
    "SET dq_in_sq '\"quoted\"'\n",
    "SET sq_in_dq \"it's\"\n",
    "SET crlf value_crlf\r\n",
    "SET crlfquoted \"q\"\r\n",
    "RPUSH list a \"b c\" '' \"\\x00\" \"\"\n",
    "HSET hash f1 v1 \"f 2\" \"v\\n2\"\n",
    "   SET leading_spaces   value   \n",
    "\tSET tab_leading x\t\n",
    "SET vt a\x0bb\n",
    "SET ff \x0c\x0cx\x0cy\n",
    "SET esc_other \"\\q\\\"\\\\\"\n",
    "SET sq_backslash 'a\\\\b\\n'\n",
    "SET allhex \"\\x00\\x01\\x02\\x7f\\x80\\xfe\\xFF\"\n",
    "SADD set \"a\" 'b' c \"d e\" 'f g'\n",
    "ZADD zset 1 one 2.5 \"two and a half\"\n",
    "APPEND plain \" more\"\n",
    "SET last_line_no_newline 'end'",
);

#[test]
fn inline_quoting_matches_redis_cli_line_mode() {
    let reference = Redis::start();
    let ours = Redis::start();
    let cli = redis_cli(&["-p", &reference.port.to_string()], TRICKY_INLINE);
    assert_eq!(cli.code, 0, "{cli:?}");
    assert!(!cli.stdout.contains("Invalid argument"), "{cli:?}");
    let run = rload_pipe(&ours, &[], TRICKY_INLINE);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 29));
    assert_eq!(ours.dbsize(), reference.dbsize());
    assert_eq!(ours.digest(), reference.digest());
    assert_ne!(ours.digest(), "0000000000000000000000000000000000000000");
}

/// A RESP file with binary payloads, several types and some errors.
fn resp_corpus() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..2000u32 {
        let key = format!("key:{i}");
        let bin: Vec<u8> = (0..(i % 300)).map(|b| (b * 7 + i) as u8).collect();
        out.extend_from_slice(&resp(&[b"SET", key.as_bytes(), &bin]));
        out.extend_from_slice(&resp(&[b"RPUSH", b"list", key.as_bytes(), b"\r\n\0"]));
        out.extend_from_slice(&resp(&[b"HSET", b"hash", key.as_bytes(), &bin]));
        out.extend_from_slice(&resp(&[b"INCRBY", b"counter", i.to_string().as_bytes()]));
        if i % 100 == 0 {
            // An error reply: INCR on a key holding a list.
            out.extend_from_slice(&resp(&[b"INCR", b"list"]));
        }
    }
    out
}

#[test]
fn resp_input_matches_redis_cli_pipe() {
    let reference = Redis::start();
    let ours = Redis::start();
    let corpus = resp_corpus();
    let cli = redis_cli(
        &["-p", &reference.port.to_string(), "--pipe"],
        corpus.clone(),
    );
    let run = rload_pipe(&ours, &[], corpus);
    assert_eq!(cli.code, 1, "{cli:?}");
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), cli.counts());
    assert_eq!(run.counts(), (20, 8020));
    assert_eq!(ours.digest(), reference.digest());
    assert_eq!(ours.dbsize(), 2003);
}

#[test]
fn inline_text_and_its_resp_encoding_load_the_same_data() {
    let from_text = Redis::start();
    let from_cli = Redis::start();
    let text: String = (0..5000)
        .map(|i| format!("SET \"k {i}\" 'v\\'{i}'\nINCR n{}\n", i % 7))
        .collect();
    let resp_bytes: Vec<u8> = (0..5000)
        .flat_map(|i| {
            let mut v = resp(&[
                b"SET",
                format!("k {i}").as_bytes(),
                format!("v'{i}").as_bytes(),
            ]);
            v.extend_from_slice(&resp(&[b"INCR", format!("n{}", i % 7).as_bytes()]));
            v
        })
        .collect();
    let run = rload_pipe(&from_text, &[], text);
    let cli = redis_cli(&["-p", &from_cli.port.to_string(), "--pipe"], resp_bytes);
    assert_eq!(run.counts(), cli.counts());
    assert_eq!(from_text.digest(), from_cli.digest());
}
