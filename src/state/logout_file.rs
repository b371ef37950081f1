//! The logouts of this process written down (`session.logout_records_path`),
//! so that they outlive a restart without Redis. The file begins with the
//! epoch of the record (when it started keeping logouts: a session
//! authenticated before it may have been logged out unrecorded, and is
//! refused), then one line per record. A record is written and synced
//! before the logout that made it answers; at launch the file is read
//! back, and written anew with only the live records.
//!
//! One process per file: a lock beside it (`<path>.lock`) refuses a second
//! one at launch, since two would overwrite each other's records (several
//! instances share logouts through `[oidc.redis]`). The file is the app's
//! user's only (mode 0600, never read through a symlink, nor if others may
//! read or write it). What cannot be read back is not guessed at: the
//! record starts again from now, and every session from before is refused
//! once.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::owner_file::{self, Refused};
use crate::state::hex;
use crate::state::logout_records::{Digest, Record};

/// The first word of the file: what it is, and the version of its lines.
const HEADER: &str = "rocket_openidconnect-logouts-v1";

/// Why the file cannot be used at all (launch stops, naming the key).
#[derive(Debug)]
pub(crate) struct Unusable(pub(crate) String);

/// The records read back at launch.
pub(crate) struct ReadBack {
    /// When the record began (Unix ms).
    pub(crate) epoch_ms: i64,
    pub(crate) records: Vec<Record>,
    /// Why the file was not read back, when it was not (it is then
    /// started anew, and `epoch_ms` is now).
    pub(crate) started_anew: Option<String>,
}

pub(crate) struct LogoutFile {
    path: PathBuf,
    epoch_ms: i64,
    /// Held for as long as the file is this process's.
    _lock: File,
    appender: Mutex<Appender>,
}

struct Appender {
    file: File,
    /// Lines written since the file was last written anew.
    lines: usize,
}

impl LogoutFile {
    /// Takes the file at `path` for this process, reads its records back
    /// (those still live at `now`, Unix s) and writes it anew with them
    /// only; `max_bytes` bounds what is read.
    pub(crate) fn open(path: &Path, now: i64, now_ms: i64, max_bytes: u64) -> Result<(LogoutFile, ReadBack), Unusable> {
        let lock_path = sibling(path, ".lock")?;
        let lock = owner_file::lock_exclusive(&lock_path)
            .map_err(|e| Unusable(format!("cannot lock {} ({e})", lock_path.display())))?
            .ok_or_else(|| {
                Unusable(format!(
                    "is used by another process ({} is locked): each instance needs its own file, or share \
                     logouts through `[oidc.redis]`",
                    lock_path.display()
                ))
            })?;
        let read_back = match owner_file::read(path, max_bytes) {
            Ok(bytes) => parse(&bytes, now).unwrap_or_else(|why| ReadBack {
                epoch_ms: now_ms,
                records: Vec::new(),
                started_anew: Some(why),
            }),
            Err(Refused::Missing) => ReadBack {
                epoch_ms: now_ms,
                records: Vec::new(),
                started_anew: None,
            },
            Err(why) => ReadBack {
                epoch_ms: now_ms,
                records: Vec::new(),
                started_anew: Some(format!("{} is not used: {why}", path.display())),
            },
        };
        let file = LogoutFile {
            path: path.to_path_buf(),
            epoch_ms: read_back.epoch_ms,
            _lock: lock,
            appender: Mutex::new(Appender {
                file: rewrite(path, read_back.epoch_ms, &read_back.records)
                    .map_err(|e| Unusable(format!("cannot be written ({e})")))?,
                lines: 0,
            }),
        };
        Ok((file, read_back))
    }

    /// Writes `records` down and syncs them (blocking).
    pub(crate) fn append(&self, records: &[Record]) -> std::io::Result<()> {
        let mut text = String::new();
        for record in records {
            text.push_str(&line(record));
        }
        let mut appender = self
            .appender
            .lock()
            .map_err(|_| std::io::Error::other("the record's lock was poisoned"))?;
        appender.file.write_all(text.as_bytes())?;
        appender.file.sync_data()?;
        appender.lines = appender.lines.saturating_add(records.len());
        Ok(())
    }

    /// Writes the file anew with the records `live` gives when more than
    /// twice as many lines as `records_kept` were written since the last
    /// time (blocking). `live` is called with the file locked, so no
    /// record written meanwhile is lost.
    pub(crate) fn compact_if_long(
        &self,
        records_kept: usize,
        live: impl FnOnce() -> Vec<Record>,
    ) -> std::io::Result<()> {
        let mut appender = self
            .appender
            .lock()
            .map_err(|_| std::io::Error::other("the record's lock was poisoned"))?;
        if appender.lines <= records_kept.saturating_mul(2).saturating_add(1000) {
            return Ok(());
        }
        appender.file = rewrite(&self.path, self.epoch_ms, &live())?;
        appender.lines = 0;
        Ok(())
    }
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> Result<PathBuf, Unusable> {
    let name = path
        .file_name()
        .ok_or_else(|| Unusable("names no file".into()))?
        .to_string_lossy();
    Ok(path.with_file_name(format!("{name}{suffix}")))
}

/// Writes the file anew (atomically, owner-only) with `records`, and opens
/// it to append to.
fn rewrite(path: &Path, epoch_ms: i64, records: &[Record]) -> std::io::Result<File> {
    let mut text = format!("{HEADER} {epoch_ms}\n");
    for record in records {
        text.push_str(&line(record));
    }
    owner_file::write_atomically(path, text.as_bytes())?;
    owner_file::open_to_append(path)
}

fn line(record: &Record) -> String {
    match record {
        Record::Session {
            session,
            subject,
            login_ms,
            until,
        } => format!("s {} {until} {} {login_ms}\n", hex(session), hex(subject)),
        Record::Sid { sid, until } => format!("i {} {until}\n", hex(sid)),
        Record::Sub { subject, at_ms, until } => format!("u {} {until} {at_ms}\n", hex(subject)),
    }
}

/// The records of a file's `bytes` live at `now`; why not, when anything
/// but an unfinished last line (a crash while writing: that logout never
/// answered) is not one of ours.
fn parse(bytes: &[u8], now: i64) -> Result<ReadBack, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the record is not text".to_string())?;
    let mut lines: Vec<&str> = text.split('\n').collect();
    // The last piece is empty after a final newline, or an unfinished line.
    lines.pop();
    let mut lines = lines.into_iter();
    let epoch_ms = lines
        .next()
        .and_then(|header| header.strip_prefix(HEADER))
        .and_then(|epoch| epoch.trim().parse::<i64>().ok())
        .ok_or_else(|| "the record does not begin as one of ours".to_string())?;
    let mut records = Vec::new();
    for (number, text) in lines.enumerate() {
        let record = parse_line(text).ok_or_else(|| format!("line {} of the record is not one of ours", number + 2))?;
        let until = match record {
            Record::Session { until, .. } | Record::Sid { until, .. } | Record::Sub { until, .. } => until,
        };
        if until > now {
            records.push(record);
        }
    }
    Ok(ReadBack {
        epoch_ms,
        records,
        started_anew: None,
    })
}

fn parse_line(line: &str) -> Option<Record> {
    let mut words = line.split(' ');
    let kind = words.next()?;
    let mut digest = || unhex(words.next()?);
    let record = match kind {
        "s" => {
            let session = digest()?;
            let until = words.next()?.parse().ok()?;
            let subject = unhex(words.next()?)?;
            let login_ms = words.next()?.parse().ok()?;
            Record::Session {
                session,
                subject,
                login_ms,
                until,
            }
        }
        "i" => {
            let sid = digest()?;
            Record::Sid {
                sid,
                until: words.next()?.parse().ok()?,
            }
        }
        "u" => {
            let subject = digest()?;
            let until = words.next()?.parse().ok()?;
            Record::Sub {
                subject,
                at_ms: words.next()?.parse().ok()?,
                until,
            }
        }
        _ => return None,
    };
    words.next().is_none().then_some(record)
}

fn unhex(text: &str) -> Option<Digest> {
    if text.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<Record> {
        vec![
            Record::Session {
                session: [1; 32],
                subject: [2; 32],
                login_ms: 5_000,
                until: 100,
            },
            Record::Sid {
                sid: [3; 32],
                until: 200,
            },
            Record::Sub {
                subject: [4; 32],
                at_ms: 7_000,
                until: 300,
            },
        ]
    }

    #[test]
    fn records_read_back_as_written_and_expired_ones_are_dropped() {
        let mut text = format!("{HEADER} 42\n");
        for record in records() {
            text.push_str(&line(&record));
        }
        let read = parse(text.as_bytes(), 0).expect("ours");
        assert_eq!(read.epoch_ms, 42);
        assert_eq!(read.records, records());
        assert_eq!(parse(text.as_bytes(), 150).expect("ours").records.len(), 2);
        // A line cut short by a crash is no record (its logout never answered).
        let torn = format!("{text}s 0101");
        assert_eq!(parse(torn.as_bytes(), 0).expect("ours").records, records());
    }

    #[test]
    fn a_file_that_is_not_ours_is_not_guessed_at() {
        for text in [
            "".to_string(),
            "something else\n".to_string(),
            format!("{HEADER} 42\nx 00 1\n"),
            format!("{HEADER} 42\ns {} 100\n", "zz".repeat(32)),
            format!("{HEADER} 42\ni {} 100 extra\n", "00".repeat(32)),
        ] {
            assert!(parse(text.as_bytes(), 0).is_err(), "{text:?}");
        }
    }
}
