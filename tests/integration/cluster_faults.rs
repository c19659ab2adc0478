//! Cluster faults against real clusters: the account and the resume point
//! stay true through redirects, retries that run out, a slot map that never
//! settles, a lost connection mid-migration, a failover, and a signal.

use std::process::Command;
use std::thread;
use std::time::Duration;

use rload::cluster::key_slot;

use crate::support::{
    Background, Cluster, Redis, Run, acknowledged, resume_line, run_with, set_lines, wait_until,
};

/// Keys `Key0`, `Key1`... whose slots node `node` owns, `n` of them, as
/// SET lines.
fn sets_on(cluster: &Cluster, node: usize, n: usize) -> String {
    let owners = cluster.slot_owners();
    (0..)
        .map(|i| format!("Key{i}"))
        .filter(|k| owners[usize::from(key_slot(k.as_bytes()))] == node)
        .take(n)
        .map(|k| format!("SET {k} v\n"))
        .collect()
}

fn follow(run: &Run, input: Vec<u8>) -> Run {
    let resume = resume_line(run).unwrap_or_else(|| panic!("no resume line: {run:?}"));
    run_with(Command::new("sh").arg("-c").arg(&resume), input)
}

/// Two masters that each say the other owns a slot: every command for it
/// goes back and forth. rload gives up after a bounded number of
/// redirects, counts it as an error, and names the slot and the nodes.
#[test]
fn a_slot_map_that_never_settles_is_given_up_on_and_counted() {
    let cluster = Cluster::start(3);
    let slot = key_slot(b"Key0");
    let owner = cluster.slot_owners()[usize::from(slot)];
    let other = (owner + 1) % 3;
    let s = slot.to_string();
    let (owner_id, other_id) = (cluster.id(owner), cluster.id(other));
    assert_eq!(
        cluster.nodes[owner].cli(&["CLUSTER", "SETSLOT", &s, "NODE", &other_id]),
        "OK"
    );
    assert_eq!(
        cluster.nodes[other].cli(&["CLUSTER", "SETSLOT", &s, "NODE", &owner_id]),
        "OK"
    );
    let third = cluster.nodes[3 - owner - other].port.to_string();
    let run = crate::support::rload(&["--pipe", "-c", "-p", &third], "SET Key0 v\nSET Key0 w\n");
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (2, 2), "{run:?}");
    let (a, b) = (cluster.nodes[owner].port, cluster.nodes[other].port);
    assert!(
        run.stderr.contains(&format!("<stdin>:1: MOVED {slot} ")),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("rload gave up after 16 redirects of this command")
            && run.stderr.contains(&format!("127.0.0.1:{a}"))
            && run.stderr.contains(&format!("127.0.0.1:{b}"))
            && run.stderr.contains(&format!("slot {slot} does not settle")),
        "{run:?}"
    );
}

/// A master that stays down (CLUSTERDOWN) longer than rload's retries:
/// each command given up on is an error, in the count and the exit status.
#[test]
fn commands_whose_retries_run_out_are_errors() {
    let cluster = Cluster::start(3);
    let owners = cluster.slot_owners();
    let slot = (0..16384).find(|&s| owners[s] == 0).unwrap().to_string();
    let input = sets_on(&cluster, 0, 20);
    // Without full slot coverage, node 0 refuses every command.
    assert_eq!(cluster.nodes[0].cli(&["CLUSTER", "DELSLOTS", &slot]), "OK");
    let seed = cluster.nodes[1].port.to_string();
    let run = crate::support::rload(&["--pipe", "-c", "-p", &seed], input);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (20, 20), "{run:?}");
    assert!(
        run.stderr.contains("CLUSTERDOWN") && run.stderr.contains("rload gave up after 8 retries"),
        "{run:?}"
    );
    assert_eq!(cluster.nodes[0].dbsize(), 0);
}

/// The connection to the importing node of a slot mid-migration is lost
/// while commands are being sent there by ASK. The resume point leaves
/// none of them out: once the slot is moved, the printed command
/// completes the load.
#[test]
fn a_lost_connection_mid_migration_resumes_without_losing_asked_commands() {
    const N: u64 = 400_000;
    let cluster = Cluster::start(3);
    let slot = key_slot(b"ask");
    let source = cluster.slot_owners()[usize::from(slot)];
    let target = (source + 1) % 3;
    let s = slot.to_string();
    let (source_id, target_id) = (cluster.id(source), cluster.id(target));
    cluster.nodes[target].cli(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &source_id]);
    cluster.nodes[source].cli(&["CLUSTER", "SETSLOT", &s, "MIGRATING", &target_id]);
    let input: Vec<u8> = (0..N)
        .map(|i| {
            if i % 2 == 0 {
                format!("SET {{ask}}:{i} {i}\n")
            } else {
                format!("SET k{i} {i}\n")
            }
        })
        .collect::<String>()
        .into_bytes();
    let port = cluster.port();
    let target_node = &cluster.nodes[target];
    let load = Background::start(&["--pipe", "-c", "-p", &port], input.clone())
        .underway(60, || target_node.dbsize() > 5_000);
    target_node.cli(&["CLIENT", "KILL", "TYPE", "normal"]);
    let run = load.wait();
    assert_eq!(run.code, 5, "{run:?}");
    // The migration ends: the slot is the target's.
    for node in &cluster.nodes {
        node.cli(&["CLUSTER", "SETSLOT", &s, "NODE", &target_id]);
    }
    let again = follow(&run, input);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(
        cluster.dbsize(),
        N,
        "no command before the resume point was lost"
    );
}

/// A master fails over to its replica mid-load: with --reconnect, rload
/// asks the cluster for the new master, sends it what the lost one had not
/// acknowledged, and finishes the load with every key in place.
#[test]
fn a_failover_is_followed_with_reconnect() {
    const N: u64 = 600_000;
    let mut cluster = Cluster::start_with(3, 1, 1000);
    let port = cluster.port();
    let load = Background::start(
        &["--pipe", "-c", "-p", &port, "--reconnect", "20"],
        set_lines(0..N).into_bytes(),
    )
    .underway(60, || cluster.dbsize() > 60_000);
    // Every write the master answered reaches its replica before it dies,
    // so the failover itself loses nothing.
    let victim = 2;
    let replica = replica_of(&cluster, victim);
    cluster.nodes[victim].cli(&["CLIENT", "PAUSE", "10000", "WRITE"]);
    assert!(
        wait_until(10, || offset(&cluster.nodes[replica], "slave_repl_offset")
            == offset(&cluster.nodes[victim], "master_repl_offset")),
        "the replica never caught up"
    );
    cluster.nodes[victim].kill();
    let run = load.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts().0, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("asking the cluster which master serves its slots now")
            && run.stderr.contains(&format!(
                "slots are served by 127.0.0.1:{}",
                cluster.nodes[replica].port
            )),
        "{run:?}"
    );
    assert!(cluster.nodes[replica].cli(&["ROLE"]).starts_with("master"));
    assert_eq!(cluster.dbsize(), N);
}

/// The node (of the given cluster) that replicates master `master`.
fn replica_of(cluster: &Cluster, master: usize) -> usize {
    let id = cluster.id(master);
    let nodes = cluster.nodes[master].cli(&["CLUSTER", "REPLICAS", &id]);
    let port: u16 = nodes
        .split([' ', ':', '@'])
        .nth(2)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no replica in {nodes}"));
    cluster.nodes.iter().position(|n| n.port == port).unwrap()
}

fn offset(node: &Redis, field: &str) -> Option<u64> {
    node.cli(&["INFO", "replication"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
}

/// A signal mid-load in cluster mode: the account is what the masters
/// hold, and the resume command finishes the load.
#[test]
fn a_signal_in_cluster_mode_gets_an_exact_account() {
    const N: u64 = 600_000;
    let cluster = Cluster::start(3);
    let port = cluster.port();
    let input = set_lines(0..N).into_bytes();
    let load = Background::start(&["--pipe", "-c", "-p", &port], input.clone())
        .underway(60, || cluster.dbsize() > 30_000);
    load.signal(libc::SIGINT);
    let run = load.wait();
    assert_eq!(run.code, 130, "{run:?}");
    assert!(run.stderr.contains("interrupted by SIGINT"), "{run:?}");
    assert_eq!(acknowledged(&run), cluster.dbsize(), "{run:?}");
    thread::sleep(Duration::from_millis(10));
    let again = follow(&run, input);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(cluster.dbsize(), N);
}
