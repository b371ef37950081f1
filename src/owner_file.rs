//! Files only the app's own user may read or write, for what the crate
//! keeps on disk (a registered client and its secret, the record of
//! logouts): read without following a symlink, and only when no one else
//! can read or write them; written into a fresh file of a random name,
//! mode 0600, synced, then renamed into place, so that a file or symlink
//! another local user planted is never written through.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Why a file at a path is not used.
#[derive(Debug)]
pub(crate) enum Refused {
    /// There is no file there.
    Missing,
    /// It cannot be opened or read (the error), or it is a symlink.
    Unreadable(std::io::Error),
    /// It is no regular file, or larger than allowed.
    NotARegularFile,
    /// Another user owns it.
    NotOurs,
    /// Others may read or write it (its mode).
    OpenToOthers(u32),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Missing => write!(f, "it does not exist"),
            Refused::Unreadable(error) => write!(f, "it cannot be read ({error})"),
            Refused::NotARegularFile => write!(f, "it is not a regular file of a sane size"),
            Refused::NotOurs => write!(f, "it belongs to another user"),
            Refused::OpenToOthers(mode) => write!(f, "others may read or write it (mode {mode:o})"),
        }
    }
}

/// The options that open `path` without following a symlink, and without
/// blocking on a FIFO planted there.
fn no_follow(options: &mut OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        options.custom_flags(i32::try_from(flags.bits()).unwrap_or(0));
    }
    #[cfg(not(unix))]
    let _ = options;
}

/// The content of the file at `path` (at most `max_bytes`), if it is a
/// regular file of the app's user that no one else may read or write.
pub(crate) fn read(path: &Path, max_bytes: u64) -> Result<Vec<u8>, Refused> {
    let mut options = OpenOptions::new();
    options.read(true);
    no_follow(&mut options);
    let file = options.open(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => Refused::Missing,
        _ => Refused::Unreadable(error),
    })?;
    let metadata = file.metadata().map_err(Refused::Unreadable)?;
    if !metadata.is_file() || metadata.len() > max_bytes {
        return Err(Refused::NotARegularFile);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if metadata.uid() != rustix::process::geteuid().as_raw() {
            return Err(Refused::NotOurs);
        }
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Refused::OpenToOthers(mode));
        }
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, max_bytes), &mut bytes).map_err(Refused::Unreadable)?;
    Ok(bytes)
}

/// Replaces the file at `path` by `bytes`, readable by the owner only:
/// written into a new file of a random name beside it (`create_new`: never
/// an existing file, nor one a symlink points to; mode 0600 from the
/// start), synced, then renamed over `path` (atomic; a symlink at `path`
/// is replaced, not followed), and the directory synced. Returns that very
/// file, positioned at its end: what is written to it next goes to the
/// file now at `path` (never to one opened again by name, which someone
/// could have replaced meanwhile).
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<File> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?
        .to_string_lossy();
    let tag = crate::random::token().replace(['-', '_'], "0");
    let temporary = path.with_file_name(format!(".{name}.{tag}.tmp"));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()?;
        Ok(file)
    });
    let renamed = written.and_then(|file| std::fs::rename(&temporary, path).map(|()| file));
    let file = match renamed {
        Ok(file) => file,
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            return Err(error);
        }
    };
    if let Some(directory) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(directory)?.sync_all()?;
    }
    Ok(file)
}

/// A lock only one process at a time holds, on the file at `path`
/// (created 0600 if missing; refused if another user owns it, who could
/// otherwise hold it to keep the app from starting): `Ok(None)` when
/// another process holds it. It is let go when the returned file is
/// dropped (or the process ends). On systems without `flock` (not unix)
/// there is no lock: one process per file is then the operator's care.
pub(crate) fn lock_exclusive(path: &Path) -> std::io::Result<Option<File>> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    no_follow(&mut options);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if file.metadata()?.uid() != rustix::process::geteuid().as_raw() {
            return Err(std::io::Error::other("the lock file belongs to another user"));
        }
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(Some(file))
}
