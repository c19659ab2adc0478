//! What a load connects to before it starts: one server, or a cluster's
//! nodes. Connected, it gives the server's limits and a connection to ask
//! questions on while skipping to the resume point; started, it is the
//! load's [`Sink`].

use std::sync::Arc;

use super::{Destination, Run};
use crate::cluster;
use crate::config::Config;
use crate::conn::{self, Connection, MergeRules, Patience};
use crate::emit::{Emit, EmitFormat};
use crate::error::{ConnectError, Error};
use crate::input::Limits;
use crate::pipe::{Pipe, PipeOptions, Shared};
use crate::sink::Sink;

/// Connected, not yet started.
pub(crate) enum Target {
    /// One server: the connection the load will use.
    One { conn: Connection, limits: Limits },
    /// A cluster: its layout and command table, read from one node.
    Cluster(Box<cluster::Seed>),
    /// No server: the commands go to standard output (`--emit`).
    Emit(EmitFormat),
}

impl Target {
    /// Connects as the load's settings say.
    pub(crate) fn connect(run: &Run<'_>, names: &Arc<[String]>) -> Result<Self, Error> {
        let Run {
            config,
            handles,
            events,
            ..
        } = run;
        if let Destination::Emit(format) = run.to {
            return Ok(Target::Emit(format));
        }
        let patience = Patience::new(config.server.wait, &handles.interrupt, Arc::clone(events));
        if config.cluster {
            return Ok(Target::Cluster(Box::new(cluster::Seed::connect(
                config, handles, names, events, &patience,
            )?)));
        }
        let mut conn = conn::connect_waiting(&config.server, &patience)?;
        let limits = conn.limits()?;
        if conn.partial_cluster_node()? {
            // Each command would be refused with MOVED but for the slots
            // this node owns: nothing is sent.
            return Err(Error::Config(format!(
                "{} is a Redis Cluster node: use -c (rload -c routes each key to its master)",
                conn.addr()
            )));
        }
        Ok(Target::One { conn, limits })
    }

    /// What the server accepts.
    pub(super) fn limits(&self) -> Limits {
        match self {
            Target::One { limits, .. } => *limits,
            Target::Cluster(seed) => seed.limits(),
            Target::Emit(_) => Limits::default(),
        }
    }

    /// What `--coalesce` may merge for the load's user (every merge for
    /// `--emit`, which has no server to ask).
    ///
    /// # Errors
    ///
    /// The connection failed.
    pub(super) fn merge_rules(&mut self, config: &Config) -> Result<MergeRules, ConnectError> {
        match self {
            Target::One { conn, .. } => MergeRules::read(conn, config.server.user.as_deref()),
            Target::Cluster(seed) => Ok(seed.merge_rules()),
            Target::Emit(_) => Ok(MergeRules::ALL),
        }
    }

    /// A connection to ask questions on before the load starts, if there
    /// is one that the load goes to.
    pub(super) fn probe(&mut self) -> Option<&mut Connection> {
        match self {
            Target::One { conn, .. } => Some(conn),
            Target::Cluster(_) | Target::Emit(_) => None,
        }
    }

    /// Whether the commands go to standard output.
    pub(super) fn is_emit(&self) -> bool {
        matches!(self, Target::Emit(_))
    }

    /// Starts the load, in database `db` when the resume point says so.
    pub(super) fn start(
        self,
        run: &Run<'_>,
        names: &Arc<[String]>,
        db: Option<u32>,
    ) -> Result<Box<dyn Sink>, Error> {
        let mut conn = match self {
            Target::Cluster(seed) => return Ok(Box::new(seed.start()?)),
            Target::Emit(format) => return Ok(Box::new(Emit::new(format))),
            Target::One { conn, .. } => conn,
        };
        let config = run.config;
        let mut server = config.server.clone();
        if let Some(db) = db.filter(|&db| db != server.db) {
            // rload's own SELECT: not a reply of the load's.
            conn.select(db)?;
            server.db = db;
        }
        let addr = conn.addr().to_string();
        let shared = Shared::new(
            &addr,
            Arc::clone(names),
            Arc::clone(&run.events),
            run.handles,
        );
        let pipe = Pipe::start(conn, Arc::new(shared), PipeOptions::new(config, &server))
            .map_err(|e| ConnectError::io(&addr, e))?;
        Ok(Box::new(pipe))
    }
}
