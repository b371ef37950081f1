//! The logouts of this process written down (`session.logout_records_path`),
//! so that they outlive a restart without Redis. The file begins with the
//! epoch of the record (when it started keeping logouts; cookie sessions
//! are stamped with it at login, and one stamped otherwise may have been
//! logged out unrecorded, and is refused), then one line per record: a
//! logged-out session, `sid` or user, or a used logout token. A record is
//! written and synced before the logout that made it answers; at launch
//! the file is read back, and written anew with only the live records.
//!
//! One process per file: a lock beside it (`<path>.lock`) refuses a second
//! one at launch, after waiting a while for one that is stopping (several
//! instances share logouts through `[oidc.redis]`). The file is the app's
//! user's only (mode 0600, never read through a symlink, nor if others may
//! read or write it). What cannot be read back is not guessed at: the
//! record starts again from now, and every cookie session from before is
//! refused once. A record that could not be written makes the file
//! unusable (renamed aside), so that the next start begins again rather
//! than trust a file that lacks it.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::{UnixMillis, UnixTime};
use crate::owner_file::{self, Refused};
use crate::store::hex;
use crate::store::logout_records::{Digest, Record};

/// The first word of the file: what it is, and the version of its lines.
const HEADER: &str = "rocket_openidconnect-logouts-v1";

/// How long launch waits for the process before to let the file go (one
/// stopping while the next starts, on one host).
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Why the file cannot be used at all (launch stops, naming the key).
#[derive(Debug)]
pub(crate) struct Unusable(pub(crate) String);

/// The records read back at launch.
pub(crate) struct ReadBack {
    /// When the record began.
    pub(crate) epoch: UnixMillis,
    pub(crate) records: Vec<Record>,
    /// Why the file was not read back, when it was not (it is then
    /// started anew, and `epoch` is now).
    pub(crate) started_anew: Option<String>,
}

pub(crate) struct LogoutFile {
    path: PathBuf,
    /// Held for as long as the file is this process's.
    _lock: File,
    appender: Mutex<Appender>,
}

struct Appender {
    /// The file as written last (never opened again by name).
    file: File,
    /// Its length after the last complete write.
    length: u64,
    epoch: UnixMillis,
    /// Lines written since the file was last written anew.
    lines: usize,
    /// Why nothing more may be written (a write failed).
    broken: Option<String>,
}

impl LogoutFile {
    /// Takes the file at `path` for this process, reads its records back
    /// (those still live at `now`) and writes it anew with them only;
    /// `max_bytes` bounds what is read. A record begun anew begins
    /// `starting`.
    pub(crate) fn open(
        path: &Path,
        now: UnixTime,
        starting: UnixMillis,
        max_bytes: u64,
    ) -> Result<(LogoutFile, ReadBack), Unusable> {
        let lock = take_lock(&sibling(path, ".lock")?)?;
        let read_back = match owner_file::read(path, max_bytes) {
            Ok(bytes) => parse(&bytes, now).unwrap_or_else(|why| ReadBack {
                epoch: starting,
                records: Vec::new(),
                started_anew: Some(why),
            }),
            // Missing: a first start, or one after the record was put aside
            // (which is said again, once).
            Err(Refused::Missing) => ReadBack {
                epoch: starting,
                records: Vec::new(),
                started_anew: sibling(path, ".unusable")
                    .ok()
                    .filter(|aside| aside.exists())
                    .map(|aside| format!("the record before was put aside as {}", aside.display())),
            },
            Err(why) => ReadBack {
                epoch: starting,
                records: Vec::new(),
                started_anew: Some(format!("{} is not used: {why}", path.display())),
            },
        };
        let (file, length) = rewrite(path, read_back.epoch, &read_back.records)
            .map_err(|e| Unusable(format!("cannot be written ({e})")))?;
        let file = LogoutFile {
            path: path.to_path_buf(),
            _lock: lock,
            appender: Mutex::new(Appender {
                file,
                length,
                epoch: read_back.epoch,
                lines: 0,
                broken: None,
            }),
        };
        Ok((file, read_back))
    }

    /// Starts the record again, empty, from `epoch` (what was read back
    /// cannot be kept).
    pub(crate) fn start_anew(&self, epoch: UnixMillis) -> Result<(), Unusable> {
        let mut appender = self
            .appender
            .lock()
            .map_err(|_| Unusable("the record's lock was poisoned".into()))?;
        let (file, length) =
            rewrite(&self.path, epoch, &[]).map_err(|e| Unusable(format!("cannot be written ({e})")))?;
        *appender = Appender {
            file,
            length,
            epoch,
            lines: 0,
            broken: None,
        };
        Ok(())
    }

    /// Writes `records` down and syncs them (blocking). A write that fails
    /// is undone where it can be, and the file is put aside: nothing more
    /// is written to it (every later record fails too), and the next start
    /// does not find it, so begins again rather than trust a record that
    /// lacks this one.
    pub(crate) fn append(&self, records: &[Record]) -> std::io::Result<()> {
        let mut text = String::new();
        for record in records {
            text.push_str(&line(record));
        }
        let mut appender = self
            .appender
            .lock()
            .map_err(|_| std::io::Error::other("the record's lock was poisoned"))?;
        if let Some(why) = &appender.broken {
            return Err(std::io::Error::other(format!("the record is unusable since {why}")));
        }
        let written = appender
            .file
            .write_all(text.as_bytes())
            .and_then(|()| appender.file.sync_data());
        match written {
            Ok(()) => {
                appender.length = appender.length.saturating_add(text.len() as u64);
                appender.lines = appender.lines.saturating_add(records.len());
                Ok(())
            }
            Err(error) => {
                let good = appender.length;
                let _ = appender
                    .file
                    .set_len(good)
                    .and_then(|()| appender.file.seek(SeekFrom::Start(good)).map(drop));
                self.put_aside(&mut appender, format!("a write failed ({error})"));
                Err(error)
            }
        }
    }

    /// Writes the file anew with the records `live` gives when more than
    /// twice as many lines as `records_kept` were written since the last
    /// time (blocking). `live` is called with the file locked, so no
    /// record written meanwhile is lost; `None` from it puts the file
    /// aside.
    pub(crate) fn compact_if_long(
        &self,
        records_kept: usize,
        live: impl FnOnce() -> Option<Vec<Record>>,
    ) -> std::io::Result<()> {
        let mut appender = self
            .appender
            .lock()
            .map_err(|_| std::io::Error::other("the record's lock was poisoned"))?;
        if appender.broken.is_some() || appender.lines <= records_kept.saturating_mul(2).saturating_add(1000) {
            return Ok(());
        }
        // What is live cannot be told (a lock poisoned): writing anything
        // would drop records while the epoch claims them kept.
        let Some(live) = live() else {
            self.put_aside(&mut appender, "its live records could not be read".into());
            return Err(std::io::Error::other("the live logout records could not be read"));
        };
        match rewrite(&self.path, appender.epoch, &live) {
            Ok((file, length)) => {
                appender.file = file;
                appender.length = length;
                appender.lines = 0;
                Ok(())
            }
            // The file in place is either the old one, whole, or the new
            // one, whole (the rename is atomic); the handle kept writes to
            // the old one, which is no longer the file if the rename
            // happened: stop writing.
            Err(error) => {
                self.put_aside(&mut appender, format!("writing it anew failed ({error})"));
                Err(error)
            }
        }
    }

    /// Nothing more is written (`why`), and the file is renamed aside so
    /// that the next start begins the record again rather than trust one
    /// lacking what comes from now on.
    fn put_aside(&self, appender: &mut Appender, why: String) {
        let aside = sibling(&self.path, ".unusable").map(|aside| std::fs::rename(&self.path, aside));
        // Not renamed (a directory that became read-only...): emptied
        // through the handle held, it is no record the next start trusts.
        let gone = matches!(aside, Ok(Ok(()))) || appender.file.set_len(0).is_ok();
        event!(
            error,
            "oidc: the logout records at {} are unusable: {why}; they are put aside{}, logouts answer `503` \
             until a restart, which begins the record again, refusing every older cookie session once",
            self.path.display(),
            if gone {
                ""
            } else {
                " (they could not be: remove the file by hand before the next start)"
            }
        );
        appender.broken = Some(why);
    }
}

/// The lock at `path`, waiting up to [`LOCK_WAIT`] for a process that
/// holds it to let it go.
fn take_lock(path: &Path) -> Result<File, Unusable> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match owner_file::lock_exclusive(path) {
            Ok(Some(lock)) => return Ok(lock),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) => {
                return Err(Unusable(format!(
                    "is used by another process ({} is locked): each instance needs its own file, or share \
                     logouts through `[oidc.redis]`",
                    path.display()
                )));
            }
            Err(error) => return Err(Unusable(format!("cannot lock {} ({error})", path.display()))),
        }
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

/// Writes the file anew (atomically, owner-only) with `records`: the file
/// to append to, and its length.
fn rewrite(path: &Path, epoch: UnixMillis, records: &[Record]) -> std::io::Result<(File, u64)> {
    // Times are written as numbers: Unix seconds, milliseconds for the
    // epoch and the login and logout times.
    let mut text = format!("{HEADER} {}\n", epoch.millis());
    for record in records {
        text.push_str(&line(record));
    }
    let file = owner_file::replace(path, text.as_bytes())?;
    Ok((file, text.len() as u64))
}

fn line(record: &Record) -> String {
    match record {
        Record::Session {
            session,
            subject,
            login,
            until,
        } => format!(
            "s {} {} {} {}\n",
            hex(session),
            until.secs(),
            hex(subject),
            login.millis()
        ),
        Record::Sid {
            sid,
            subject,
            at,
            until,
        } => {
            let subject = subject.map_or_else(|| "-".to_string(), |subject| hex(&subject));
            format!("i {} {} {subject} {}\n", hex(sid), until.secs(), at.millis())
        }
        Record::Sub { subject, at, until } => format!("u {} {} {}\n", hex(subject), until.secs(), at.millis()),
        Record::UsedToken { token, until } => format!("t {} {}\n", hex(token), until.secs()),
    }
}

/// The records of a file's `bytes` live at `now`; why not, when anything
/// but an unfinished last line (a crash while writing: that logout never
/// answered) is not one of ours.
fn parse(bytes: &[u8], now: UnixTime) -> Result<ReadBack, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the record is not text".to_string())?;
    let mut lines: Vec<&str> = text.split('\n').collect();
    // The last piece is empty after a final newline, or an unfinished line.
    lines.pop();
    let mut lines = lines.into_iter();
    let epoch = lines
        .next()
        .and_then(|header| header.strip_prefix(HEADER))
        .and_then(|epoch| epoch.trim().parse::<i64>().ok())
        .map(UnixMillis::from_millis)
        .ok_or_else(|| "the record does not begin as one of ours".to_string())?;
    let mut records = Vec::new();
    for (number, text) in lines.enumerate() {
        let record = parse_line(text).ok_or_else(|| format!("line {} of the record is not one of ours", number + 2))?;
        if record.until() > now {
            records.push(record);
        }
    }
    Ok(ReadBack {
        epoch,
        records,
        started_anew: None,
    })
}

fn parse_line(line: &str) -> Option<Record> {
    let mut words = line.split(' ');
    let kind = words.next()?;
    let digest = unhex(words.next()?)?;
    let until = UnixTime::from_secs(words.next()?.parse().ok()?);
    let millis = |word: &str| word.parse().ok().map(UnixMillis::from_millis);
    let record = match kind {
        "s" => Record::Session {
            session: digest,
            subject: unhex(words.next()?)?,
            login: millis(words.next()?)?,
            until,
        },
        "i" => {
            let subject = match words.next()? {
                "-" => None,
                subject => Some(unhex(subject)?),
            };
            Record::Sid {
                sid: digest,
                subject,
                at: millis(words.next()?)?,
                until,
            }
        }
        "u" => Record::Sub {
            subject: digest,
            at: millis(words.next()?)?,
            until,
        },
        "t" => Record::UsedToken { token: digest, until },
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
pub(crate) mod tests {
    use super::*;

    /// A fresh directory of this user's only, for one test's files.
    pub(crate) fn scratch_dir(name: &str) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rocket-oidc-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        dir
    }

    /// A write that fails (here: to a handle that cannot write, as a full
    /// disk or an I/O error would) is undone, the file is put aside, and
    /// nothing more is written: the next start finds no file and begins
    /// anew (a new epoch), rather than trust a record lacking that logout.
    #[test]
    fn a_record_that_could_not_be_written_puts_the_file_aside() {
        let dir = scratch_dir("unwritten");
        let path = dir.join("logouts");
        let (file, read) =
            LogoutFile::open(&path, UnixTime::from_secs(0), UnixMillis::from_millis(1_000), 1 << 20).unwrap();
        assert_eq!(read.epoch, UnixMillis::from_millis(1_000));
        file.append(&records()[..1]).unwrap();
        file.appender.lock().unwrap().file = File::open(&path).unwrap();
        assert!(file.append(&records()[1..2]).is_err());
        assert!(!path.exists(), "put aside");
        assert!(dir.join("logouts.unusable").exists());
        file.appender.lock().unwrap().file = File::options().append(true).open(dir.join("logouts.unusable")).unwrap();
        assert!(file.append(&records()[1..2]).is_err(), "nothing more is written");
        drop(file);
        let (_file, read) =
            LogoutFile::open(&path, UnixTime::from_secs(0), UnixMillis::from_millis(2_000), 1 << 20).unwrap();
        assert_eq!(read.epoch, UnixMillis::from_millis(2_000), "begun anew");
        assert!(read.records.is_empty());
        assert!(
            read.started_anew.is_some_and(|why| why.contains("put aside")),
            "and said so"
        );
    }

    /// Begun anew (more live records than the limits hold), the file says
    /// so on disk at once, with the new epoch: a later compaction or start
    /// never pairs the old epoch with only the new records.
    #[test]
    fn a_record_begun_anew_carries_its_new_epoch_on_disk() {
        let dir = scratch_dir("anew");
        let path = dir.join("logouts");
        let (file, _) =
            LogoutFile::open(&path, UnixTime::from_secs(0), UnixMillis::from_millis(1_000), 1 << 20).unwrap();
        file.append(&records()).unwrap();
        file.start_anew(UnixMillis::from_millis(3_000)).unwrap();
        file.append(&records()[..1]).unwrap();
        file.compact_if_long(0, || Some(records()[..1].to_vec())).unwrap();
        drop(file);
        let (_file, read) =
            LogoutFile::open(&path, UnixTime::from_secs(0), UnixMillis::from_millis(9_000), 1 << 20).unwrap();
        assert_eq!(read.epoch, UnixMillis::from_millis(3_000));
        assert_eq!(read.records, records()[..1].to_vec());
    }

    fn records() -> Vec<Record> {
        vec![
            Record::Session {
                session: [1; 32],
                subject: [2; 32],
                login: UnixMillis::from_millis(5_000),
                until: UnixTime::from_secs(100),
            },
            Record::Sid {
                sid: [3; 32],
                subject: None,
                at: UnixMillis::from_millis(6_000),
                until: UnixTime::from_secs(200),
            },
            Record::Sid {
                sid: [5; 32],
                subject: Some([2; 32]),
                at: UnixMillis::from_millis(6_500),
                until: UnixTime::from_secs(250),
            },
            Record::Sub {
                subject: [4; 32],
                at: UnixMillis::from_millis(7_000),
                until: UnixTime::from_secs(300),
            },
            Record::UsedToken {
                token: [6; 32],
                until: UnixTime::from_secs(50),
            },
        ]
    }

    #[test]
    fn the_lines_are_written_as_before_until_in_seconds_times_in_milliseconds() {
        // What a record written by an earlier release looks like: pinned.
        let hex = |byte: u8| format!("{byte:02x}").repeat(32);
        let lines: Vec<String> = records().iter().map(line).collect();
        assert_eq!(
            lines,
            [
                format!("s {} 100 {} 5000\n", hex(1), hex(2)),
                format!("i {} 200 - 6000\n", hex(3)),
                format!("i {} 250 {} 6500\n", hex(5), hex(2)),
                format!("u {} 300 7000\n", hex(4)),
                format!("t {} 50\n", hex(6)),
            ]
        );
        let read = parse(
            format!("{HEADER} 42\n{}", lines.concat()).as_bytes(),
            UnixTime::from_secs(0),
        )
        .expect("ours");
        assert_eq!(read.records, records());
    }

    #[test]
    fn records_read_back_as_written_and_expired_ones_are_dropped() {
        let mut text = format!("{HEADER} 42\n");
        for record in records() {
            text.push_str(&line(&record));
        }
        let read = parse(text.as_bytes(), UnixTime::from_secs(0)).expect("ours");
        assert_eq!(read.epoch, UnixMillis::from_millis(42));
        assert_eq!(read.records, records());
        assert_eq!(
            parse(text.as_bytes(), UnixTime::from_secs(150))
                .expect("ours")
                .records
                .len(),
            3
        );
        // A line cut short by a crash is no record (its logout never answered).
        let torn = format!("{text}s 0101");
        assert_eq!(
            parse(torn.as_bytes(), UnixTime::from_secs(0)).expect("ours").records,
            records()
        );
    }

    #[test]
    fn a_file_that_is_not_ours_is_not_guessed_at() {
        for text in [
            "".to_string(),
            "something else\n".to_string(),
            format!("{HEADER} 42\nx 00 1\n"),
            format!("{HEADER} 42\ns {} 100\n", "zz".repeat(32)),
            format!("{HEADER} 42\nt {} 100 extra\n", "00".repeat(32)),
        ] {
            assert!(parse(text.as_bytes(), UnixTime::from_secs(0)).is_err(), "{text:?}");
        }
    }
}
