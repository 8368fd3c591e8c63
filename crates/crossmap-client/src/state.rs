//! What crossmap last applied to a service, kept in local files: the `current` of a sync when the service
//! cannot list (Graph documents no list call for these collections).

use crate::bulk::{ApplyOptions, ItemResult, Report};
use crate::client::Client;
use crossmap_delta::{MappingTable, MemoryTable, Rules, canonical};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// Why the local state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The file could not be read or written.
    #[error("cannot use the state file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a mapping.
    #[error("{path}:{line}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A folder holding one JSON Lines file per collection: the mappings last acknowledged by the service.
#[derive(Debug, Clone)]
pub struct LocalState {
    dir: PathBuf,
}

impl LocalState {
    /// State kept in `dir` (created when first saved).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalState { dir: dir.into() }
    }

    fn file<M: Rules>(&self) -> PathBuf {
        let collection = M::COLLECTION_PATH.rsplit('/').next().unwrap_or(M::COLLECTION_PATH);
        self.dir.join(format!("{collection}.jsonl"))
    }

    /// The recorded mappings of kind `M`; none when nothing was recorded yet.
    pub fn load<M: Rules>(&self) -> Result<MemoryTable<M>, StateError> {
        let path = self.file::<M>();
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(MemoryTable::new()),
            Err(e) => return Err(io(e)),
        };
        let mut table = MemoryTable::new();
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(io)?;
            if line.trim().is_empty() {
                continue;
            }
            let corrupt = |message: String| StateError::Corrupt {
                path: path.clone(),
                line: i + 1,
                message,
            };
            let mapping: M = serde_json::from_str(&line).map_err(|e| corrupt(e.to_string()))?;
            let (key, mapping) = canonical(i, mapping).map_err(|e| corrupt(e.message))?;
            table.put(key, &mapping);
        }
        Ok(table)
    }

    /// Replaces the record of kind `M` with `table`, atomically (a temporary file renamed over it).
    pub fn save<M: Rules>(&self, table: &impl MappingTable<M>) -> Result<(), StateError> {
        let path = self.file::<M>();
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let temp = path.with_extension("jsonl.tmp");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&temp).map_err(io)?);
        // Sorted by key, each row decoded only as it is written: a record of a million mappings decoded
        // at once would take gigabytes.
        let mut rows: Vec<_> = table.rows().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        for (_, row) in rows {
            serde_json::to_writer(&mut out, &row.decode::<M>()).map_err(|e| io(e.into()))?;
            out.write_all(b"\n").map_err(io)?;
        }
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&temp, &path).map_err(io)
    }

    /// The folder the record is kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl<M: Rules> Report<M> {
    /// Records what the service acknowledged into `table`, in the terms the requests used: each applied
    /// item is applied to the record with the engine, as the service applied it. What the service's
    /// answer says beyond the request (properties the schema does not declare, annotations, defaults) is
    /// not taken for something this client stated, so a later plan against the record never sees it as a
    /// difference; the answer's undeclared properties are kept beside the mapping for round trips.
    /// Failed and unsent items change nothing.
    pub fn record_into(&self, table: &mut impl MappingTable<M>) {
        for result in &self.items {
            let ItemResult::Applied { sent, entry } = result else {
                continue;
            };
            // The client validated the item before sending it: its key is there and well formed.
            let Some(Ok(key)) = sent.entity().source_key_checked() else {
                continue;
            };
            if sent.is_removal() {
                table.remove(&key);
                continue;
            }
            // As the engine applies an upsert: merged into what is there; `canonical` fills a new
            // mapping's defaults and drops what a request cannot state.
            let mut mapping: M = table.row(&key).map(|r| r.decode()).unwrap_or_default();
            let mut patch = sent.entity().clone();
            patch.clear_server_owned();
            mapping.merge(patch);
            let unknown = entry.additional_properties().iter().filter(|(k, _)| !k.contains('@'));
            for (k, v) in unknown {
                mapping
                    .additional_properties_mut()
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
            match canonical(0, mapping) {
                Ok((_, mapping)) => table.put(key, &mapping),
                Err(e) => tracing::warn!(error = %e.message, "an acknowledged mapping is incomplete; not recorded"),
            }
        }
    }
}

impl Client {
    /// [`Client::sync`] against the local record of what was last applied, then records what the service
    /// acknowledged: run again after an interruption, it sends only what is still missing.
    pub async fn sync_with_state<M: Rules>(
        &self,
        desired: &MemoryTable<M>,
        state: &LocalState,
        remove: bool,
        options: &ApplyOptions,
    ) -> Result<Report<M>, StateError> {
        let mut current = state.load::<M>()?;
        let report = self.sync(desired, &current, remove, options).await;
        report.record_into(&mut current);
        state.save(&current)?;
        Ok(report)
    }
}
