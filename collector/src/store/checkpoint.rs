//! Where a reader (a forwarder) has got to: per service, the stream position of the first
//! byte not yet delivered. Kept in `LOG_DIR/.forward/<name>.json`, replaced atomically (write a
//! temporary file, sync it, rename) so a crash leaves either the old or the new position,
//! never a torn file. Re-sending from an old position is what makes delivery at least once.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::service::ServiceName;

/// The folder under `LOG_DIR` that holds every forwarder's checkpoint (a dot name, so it
/// can never be taken for a service).
const FORWARD_DIR: &str = ".forward";

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read, written or renamed.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The checkpoint file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file exists but is not a checkpoint; delete it to forward from the beginning.
    #[error("checkpoint {path} is corrupt (delete it to forward everything again): {source}")]
    Corrupt {
        /// The checkpoint file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// One forwarder's positions, one per service.
///
/// # Examples
///
/// ```
/// use estuary_collector::service::ServiceName;
/// use estuary_collector::store::{Store, StoreConfig};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(StoreConfig::new(dir.path())).unwrap();
/// let api = ServiceName::parse("api").unwrap();
/// let mut checkpoint = store.checkpoint("loki").unwrap();
/// checkpoint.set(&api, 42);
/// checkpoint.save().unwrap();
/// assert_eq!(store.checkpoint("loki").unwrap().get(&api), Some(42));
/// ```
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The file it lives in.
    path: PathBuf,
    /// Service name to the first virtual offset not yet delivered.
    positions: BTreeMap<String, u64>,
}

impl Checkpoint {
    /// Reads the checkpoint of forwarder `name` (empty when it has none yet).
    ///
    /// # Errors
    ///
    /// [`CheckpointError`] when the file exists but cannot be read or parsed.
    pub(super) fn load(log_dir: &Path, name: &str) -> Result<Self, CheckpointError> {
        let path = log_dir.join(FORWARD_DIR).join(format!("{name}.json"));
        let positions = match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| CheckpointError::Corrupt {
                    path: path.clone(),
                    source,
                })?
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        };
        Ok(Checkpoint { path, positions })
    }

    /// The first undelivered offset of `service`, if this forwarder has seen it before.
    pub fn get(&self, service: &ServiceName) -> Option<u64> {
        self.positions.get(service.as_str()).copied()
    }

    /// Moves `service`'s position (in memory; [`Checkpoint::save`] makes it durable).
    pub fn set(&mut self, service: &ServiceName, offset: u64) {
        self.positions.insert(service.as_str().to_owned(), offset);
    }

    /// Writes the positions atomically.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Io`] when the folder or file cannot be written.
    pub fn save(&self) -> Result<(), CheckpointError> {
        let io_error = |source| CheckpointError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().expect("checkpoint path has a folder");
        fs::create_dir_all(dir).map_err(io_error)?;
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec(&self.positions).expect("a map of numbers serializes");
        let mut file = fs::File::create(&tmp).map_err(io_error)?;
        file.write_all(&body)
            .and_then(|()| file.sync_data())
            .map_err(io_error)?;
        fs::rename(&tmp, &self.path).map_err(io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_or_foreign_file_is_reported_not_guessed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(FORWARD_DIR)).unwrap();
        std::fs::write(
            dir.path().join(FORWARD_DIR).join("loki.json"),
            b"{\"api\":4",
        )
        .unwrap();
        let err = Checkpoint::load(dir.path(), "loki").unwrap_err();
        assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("delete it"));
    }

    #[test]
    fn saving_replaces_the_file_whole_and_keeps_other_forwarders_apart() {
        let dir = tempfile::tempdir().unwrap();
        let api = ServiceName::parse("api").unwrap();
        let mut loki = Checkpoint::load(dir.path(), "loki").unwrap();
        assert_eq!(loki.get(&api), None);
        loki.set(&api, 7);
        loki.save().unwrap();
        loki.set(&api, 9);
        loki.save().unwrap();
        assert_eq!(
            Checkpoint::load(dir.path(), "loki").unwrap().get(&api),
            Some(9)
        );
        assert_eq!(Checkpoint::load(dir.path(), "es").unwrap().get(&api), None);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join(FORWARD_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(leftovers, ["loki.json"], "no temporary file is left behind");
    }

    #[test]
    fn each_service_keeps_its_position_and_a_failed_save_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let (api, web) = (
            ServiceName::parse("api").unwrap(),
            ServiceName::parse("web").unwrap(),
        );
        let mut saved = Checkpoint::load(dir.path(), "loki").unwrap();
        saved.set(&api, 10);
        saved.set(&web, 20);
        saved.save().unwrap();
        let loaded = Checkpoint::load(dir.path(), "loki").unwrap();
        assert_eq!((loaded.get(&api), loaded.get(&web)), (Some(10), Some(20)));

        // The temporary file cannot be created: the save fails, naming the checkpoint,
        // and the saved positions are still the old ones.
        std::fs::create_dir(dir.path().join(FORWARD_DIR).join("loki.json.tmp")).unwrap();
        saved.set(&api, 99);
        let err = saved.save().unwrap_err();
        assert!(matches!(err, CheckpointError::Io { .. }), "{err}");
        assert!(err.to_string().contains("loki.json"), "{err}");
        let loaded = Checkpoint::load(dir.path(), "loki").unwrap();
        assert_eq!(loaded.get(&api), Some(10));
    }
}
