//! The sandbox: a local implementation of the access service's contract.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Faults the sandbox injects on purpose.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct Faults {
    pub bulk_limit: Option<usize>,
}

pub struct Options {
    pub directory: PathBuf,
    pub data_dir: PathBuf,
    pub reset: bool,
    pub now: Option<jiff::Timestamp>,
    pub faults: Faults,
    pub allow_remote: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the sandbox is not built yet")]
    Missing,
}

pub struct Sandbox {
    addr: SocketAddr,
}

impl Sandbox {
    pub async fn start(_options: Options, _listen: SocketAddr) -> Result<Sandbox, Error> {
        Err(Error::Missing)
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub async fn shutdown(self) {}
}

pub async fn serve_until_signal(_options: Options, _listen: SocketAddr) -> Result<(), Error> {
    Err(Error::Missing)
}

/// The first API key the directory lists for `environment`.
pub fn first_key(
    _directory: &std::path::Path,
    _environment: &str,
) -> Result<Option<String>, Error> {
    Err(Error::Missing)
}

/// Fault flags of `grantsync sandbox`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FaultArgs {
    /// Items one bulk-create call may carry; more is answered 413.
    #[arg(long)]
    pub bulk_limit: Option<usize>,
}

impl From<FaultArgs> for Faults {
    fn from(args: FaultArgs) -> Faults {
        Faults {
            bulk_limit: args.bulk_limit,
        }
    }
}
