//! Where tollgate keeps its files: the CA, the combined CA bundle, and the state of a running
//! `tollgate serve`.

use std::fs;
use std::io;
#[cfg(test)]
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The directory holding tollgate's private files.
///
/// `TOLLGATE_HOME` wins; otherwise `$XDG_DATA_HOME/tollgate`, otherwise
/// `~/.local/share/tollgate`.
pub fn data_dir() -> io::Result<PathBuf> {
    if let Some(dir) = non_empty_env("TOLLGATE_HOME") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = non_empty_env("XDG_DATA_HOME") {
        return Ok(PathBuf::from(dir).join("tollgate"));
    }
    match non_empty_env("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/tollgate")),
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            "neither TOLLGATE_HOME, XDG_DATA_HOME nor HOME is set; set TOLLGATE_HOME to a private directory",
        )),
    }
}

/// The directory for tollgate's history (the SQLite database): state, not configuration.
///
/// `TOLLGATE_HOME` wins (so one variable isolates everything); otherwise
/// `$XDG_STATE_HOME/tollgate`, otherwise `~/.local/state/tollgate`.
pub fn state_dir() -> io::Result<PathBuf> {
    if let Some(dir) = non_empty_env("TOLLGATE_HOME") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = non_empty_env("XDG_STATE_HOME") {
        return Ok(PathBuf::from(dir).join("tollgate"));
    }
    match non_empty_env("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/tollgate")),
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            "neither TOLLGATE_HOME, XDG_STATE_HOME nor HOME is set; pass --db PATH",
        )),
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Creates `dir` (and its parents) if needed; a directory tollgate creates is 0700, since it holds
/// the CA's private key. An existing directory that others can write to is refused: whoever can
/// write there could swap the files tollgate writes.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} can be written by group or others (mode {mode:03o}); tollgate keeps its CA \
                     key there. Run `chmod 700 {}` or point TOLLGATE_HOME at a private directory",
                    dir.display(),
                    dir.display()
                ),
            ));
        }
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // The umask may have narrowed the mode; make the last directory exactly 0700.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Writes `contents` to `path` atomically (temporary file, then rename) with the given mode, so a
/// reader never sees half a file and a private file is never briefly world-readable. The
/// temporary file is created fresh (never an existing file, never through a symlink).
pub fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|error| io::Error::other(error.to_string()))?;
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let temp = dir.join(format!(".{file_name}.{nonce}.tmp"));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Writes a file the user named (`-o FILE`). A regular file (or a new one) is replaced
/// atomically; anything else — a FIFO, `/dev/stdout`, `/dev/null` — is written in place, never
/// replaced: renaming over `/dev/null` as root would turn it into a regular file for the whole
/// machine. Symlinks are followed, as the user would expect of an output path.
pub fn write_output(path: &Path, contents: &[u8]) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(metadata) if !metadata.is_file() => {
            use std::io::Write;
            fs::OpenOptions::new()
                .write(true)
                .open(path)?
                .write_all(contents)
        }
        Ok(_) => write_atomically(&fs::canonicalize(path)?, contents, 0o644),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            write_atomically(path, contents, 0o644)
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_mode_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_atomically(&path, b"hello", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        write_atomically(&path, b"again", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"again");
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let error = ensure_private_dir(dir.path()).unwrap_err();
        assert!(error.to_string().contains("chmod 700"), "{error}");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(dir.path()).unwrap();
    }

    #[test]
    fn outputs_that_are_not_regular_files_are_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write_output(&fifo, b"bundle").unwrap();
        assert_eq!(reader.join().unwrap(), b"bundle");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());

        // A symlink to a regular file stays a symlink; its target gets the content.
        let target = dir.path().join("target.pem");
        fs::write(&target, "old").unwrap();
        let link = dir.path().join("link.pem");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_output(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new");
    }

    #[test]
    fn private_dir_is_0700() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        ensure_private_dir(&nested).unwrap();
        let mode = fs::metadata(&nested).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
