//! The logouts this process must remember (without Redis): sessions kept
//! in browsers (the cookie store) cannot be deleted, so a logout is a
//! record that refuses them until they would have expired: by session, by
//! the provider's `sid`, or by the provider's `sub` (every session of the
//! user authenticated until then).
//!
//! One account cannot fill the record for everyone: what a user's own
//! logouts leave (their sessions logged out here, and the provider's
//! logouts of their `sid`s) is at most `limits.revocations_per_subject`
//! single records. Past that, their records become one: every session of
//! theirs authenticated until the latest of them ends, which refuses
//! everything the single records refused (and, at worst, that user's older
//! sessions elsewhere), but one: a login of a collapsed `sid` whose code
//! was issued before the provider's logout and whose session was made after
//! the logout arrived; the `sid` record would have ended it, the subject's
//! ends only sessions made until then. Only an account past its share can
//! meet that race, with its own login.

use std::collections::HashMap;

use crate::store::ledger::{Full, Ledger};

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
    /// Every session with this provider and `sid` (digest) is over; the
    /// logout, of this subject when the provider named it, came at `at_ms`.
    Sid {
        sid: Digest,
        subject: Option<Digest>,
        at_ms: i64,
        until: i64,
    },
    /// Every session of this subject authenticated at or before `at_ms`
    /// is over.
    Sub { subject: Digest, at_ms: i64, until: i64 },
    /// A back-channel logout token (its issuer and `jti`, digest) was used.
    UsedToken { token: Digest, until: i64 },
}

impl Record {
    /// Until when the record is kept (Unix s).
    pub(crate) fn until(&self) -> i64 {
        match self {
            Record::Session { until, .. }
            | Record::Sid { until, .. }
            | Record::Sub { until, .. }
            | Record::UsedToken { until, .. } => *until,
        }
    }
}

/// What a single record of a subject is: a session or a `sid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Single {
    Session(Digest),
    Sid(Digest),
}

pub(crate) struct LogoutRecords {
    per_subject: usize,
    /// Session id digest → (subject, login ms).
    sessions: Ledger<Digest, (Digest, i64)>,
    /// `sid` digest → (subject, logout ms) when the provider named one.
    sids: Ledger<Digest, Option<(Digest, i64)>>,
    /// The live single records of each subject, with their time (login or
    /// logout, ms).
    by_subject: HashMap<Digest, HashMap<Single, i64>>,
    /// Subject → logout time (Unix ms).
    subs: Ledger<Digest, i64>,
}

impl LogoutRecords {
    /// Records of at most `capacity` sessions, `sid`s and subjects each,
    /// `per_subject` single records per subject.
    pub(crate) fn new(capacity: usize, per_subject: usize) -> LogoutRecords {
        LogoutRecords {
            per_subject: per_subject.max(1),
            sessions: Ledger::new(capacity),
            sids: Ledger::new(capacity),
            by_subject: HashMap::new(),
            subs: Ledger::new(capacity),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.sessions.capacity()
    }

    fn purge(&mut self, now: i64) {
        let by_subject = &mut self.by_subject;
        let mut forget = |subject: Digest, single: Single| {
            if let Some(own) = by_subject.get_mut(&subject) {
                own.remove(&single);
                if own.is_empty() {
                    by_subject.remove(&subject);
                }
            }
        };
        self.sessions
            .purge_each(now, |session, (subject, _)| forget(subject, Single::Session(session)));
        self.sids.purge_each(now, |sid, owner| {
            if let Some((subject, _)) = owner {
                forget(subject, Single::Sid(sid));
            }
        });
        self.subs.purge(now);
    }

    /// Keeps `record`; what was kept in the end (the record, or the one
    /// record of its subject it became), to be written down. A used token
    /// is none of these records' business: kept as is.
    pub(crate) fn keep(&mut self, record: Record, now: i64) -> Result<Record, Full> {
        self.purge(now);
        match record {
            Record::Session {
                session,
                subject,
                login_ms,
                until,
            } => self.keep_single(Single::Session(session), subject, login_ms, until, now),
            Record::Sid {
                sid,
                subject: Some(subject),
                at_ms,
                until,
            } => self.keep_single(Single::Sid(sid), subject, at_ms, until, now),
            Record::Sid {
                sid,
                subject: None,
                until,
                ..
            } => {
                let until = until.max(self.sids.expiry(&sid).unwrap_or(until));
                let owner = self.sids.get(&sid, now).copied().flatten();
                self.sids.upsert(sid, until, owner, now)?;
                Ok(record)
            }
            Record::Sub { subject, at_ms, until } => self.keep_sub(subject, at_ms, until, now),
            Record::UsedToken { .. } => Ok(record),
        }
    }

    /// Keeps a single record of `subject`, or, past its share, makes all of
    /// that subject's one.
    fn keep_single(
        &mut self,
        single: Single,
        subject: Digest,
        time_ms: i64,
        until: i64,
        now: i64,
    ) -> Result<Record, Full> {
        let own = self.by_subject.get(&subject).map_or(0, HashMap::len);
        let known = self
            .by_subject
            .get(&subject)
            .is_some_and(|own| own.contains_key(&single));
        if known || own < self.per_subject {
            let record = match single {
                Single::Session(session) => {
                    let until = until.max(self.sessions.expiry(&session).unwrap_or(until));
                    self.sessions.upsert(session, until, (subject, time_ms), now)?;
                    Record::Session {
                        session,
                        subject,
                        login_ms: time_ms,
                        until,
                    }
                }
                Single::Sid(sid) => {
                    let until = until.max(self.sids.expiry(&sid).unwrap_or(until));
                    self.sids.upsert(sid, until, Some((subject, time_ms)), now)?;
                    Record::Sid {
                        sid,
                        subject: Some(subject),
                        at_ms: time_ms,
                        until,
                    }
                }
            };
            self.by_subject.entry(subject).or_default().insert(single, time_ms);
            return Ok(record);
        }
        // One record for all of this subject's: the sessions authenticated
        // until the latest of them, for as long as the longest.
        let mut at_ms = time_ms;
        let mut longest = until;
        if let Some(own) = self.by_subject.get(&subject) {
            for (single, time) in own {
                at_ms = at_ms.max(*time);
                let expiry = match single {
                    Single::Session(session) => self.sessions.expiry(session),
                    Single::Sid(sid) => self.sids.expiry(sid),
                };
                longest = longest.max(expiry.unwrap_or(until));
            }
        }
        let kept = self.keep_sub(subject, at_ms, longest, now)?;
        if let Some(own) = self.by_subject.remove(&subject) {
            for single in own.keys() {
                match single {
                    Single::Session(session) => self.sessions.remove(session).map(drop),
                    Single::Sid(sid) => self.sids.remove(sid).map(drop),
                };
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
        let sids = self.sids.live(now).map(|(sid, until, owner)| Record::Sid {
            sid: *sid,
            subject: owner.map(|(subject, _)| subject),
            at_ms: owner.map_or(0, |(_, at_ms)| at_ms),
            until,
        });
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

    fn sid(n: u8, subject: Option<u8>, at_ms: i64) -> Record {
        Record::Sid {
            sid: d(n),
            subject: subject.map(d),
            at_ms,
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
    fn the_providers_logouts_of_one_users_sids_count_in_that_users_share() {
        let mut records = LogoutRecords::new(100, 2);
        assert!(records.keep(sid(1, Some(9), 100), 0).is_ok());
        assert!(records.keep(session(2, 9, 150), 0).is_ok());
        // The third single record of subject 9 (a sid): all become one, at
        // the latest time among them.
        let kept = records.keep(sid(3, Some(9), 200), 0).expect("room");
        assert_eq!(
            kept,
            Record::Sub {
                subject: d(9),
                at_ms: 200,
                until: 1_000
            }
        );
        // Every session those records ended stays ended: of sid 1 or 3
        // (authenticated before their logouts), and session 2.
        assert!(records.ends_by_provider(Some(&d(1)), &d(9), 90, 0));
        assert!(records.ends_by_provider(Some(&d(3)), &d(9), 190, 0));
        assert!(records.ends(&d(2), None, &d(9), 150, 0));
        // A `sid` the provider named without a `sub` is nobody's share.
        for n in 10..20 {
            assert!(records.keep(sid(n, None, 0), 0).is_ok());
        }
        assert!(records.ends_by_provider(Some(&d(15)), &d(8), 0, 0));
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
