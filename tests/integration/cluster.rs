//! Cluster mode against a real 3-master Redis Cluster: routing by slot,
//! hash tags, cross-slot errors, broadcast commands, transactions, a live
//! reshard during a load, and a master killed mid-load.

use std::thread;
use std::time::Duration;

use rload::cluster::key_slot;

use crate::support::{
    Background, Cluster, Redis, acknowledged, redirects, rload, rload_pipe, set_lines,
    value_digests,
};

/// Runs `rload --pipe -c` against the cluster.
fn load(cluster: &Cluster, input: impl Into<Vec<u8>>) -> crate::support::Run {
    rload(&["--pipe", "-c", "-p", &cluster.port()], input)
}

#[test]
fn loads_100k_sets_with_every_key_on_its_slots_master() {
    let cluster = Cluster::start(3);
    let run = load(&cluster, set_lines(0..100_000));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 100_000));
    assert_eq!(cluster.dbsize(), 100_000);
    let owners = cluster.slot_owners();
    for (i, node) in cluster.nodes.iter().enumerate() {
        let keys = node.keys();
        assert!(keys.len() > 20_000, "node {i} holds {} keys", keys.len());
        for key in keys {
            assert_eq!(
                owners[usize::from(key_slot(key.as_bytes()))],
                i,
                "{key} is on node {i}"
            );
        }
    }
    // Our slot function agrees with the server's.
    for key in ["Key0", "Key99999", "{tag}x", "a{b}c"] {
        assert_eq!(
            cluster.nodes[0].cli(&["CLUSTER", "KEYSLOT", key]),
            key_slot(key.as_bytes()).to_string()
        );
    }
    // One summary line per master.
    for node in &cluster.nodes {
        assert!(
            run.stdout
                .contains(&format!("127.0.0.1:{}: replies: ", node.port)),
            "{run:?}"
        );
    }
}

#[test]
fn the_dataset_equals_what_one_node_gets() {
    let cluster = Cluster::start(3);
    let single = Redis::start();
    let input: String = (0..20_000)
        .map(|i| {
            let j = i % 97;
            format!("SET s:{i} v{i}\nHSET h:{j} f{i} {i}\nRPUSH l:{j} {i}\nINCRBY n:{j} {i}\nSADD {{tag}}set {i}\nZADD z:{j} {i} m{i}\n")
        })
        .collect();
    let on_cluster = load(&cluster, input.clone());
    let on_single = rload_pipe(&single, &[], input);
    assert_eq!(on_cluster.code, 0, "{on_cluster:?}");
    assert_eq!(on_cluster.counts(), on_single.counts());
    let got = value_digests(&cluster.nodes.iter().collect::<Vec<_>>());
    let want = value_digests(&[&single]);
    // 20000 strings, 97 hashes, lists, counters and sorted sets, one set.
    assert_eq!(want.len(), 20_000 + 4 * 97 + 1);
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want, "every key holds the same value");
}

#[test]
fn hash_tags_share_a_slot_and_a_cross_slot_command_is_an_error_on_its_line() {
    let cluster = Cluster::start(3);
    let run = load(
        &cluster,
        "MSET {user:1}:name ada {user:1}:lang rust\nMSET a 1 b 2\nMGET {user:1}:name {user:1}:lang\n",
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (1, 2));
    assert!(run.stderr.contains("<stdin>:2: CROSSSLOT"), "{run:?}");
    let owner = &cluster.nodes[cluster.slot_owners()[usize::from(key_slot(b"user:1"))]];
    assert_eq!(
        owner.cli(&["MGET", "{user:1}:name", "{user:1}:lang"]),
        "ada\nrust"
    );
    assert_eq!(
        cluster.dbsize(),
        2,
        "nothing of the cross-slot MSET was sent"
    );
}

#[test]
fn flushall_reaches_every_master() {
    let cluster = Cluster::start(3);
    let run = load(&cluster, set_lines(0..3000));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(cluster.nodes.iter().all(|n| n.dbsize() > 0));
    let run = load(&cluster, "FLUSHALL\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 3), "one reply from each master");
    assert_eq!(cluster.dbsize(), 0);
}

#[test]
fn a_transaction_travels_whole_to_its_slots_master() {
    let cluster = Cluster::start(3);
    let input = "MULTI\nSET {t}a 1\nINCR {t}a\nRPUSH {t}l x\nEXEC\nMULTI\nSET x 1\nSET y 2\nEXEC\nGET {t}a\n";
    let run = load(&cluster, input);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("<stdin>:6: CROSSSLOT the keys of this MULTI block"),
        "{run:?}"
    );
    assert_eq!(
        run.counts(),
        (1, 6),
        "MULTI, 3 QUEUED, EXEC, GET; the cross-slot block is one error"
    );
    let owner = &cluster.nodes[cluster.slot_owners()[usize::from(key_slot(b"t"))]];
    assert_eq!(owner.cli(&["GET", "{t}a"]), "2");
    assert_eq!(cluster.dbsize(), 2);
}

#[test]
fn refuses_a_node_that_is_not_in_cluster_mode() {
    let plain = Redis::start();
    let run = rload_pipe(&plain, &["-c"], "SET k v\n");
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains("CLUSTER SLOTS failed at 127.0.0.1:"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("-c needs a node of a Redis Cluster"),
        "{run:?}"
    );
}

/// Slots move from one master to another while rload is writing. Every
/// command lands exactly once and in order per key (each list gets its
/// numbers ascending), with no errors and some redirects followed.
#[test]
fn a_live_reshard_during_a_load_loses_nothing_and_keeps_order() {
    let cluster = Cluster::start(3);
    pushes_through_a_reshard(&cluster, &[], |i| i % 500);
}

/// Runs 600,000 `RPUSH list:L i` (`L = list_of(i)`, under 500) through
/// `rload --pipe -c` with `extra` flags, while 3,000 slots move from the
/// first master to the second. Every element must land once and in input
/// order, with no errors and some redirects followed.
pub(crate) fn pushes_through_a_reshard(cluster: &Cluster, extra: &[&str], list_of: fn(u64) -> u64) {
    const N: u64 = 600_000;
    const LISTS: u64 = 500;
    let input: String = (0..N)
        .map(|i| format!("RPUSH list:{} {i}\n", list_of(i)))
        .collect();
    let port = cluster.port();
    let mut args = vec!["--pipe", "-c", "-p", &port];
    args.extend_from_slice(extra);
    let load = Background::start(&args, input.into_bytes());
    thread::sleep(Duration::from_millis(200));
    cluster.reshard(0, 1, 3000);
    let run = load.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, N));
    assert!(
        redirects(&run) > 0,
        "the reshard overlapped the load: {run:?}"
    );
    let owners = cluster.slot_owners();
    for list in 0..LISTS {
        let key = format!("list:{list}");
        let node = &cluster.nodes[owners[usize::from(key_slot(key.as_bytes()))]];
        let got: Vec<u64> = node
            .cli(&["LRANGE", &key, "0", "-1"])
            .lines()
            .map(|n| n.parse().unwrap())
            .collect();
        let want: Vec<u64> = (0..N).filter(|&i| list_of(i) == list).collect();
        assert_eq!(got, want, "{key}: every element once, in input order");
    }
}

/// A master dies mid-load. Writes are paused everywhere first, so every
/// executed command has been answered: the account must equal what the
/// masters hold.
#[test]
fn a_killed_master_gets_an_exact_account() {
    let mut cluster = Cluster::start(3);
    let port = cluster.port();
    let load = Background::start(
        &["--pipe", "-c", "-p", &port],
        set_lines(0..3_000_000).into_bytes(),
    )
    .underway(60, || cluster.dbsize() > 60_000);
    let counts: Vec<u64> = cluster
        .nodes
        .iter()
        .map(Redis::pause_writes_and_count)
        .collect();
    let victim = cluster.nodes[2].port;
    let lost = counts[2];
    cluster.nodes[2].kill();
    for node in &cluster.nodes[..2] {
        node.cli(&["CLIENT", "UNPAUSE"]);
    }
    let run = load.wait();
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("connection to 127.0.0.1:{victim} lost")),
        "{run:?}"
    );
    let held: u64 = cluster.nodes[..2].iter().map(Redis::dbsize).sum::<u64>() + lost;
    assert_eq!(acknowledged(&run), held, "{run:?}");
    assert!(run.stderr.contains("--resume-from"), "{run:?}");
}

/// Transactions during a live reshard: a transaction whose slot moves is
/// aborted by the server, so rload sends it again, whole, to the new owner.
#[test]
fn transactions_survive_a_live_reshard() {
    const BLOCKS: u64 = 150_000;
    const KEYS: u64 = 300;
    let cluster = Cluster::start(3);
    let input: String = (0..BLOCKS)
        .map(|i| {
            let k = i % KEYS;
            format!("MULTI\nRPUSH {{k{k}}}:list {i}\nINCR {{k{k}}}:n\nEXEC\n")
        })
        .collect();
    let port = cluster.port();
    let load = Background::start(&["--pipe", "-c", "-p", &port], input.into_bytes());
    thread::sleep(Duration::from_millis(200));
    cluster.reshard(0, 2, 3000);
    let run = load.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.counts(),
        (0, 4 * BLOCKS),
        "MULTI, two QUEUED and EXEC per block, once each"
    );
    // Every command is in a transaction, so every redirect was of a whole one.
    assert!(
        redirects(&run) > 0,
        "the reshard overlapped the load: {run:?}"
    );
    let owners = cluster.slot_owners();
    for k in 0..KEYS {
        let tag = format!("k{k}");
        let node = &cluster.nodes[owners[usize::from(key_slot(tag.as_bytes()))]];
        let list: Vec<u64> = node
            .cli(&["LRANGE", &format!("{{{tag}}}:list"), "0", "-1"])
            .lines()
            .map(|n| n.parse().unwrap())
            .collect();
        let want: Vec<u64> = (0..BLOCKS).filter(|i| i % KEYS == k).collect();
        assert_eq!(list, want, "{tag}: every block once, in order");
        assert_eq!(
            node.cli(&["GET", &format!("{{{tag}}}:n")]),
            want.len().to_string()
        );
    }
}

/// A master that briefly answers CLUSTERDOWN: its commands are retried with
/// backoff until the cluster is back, and none is lost or counted an error.
#[test]
fn clusterdown_is_retried_until_the_cluster_is_back() {
    const N: u64 = 2_000_000;
    let cluster = Cluster::start(3);
    let owners = cluster.slot_owners();
    let slot = (0..16384)
        .find(|&s| owners[s] == 0)
        .expect("node 0 owns slots")
        .to_string();
    let port = cluster.port();
    let load = Background::start(&["--pipe", "-c", "-p", &port], set_lines(0..N).into_bytes())
        .underway(60, || cluster.dbsize() > 20_000);
    // Without full slot coverage, node 0 refuses every command.
    assert_eq!(cluster.nodes[0].cli(&["CLUSTER", "DELSLOTS", &slot]), "OK");
    thread::sleep(Duration::from_millis(300));
    assert_eq!(cluster.nodes[0].cli(&["CLUSTER", "ADDSLOTS", &slot]), "OK");
    let run = load.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, N));
    assert!(
        redirects(&run) > 0,
        "CLUSTERDOWN replies were retried: {run:?}"
    );
    assert_eq!(cluster.dbsize(), N);
}

/// A slot mid-migration: its source answers ASK for keys it does not hold,
/// and rload sends each to the importing node with ASKING, once, without
/// changing its slot map.
#[test]
fn ask_redirects_send_asking_and_the_command_to_the_importing_node() {
    const N: u64 = 2000;
    let cluster = Cluster::start(3);
    let slot = key_slot(b"ask");
    let source = cluster.slot_owners()[usize::from(slot)];
    let target = (source + 1) % 3;
    let s = slot.to_string();
    let (source_id, target_id) = (cluster.id(source), cluster.id(target));
    assert_eq!(
        cluster.nodes[target].cli(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &source_id]),
        "OK"
    );
    assert_eq!(
        cluster.nodes[source].cli(&["CLUSTER", "SETSLOT", &s, "MIGRATING", &target_id]),
        "OK"
    );
    let input: String = (0..N).map(|i| format!("SET {{ask}}:{i} {i}\n")).collect();
    let run = load(&cluster, input);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.counts(),
        (0, N),
        "one reply per command; ASKING is rload's own"
    );
    assert_eq!(redirects(&run), N, "every SET was asked elsewhere once");
    assert_eq!(
        cluster.nodes[target].cli(&["CLUSTER", "COUNTKEYSINSLOT", &s]),
        N.to_string()
    );
    assert_eq!(
        cluster.nodes[source].cli(&["CLUSTER", "COUNTKEYSINSLOT", &s]),
        "0"
    );
}
