//! The Python bootstrap (`sitecustomize.py`): carried inside the binary, written into its own
//! folder of tollgate's data directory, and put first on every Python child's `PYTHONPATH`, so
//! that boto3 and botocore tag each call with the line of the program that made it (the
//! `x-tollgate-callsite` header, read and removed by the proxy). It runs the user's own
//! `sitecustomize` after itself. The file's own comments say what it changes and what it leaves
//! alone.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The bootstrap's source.
pub const SOURCE: &str = include_str!("sitecustomize.py");

/// The folder of the data directory it is written into (a folder of its own: everything in a
/// PYTHONPATH entry is importable).
pub const DIR_NAME: &str = "python";

/// A bootstrap written to disk: the folder to put on PYTHONPATH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonCallsites {
    pub dir: PathBuf,
}

impl PythonCallsites {
    /// Writes `sitecustomize.py` into `<data>/python/` (unless the file there is already this
    /// one).
    pub fn install(data: &Path) -> io::Result<Self> {
        let dir = data.join(DIR_NAME);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("sitecustomize.py");
        if std::fs::read(&path).ok().as_deref() != Some(SOURCE.as_bytes()) {
            crate::home::write_atomically(&path, SOURCE.as_bytes(), 0o644)?;
        }
        Ok(Self { dir })
    }

    /// `inherited` (the PYTHONPATH the user already has) with the bootstrap's folder first,
    /// unless it is there already.
    pub fn python_path(&self, inherited: Option<&str>) -> String {
        let dir = self.dir.display().to_string();
        match inherited.filter(|value| !value.is_empty()) {
            None => dir,
            Some(value) if value.split(':').next() == Some(dir.as_str()) => value.to_string(),
            Some(value) => format!("{dir}:{value}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_goes_first_and_the_users_path_is_kept() {
        let python = PythonCallsites {
            dir: PathBuf::from("/d/tollgate/python"),
        };
        assert_eq!(python.python_path(None), "/d/tollgate/python");
        assert_eq!(python.python_path(Some("")), "/d/tollgate/python");
        assert_eq!(
            python.python_path(Some("/src:/lib")),
            "/d/tollgate/python:/src:/lib"
        );
        assert_eq!(
            python.python_path(Some("/d/tollgate/python:/src")),
            "/d/tollgate/python:/src"
        );
    }

    #[test]
    fn install_writes_the_bootstrap_in_a_folder_of_its_own() {
        let data = tempfile::tempdir().unwrap();
        let installed = PythonCallsites::install(data.path()).unwrap();
        assert_eq!(installed.dir, data.path().join("python"));
        let file = installed.dir.join("sitecustomize.py");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), SOURCE);
        std::fs::write(&file, "stale").unwrap();
        PythonCallsites::install(data.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), SOURCE);
    }
}
