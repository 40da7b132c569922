//! HR exports as a source: a CSV file read through a mapping file.

use std::path::Path;

use super::SourceOutput;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("HR export sources are not supported yet")]
    Unsupported,
}

pub struct Mapping;

impl Mapping {
    pub fn load(_path: &Path) -> Result<Mapping, Error> {
        Err(Error::Unsupported)
    }
}

pub fn load_export(
    _base: &Path,
    _export_pattern: &str,
    _mapping: &Mapping,
    _now: jiff::Timestamp,
) -> Result<SourceOutput, Error> {
    Err(Error::Unsupported)
}
