//! Integration tests: the real `rload` binary against real `redis-server`s,
//! each started on a free port by the fixture in `support`.

mod cluster;
mod cluster_faults;
mod coalesce;
mod coalesce_users;
mod compare;
mod connect;
mod differential;
mod dump;
mod dump_split;
mod dump_truth;
mod embed;
mod fake_peer;
mod faults;
mod first_minutes;
mod input_edges;
mod input_errors;
mod pipe;
mod rdb;
mod rdb_load;
mod record_errors;
mod records;
mod reliability;
mod reporting;
mod resume;
mod security;
mod signals;
mod support;
mod tls_verify;
