//! `--coalesce` as users an ACL limits, and with a `WATCH` the server
//! holds: each input command gets the reply it would have got alone, and
//! the data is what a plain load leaves.

use crate::coalesce::{as_text, error_messages, list_runs, mixed_commands};
use crate::support::{Redis, Run, rload_pipe};

/// Creates `user` (password `pw`) with `rules` on `redis`.
fn add_user(redis: &Redis, user: &str, rules: &[&str]) {
    let mut args = vec!["ACL", "SETUSER", user, "on", ">pw"];
    args.extend_from_slice(rules);
    assert_eq!(redis.cli(&args), "OK");
}

/// `rload --pipe` as `user`, with `extra` flags, on `input`.
fn as_user(redis: &Redis, user: &str, extra: &[&str], input: &str) -> Run {
    let mut args = vec!["--user", user, "-a", "pw", "--no-auth-warning"];
    args.extend_from_slice(extra);
    rload_pipe(redis, &args, input)
}

/// For users limited to some keys, or not allowed MSET, HSET or MULTI, a
/// coalesced load of a mixed corpus (every mergeable kind, pushes in turn
/// that would apply together, transactions, WATCH) matches a plain load
/// by the same user: the same data, counts and error lines. The keys a
/// user may write are written; NOPERM falls only on the lines that would
/// get it alone.
#[test]
fn each_command_gets_the_reply_it_would_get_alone_whatever_the_users_acl() {
    let commands = mixed_commands(0xac1_5eed, 12_000);
    let input = as_text(&commands);
    for rules in [
        &["~k*", "~l*", "+@all"][..],
        &["~*", "+@all", "-mset"],
        &["~*", "+@all", "-hset"],
        &["~*", "+@all", "-multi"],
    ] {
        let (plain, merged) = (Redis::start(), Redis::start());
        add_user(&plain, "loader", rules);
        add_user(&merged, "loader", rules);
        let want = as_user(&plain, "loader", &[], &input);
        let run = as_user(&merged, "loader", &["--coalesce"], &input);
        assert_eq!(run.counts(), want.counts(), "{rules:?}: {run:?}");
        assert_eq!(run.code, want.code, "{rules:?}");
        assert_eq!(merged.digest(), plain.digest(), "{rules:?}");
        assert_eq!(
            error_messages(&run.stderr, true),
            error_messages(&want.stderr, true),
            "{rules:?}"
        );
        let (errors, _) = run.counts();
        let noperm = run.stderr.matches("NOPERM").count() as u64;
        if rules[0] == "~k*" {
            // Some lines are refused, not all: the allowed keys are written.
            assert!(noperm > 100 && noperm < errors, "{noperm} of {errors}");
        }
        // What the user may write was written.
        assert!(merged.dbsize() > 0, "{rules:?}");
    }
}

/// The two cases of the issue, small: a forbidden key among SETs that
/// would merge into one MSET, and pushes in turn that would apply together
/// in rload's own MULTI, with one forbidden list among them.
#[test]
fn a_forbidden_key_fails_alone_and_the_allowed_ones_are_written() {
    let redis = Redis::start();
    add_user(&redis, "loader", &["~ok:*", "+@all"]);
    let input = "SET ok:1 a\nSET no:1 b\nSET ok:2 c\n\
        RPUSH ok:l 1\nRPUSH no:l 2\nRPUSH ok:m 3\nRPUSH ok:l 4\nRPUSH ok:m 5\n";
    let run = as_user(&redis, "loader", &["--coalesce"], input);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (2, 8), "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert!(lines[0].starts_with("<stdin>:2: NOPERM"), "{run:?}");
    assert!(lines[1].starts_with("<stdin>:5: NOPERM"), "{run:?}");
    assert_eq!(redis.cli(&["GET", "ok:1"]), "a");
    assert_eq!(redis.cli(&["GET", "ok:2"]), "c");
    assert_eq!(redis.cli(&["LRANGE", "ok:l", "0", "-1"]), "1\n4");
    assert_eq!(redis.cli(&["LRANGE", "ok:m", "0", "-1"]), "3\n5");

    // Not allowed MSET: every SET is written.
    let redis = Redis::start();
    add_user(&redis, "loader", &["~*", "+@all", "-mset"]);
    let sets: String = (0..5_000).map(|i| format!("SET k{i} v{i}\n")).collect();
    let run = as_user(&redis, "loader", &["--coalesce"], &sets);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 5_000));
    assert_eq!(redis.dbsize(), 5_000);

    // A user allowed everything still gets MSETs and blocks applied
    // together.
    let redis = Redis::start();
    add_user(&redis, "all", &["~*", "&*", "+@all"]);
    let mut input = sets.clone();
    input.push_str(&list_runs(2_000, 1));
    let run = as_user(&redis, "all", &["--coalesce"], &input);
    assert_eq!(run.code, 0, "{run:?}");
    let stats = redis.cli(&["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_mset:"), "{stats}");
    assert!(stats.contains("cmdstat_exec:"), "{stats}");
}

/// An EXEC without MULTI fails and leaves the WATCH open. rload follows
/// the WATCH by the server's replies, so it applies no batch together in
/// its own MULTI (which the changed key would abort, losing the pushes):
/// the pushes land, and only the EXEC is an error, as in a plain load.
#[test]
fn an_exec_without_multi_leaves_the_watch_and_coalescing_follows_it() {
    let input = "WATCH w\nEXEC\nINCR w\nRPUSH a 1\nRPUSH b 2\nRPUSH a 3\nRPUSH b 4\n\
        UNWATCH\nRPUSH c 1\nRPUSH d 2\nRPUSH c 3\n";
    let (plain, merged) = (Redis::start(), Redis::start());
    let want = rload_pipe(&plain, &[], input);
    let run = rload_pipe(&merged, &["--coalesce"], input);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (1, 11), "{run:?}");
    assert_eq!(run.counts(), want.counts());
    assert_eq!(
        run.stderr.trim(),
        "<stdin>:2: ERR EXEC without MULTI",
        "{run:?}"
    );
    assert_eq!(merged.cli(&["LRANGE", "a", "0", "-1"]), "1\n3");
    assert_eq!(merged.cli(&["LRANGE", "b", "0", "-1"]), "2\n4");
    assert_eq!(merged.digest(), plain.digest());
    // After the UNWATCH, the server holds none: pushes in turn apply
    // together again, in rload's one MULTI. Before it, none did.
    let stats = merged.cli(&["INFO", "commandstats"]);
    let calls = |name: &str| {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .unwrap_or("0")
            .to_string()
    };
    assert_eq!(calls("multi"), "1", "{stats}");
    assert_eq!(
        calls("rpush"),
        "6",
        "4 one by one, then c and d merged: {stats}"
    );
}
