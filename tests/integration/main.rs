//! Integration tests: the real `rload` binary against real `redis-server`s,
//! each started on a free port by the fixture in `support`.

mod connect;
mod differential;
mod faults;
mod input_errors;
mod pipe;
mod support;
