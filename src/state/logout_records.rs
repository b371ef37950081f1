//! The logouts this process must remember (without Redis): sessions kept
//! in browsers (the cookie store) cannot be deleted, so a logout is a
//! record that refuses them until they would have expired: by session, by
//! the provider's `sid`, or by the provider's `sub` (every session of the
//! user authenticated until then).
//!
//! One account cannot fill the record for everyone: a user holds at most
//! `limits.revocations_per_subject` records of single sessions. Past that,
//! their records become one: every session of theirs authenticated until
//! the latest of them ends, which refuses everything the single records
//! refused (and, at worst, that user's older sessions on other devices).
//! Nothing a record refused is ever let in again.

use std::collections::HashMap;

use crate::state::ledger::{Full, Ledger};

pub(crate) type Digest = [u8; 32];

/// One record, as it is kept and written down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// The session with this id digest, of this subject, authenticated at
    /// `login_ms`, is over until `until` (Unix s).
    Session {
        session: Digest,
        subject: Digest,
        login_ms: i64,
        until: i64,
    },
    /// Every session with this provider and `sid` (digest) is over.
    Sid { sid: Digest, until: i64 },
    /// Every session of this subject authenticated at or before `at_ms`
    /// is over.
    Sub { subject: Digest, at_ms: i64, until: i64 },
}

pub(crate) struct LogoutRecords {
    per_subject: usize,
    /// Session id digest → (subject, login ms).
    sessions: Ledger<Digest, (Digest, i64)>,
    /// The live session records of each subject: session → login ms.
    by_subject: HashMap<Digest, HashMap<Digest, i64>>,
    sids: Ledger<Digest>,
    /// Subject → logout time (Unix ms).
    subs: Ledger<Digest, i64>,
}

impl LogoutRecords {
    /// Records of at most `capacity` sessions, `sid`s and subjects each,
    /// `per_subject` single sessions per subject.
    pub(crate) fn new(capacity: usize, per_subject: usize) -> LogoutRecords {
        LogoutRecords {
            per_subject: per_subject.max(1),
            sessions: Ledger::new(capacity),
            by_subject: HashMap::new(),
            sids: Ledger::new(capacity),
            subs: Ledger::new(capacity),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.sessions.capacity()
    }

    fn purge(&mut self, now: i64) {
        let by_subject = &mut self.by_subject;
        self.sessions.purge_each(now, |session, (subject, _)| {
            if let Some(own) = by_subject.get_mut(&subject) {
                own.remove(&session);
                if own.is_empty() {
                    by_subject.remove(&subject);
                }
            }
        });
        self.sids.purge(now);
        self.subs.purge(now);
    }

    /// Keeps `record`; what was kept in the end (the record, or the one
    /// record of its subject it became), to be written down.
    pub(crate) fn keep(&mut self, record: Record, now: i64) -> Result<Record, Full> {
        self.purge(now);
        match record {
            Record::Session {
                session,
                subject,
                login_ms,
                until,
            } => self.keep_session(session, subject, login_ms, until, now),
            Record::Sid { sid, until } => {
                self.sids
                    .upsert(sid, until.max(self.sids.expiry(&sid).unwrap_or(until)), (), now)?;
                Ok(record)
            }
            Record::Sub { subject, at_ms, until } => self.keep_sub(subject, at_ms, until, now),
        }
    }

    fn keep_session(
        &mut self,
        session: Digest,
        subject: Digest,
        login_ms: i64,
        until: i64,
        now: i64,
    ) -> Result<Record, Full> {
        let own = self.by_subject.get(&subject).map_or(0, HashMap::len);
        let known = self.sessions.get(&session, now).is_some();
        if known || own < self.per_subject {
            let until = until.max(self.sessions.expiry(&session).unwrap_or(until));
            self.sessions.upsert(session, until, (subject, login_ms), now)?;
            self.by_subject.entry(subject).or_default().insert(session, login_ms);
            return Ok(Record::Session {
                session,
                subject,
                login_ms,
                until,
            });
        }
        // One record for all of this subject's: the sessions authenticated
        // until the latest of them, for as long as the longest.
        let mut at_ms = login_ms;
        let mut longest = until;
        if let Some(own) = self.by_subject.get(&subject) {
            for (session, login) in own {
                at_ms = at_ms.max(*login);
                longest = longest.max(self.sessions.expiry(session).unwrap_or(until));
            }
        }
        let kept = self.keep_sub(subject, at_ms, longest, now)?;
        if let Some(own) = self.by_subject.remove(&subject) {
            for session in own.keys() {
                self.sessions.remove(session);
            }
        }
        Ok(kept)
    }

    fn keep_sub(&mut self, subject: Digest, at_ms: i64, until: i64, now: i64) -> Result<Record, Full> {
        let (at_ms, until) = match (self.subs.get(&subject, now), self.subs.expiry(&subject)) {
            (Some(earlier), Some(expiry)) => (at_ms.max(*earlier), until.max(expiry)),
            _ => (at_ms, until),
        };
        self.subs.upsert(subject, until, at_ms, now)?;
        Ok(Record::Sub { subject, at_ms, until })
    }

    /// Whether a record ends the session with this id digest, `sid` key
    /// and subject, authenticated at `login_ms`.
    pub(crate) fn ends(
        &self,
        session: &Digest,
        sid: Option<&Digest>,
        subject: &Digest,
        login_ms: i64,
        now: i64,
    ) -> bool {
        self.sessions.get(session, now).is_some() || self.ends_by_provider(sid, subject, login_ms, now)
    }

    /// Whether a logout by the provider (`sid`, or `sub`) ends it.
    pub(crate) fn ends_by_provider(&self, sid: Option<&Digest>, subject: &Digest, login_ms: i64, now: i64) -> bool {
        let by_sid = sid.is_some_and(|sid| self.sids.get(sid, now).is_some());
        let by_sub = self.subs.get(subject, now).is_some_and(|at_ms| login_ms <= *at_ms);
        by_sid || by_sub
    }

    /// Every live record, to write down anew.
    pub(crate) fn live(&self, now: i64) -> Vec<Record> {
        let sessions = self
            .sessions
            .live(now)
            .map(|(session, until, (subject, login_ms))| Record::Session {
                session: *session,
                subject: *subject,
                login_ms: *login_ms,
                until,
            });
        let sids = self
            .sids
            .live(now)
            .map(|(sid, until, ())| Record::Sid { sid: *sid, until });
        let subs = self.subs.live(now).map(|(subject, until, at_ms)| Record::Sub {
            subject: *subject,
            at_ms: *at_ms,
            until,
        });
        sessions.chain(sids).chain(subs).collect()
    }

    /// How many records it holds.
    pub(crate) fn len(&self) -> usize {
        self.sessions.len() + self.sids.len() + self.subs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        [n; 32]
    }

    fn session(n: u8, subject: u8, login_ms: i64) -> Record {
        Record::Session {
            session: d(n),
            subject: d(subject),
            login_ms,
            until: 1_000,
        }
    }

    #[test]
    fn one_subjects_records_become_one_past_its_share_and_end_no_less() {
        let mut records = LogoutRecords::new(100, 3);
        for n in 1..=3 {
            assert_eq!(
                records.keep(session(n, 9, i64::from(n) * 10), 0),
                Ok(session(n, 9, i64::from(n) * 10))
            );
        }
        // A fourth session of subject 9: one record, the latest login (40).
        let kept = records.keep(session(4, 9, 40), 0).expect("room");
        assert_eq!(
            kept,
            Record::Sub {
                subject: d(9),
                at_ms: 40,
                until: 1_000
            }
        );
        for n in 1..=4 {
            assert!(
                records.ends(&d(n), None, &d(9), i64::from(n) * 10, 0),
                "session {n} stays ended"
            );
        }
        assert!(!records.ends(&d(5), None, &d(9), 50, 0), "a later login is not ended");
        assert_eq!(records.len(), 1);
        // Another subject still has its own share.
        assert_eq!(records.keep(session(7, 8, 5), 0), Ok(session(7, 8, 5)));
    }

    #[test]
    fn a_full_record_refuses_rather_than_forgets() {
        let mut records = LogoutRecords::new(2, 10);
        records.keep(session(1, 1, 0), 0).expect("room");
        records.keep(session(2, 2, 0), 0).expect("room");
        assert_eq!(records.keep(session(3, 3, 0), 0), Err(Full));
        assert!(records.ends(&d(1), None, &d(1), 0, 0) && records.ends(&d(2), None, &d(2), 0, 0));
        // Expired records make room.
        assert!(records.keep(session(3, 3, 0), 1_000).is_ok());
    }
}
