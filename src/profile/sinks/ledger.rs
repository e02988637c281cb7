//! A run's ledger: how many calls the recorder was handed, in a small memory-mapped file that
//! outlives the process. The database holds what was committed; after a `kill -9` the ledger
//! still says how many calls the run answered, so the next tollgate can say exactly how many of
//! them were never recorded. Counting is an atomic add in shared memory: no system call on the
//! request path, and the kernel keeps the page when the process dies (not across a power loss).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;

/// `tollgate-ledger v1`, then the count of calls handed to the recorder.
const MAGIC: u64 = u64::from_le_bytes(*b"tgledg01");
const LEN: usize = 16;

/// The ledger of one run, open for counting.
pub struct Ledger {
    map: MmapMut,
    path: PathBuf,
}

impl Ledger {
    /// The ledger of the run `uuid` in `dir` (created 0600, with `dir` 0700).
    pub fn create(dir: &Path, uuid: &str) -> std::io::Result<Ledger> {
        use std::os::unix::fs::OpenOptionsExt as _;
        crate::home::ensure_private_dir(dir)?;
        let path = ledger_path(dir, uuid);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        file.set_len(LEN as u64)?;
        // SAFETY: the file is ours, just sized, and only this process maps it for writing;
        // another tollgate reads it only after this one is gone.
        let mut map = unsafe { MmapMut::map_mut(&file)? };
        map[..8].copy_from_slice(&MAGIC.to_le_bytes());
        Ok(Ledger { map, path })
    }

    fn answered(&self) -> &AtomicU64 {
        // SAFETY: the map is page-aligned and LEN bytes long, so bytes 8..16 are an aligned,
        // live u64 for as long as `self`; all access to it is atomic.
        unsafe { &*(self.map.as_ptr().add(8) as *const AtomicU64) }
    }

    /// One more call handed to the recorder.
    pub fn count(&self) {
        self.answered().fetch_add(1, Ordering::Relaxed);
    }

    pub fn counted(&self) -> u64 {
        self.answered().load(Ordering::Relaxed)
    }

    /// The run ended and its losses are recorded: the ledger is no longer needed (its mapping
    /// stays valid until dropped).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn ledger_path(dir: &Path, uuid: &str) -> PathBuf {
    dir.join(format!("{uuid}.ledger"))
}

/// The ledgers left in `dir` by runs that did not end: (run uuid, calls answered, file).
pub fn left_behind(dir: &Path) -> Vec<(String, u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            let uuid = path
                .file_name()?
                .to_str()?
                .strip_suffix(".ledger")?
                .to_string();
            let bytes = std::fs::read(&path).ok()?;
            if bytes.len() != LEN || bytes[..8] != MAGIC.to_le_bytes() {
                return None;
            }
            let answered = u64::from_le_bytes(bytes[8..16].try_into().ok()?);
            Some((uuid, answered, path))
        })
        .collect()
}

/// Settles the ledgers of runs that died: the store learns how many of their answered calls it
/// never got. A ledger whose run is still going (or is in another database) stays.
pub async fn settle(store: &dyn crate::store::RunStore, dir: &Path) {
    for (uuid, answered, path) in left_behind(dir) {
        match store.note_unrecorded(&uuid, answered).await {
            Ok(Some(missing)) => {
                if missing > 0 {
                    tracing::warn!(
                        "run {uuid} stopped before its end: {missing} of its {answered} answered \
                         calls were not recorded"
                    );
                }
                let _ = std::fs::remove_file(path);
            }
            Ok(None) => {}
            Err(error) => tracing::debug!("ledger {}: {error}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_keeps_its_count_after_its_process_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let ledger = Ledger::create(&runs, "abc").unwrap();
        for _ in 0..1234 {
            ledger.count();
        }
        assert_eq!(ledger.counted(), 1234);
        // Dropped without `remove`: what a killed process leaves.
        drop(ledger);
        assert_eq!(
            left_behind(&runs),
            vec![("abc".to_string(), 1234, runs.join("abc.ledger"))]
        );
        let ledger = Ledger::create(&runs, "def").unwrap();
        ledger.count();
        ledger.remove();
        ledger.count();
        assert_eq!(left_behind(&runs).len(), 1);
    }
}
