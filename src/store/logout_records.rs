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

use crate::clock::{UnixMillis, UnixTime};
use crate::store::ledger::{Full, Ledger};

pub(crate) type Digest = [u8; 32];

/// One record, as it is kept and written down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// The session with this id digest, of this subject, authenticated at
    /// `login`, is over until `until`.
    Session {
        session: Digest,
        subject: Digest,
        login: UnixMillis,
        until: UnixTime,
    },
    /// Every session with this provider and `sid` (digest) is over; the
    /// logout, of this subject when the provider named it, came `at`.
    Sid {
        sid: Digest,
        subject: Option<Digest>,
        at: UnixMillis,
        until: UnixTime,
    },
    /// Every session of this subject authenticated at or before `at` is
    /// over.
    Sub {
        subject: Digest,
        at: UnixMillis,
        until: UnixTime,
    },
    /// A back-channel logout token (its issuer and `jti`, digest) was used.
    UsedToken { token: Digest, until: UnixTime },
}

impl Record {
    /// Until when the record is kept.
    pub(crate) fn until(&self) -> UnixTime {
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
    /// Session id digest → (subject, login).
    sessions: Ledger<Digest, (Digest, UnixMillis)>,
    /// `sid` digest → (subject, logout) when the provider named one.
    sids: Ledger<Digest, Option<(Digest, UnixMillis)>>,
    /// The live single records of each subject, with their time (login or
    /// logout).
    by_subject: HashMap<Digest, HashMap<Single, UnixMillis>>,
    /// Subject → logout time.
    subs: Ledger<Digest, UnixMillis>,
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

    fn purge(&mut self, now: UnixTime) {
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
    pub(crate) fn keep(&mut self, record: Record, now: UnixTime) -> Result<Record, Full> {
        self.purge(now);
        match record {
            Record::Session {
                session,
                subject,
                login,
                until,
            } => self.keep_single(Single::Session(session), subject, login, until, now),
            Record::Sid {
                sid,
                subject: Some(subject),
                at,
                until,
            } => self.keep_single(Single::Sid(sid), subject, at, until, now),
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
            Record::Sub { subject, at, until } => self.keep_sub(subject, at, until, now),
            Record::UsedToken { .. } => Ok(record),
        }
    }

    /// Keeps a single record of `subject`, or, past its share, makes all of
    /// that subject's one.
    fn keep_single(
        &mut self,
        single: Single,
        subject: Digest,
        time: UnixMillis,
        until: UnixTime,
        now: UnixTime,
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
                    self.sessions.upsert(session, until, (subject, time), now)?;
                    Record::Session {
                        session,
                        subject,
                        login: time,
                        until,
                    }
                }
                Single::Sid(sid) => {
                    let until = until.max(self.sids.expiry(&sid).unwrap_or(until));
                    self.sids.upsert(sid, until, Some((subject, time)), now)?;
                    Record::Sid {
                        sid,
                        subject: Some(subject),
                        at: time,
                        until,
                    }
                }
            };
            self.by_subject.entry(subject).or_default().insert(single, time);
            return Ok(record);
        }
        // One record for all of this subject's: the sessions authenticated
        // until the latest of them, for as long as the longest.
        let mut at = time;
        let mut longest = until;
        if let Some(own) = self.by_subject.get(&subject) {
            for (single, time) in own {
                at = at.max(*time);
                let expiry = match single {
                    Single::Session(session) => self.sessions.expiry(session),
                    Single::Sid(sid) => self.sids.expiry(sid),
                };
                longest = longest.max(expiry.unwrap_or(until));
            }
        }
        let kept = self.keep_sub(subject, at, longest, now)?;
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

    fn keep_sub(&mut self, subject: Digest, at: UnixMillis, until: UnixTime, now: UnixTime) -> Result<Record, Full> {
        let (at, until) = match (self.subs.get(&subject, now), self.subs.expiry(&subject)) {
            (Some(earlier), Some(expiry)) => (at.max(*earlier), until.max(expiry)),
            _ => (at, until),
        };
        self.subs.upsert(subject, until, at, now)?;
        Ok(Record::Sub { subject, at, until })
    }

    /// Whether a record ends the session with this id digest, `sid` key
    /// and subject, authenticated at `login`.
    pub(crate) fn ends(
        &self,
        session: &Digest,
        sid: Option<&Digest>,
        subject: &Digest,
        login: UnixMillis,
        now: UnixTime,
    ) -> bool {
        self.sessions.get(session, now).is_some() || self.ends_by_provider(sid, subject, login, now)
    }

    /// Whether a logout by the provider (`sid`, or `sub`) ends it.
    pub(crate) fn ends_by_provider(
        &self,
        sid: Option<&Digest>,
        subject: &Digest,
        login: UnixMillis,
        now: UnixTime,
    ) -> bool {
        let by_sid = sid.is_some_and(|sid| self.sids.get(sid, now).is_some());
        let by_sub = self.subs.get(subject, now).is_some_and(|at| login <= *at);
        by_sid || by_sub
    }

    /// Every live record, to write down anew.
    pub(crate) fn live(&self, now: UnixTime) -> Vec<Record> {
        let sessions = self
            .sessions
            .live(now)
            .map(|(session, until, (subject, login))| Record::Session {
                session: *session,
                subject: *subject,
                login: *login,
                until,
            });
        let sids = self.sids.live(now).map(|(sid, until, owner)| Record::Sid {
            sid: *sid,
            subject: owner.map(|(subject, _)| subject),
            at: owner.map_or(UnixMillis::default(), |(_, at)| at),
            until,
        });
        let subs = self.subs.live(now).map(|(subject, until, at)| Record::Sub {
            subject: *subject,
            at: *at,
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

    /// `seconds` as a calendar time.
    fn at(seconds: i64) -> UnixTime {
        UnixTime::from_secs(seconds)
    }

    /// `ms` milliseconds into the epoch.
    fn ms(milliseconds: i64) -> UnixMillis {
        UnixMillis::from_millis(milliseconds)
    }

    fn session(n: u8, subject: u8, login_ms: i64) -> Record {
        Record::Session {
            session: d(n),
            subject: d(subject),
            login: ms(login_ms),
            until: at(1_000),
        }
    }

    fn sid(n: u8, subject: Option<u8>, at_ms: i64) -> Record {
        Record::Sid {
            sid: d(n),
            subject: subject.map(d),
            at: ms(at_ms),
            until: at(1_000),
        }
    }

    #[test]
    fn one_subjects_records_become_one_past_its_share_and_end_no_less() {
        let mut records = LogoutRecords::new(100, 3);
        for n in 1..=3 {
            assert_eq!(
                records.keep(session(n, 9, i64::from(n) * 10), at(0)),
                Ok(session(n, 9, i64::from(n) * 10))
            );
        }
        // A fourth session of subject 9: one record, the latest login (40).
        let kept = records.keep(session(4, 9, 40), at(0)).expect("room");
        assert_eq!(
            kept,
            Record::Sub {
                subject: d(9),
                at: ms(40),
                until: at(1_000)
            }
        );
        for n in 1..=4 {
            assert!(
                records.ends(&d(n), None, &d(9), ms(i64::from(n) * 10), at(0)),
                "session {n} stays ended"
            );
        }
        assert!(
            !records.ends(&d(5), None, &d(9), ms(50), at(0)),
            "a later login is not ended"
        );
        assert_eq!(records.len(), 1);
        // Another subject still has its own share.
        assert_eq!(records.keep(session(7, 8, 5), at(0)), Ok(session(7, 8, 5)));
    }

    #[test]
    fn the_providers_logouts_of_one_users_sids_count_in_that_users_share() {
        let mut records = LogoutRecords::new(100, 2);
        assert!(records.keep(sid(1, Some(9), 100), at(0)).is_ok());
        assert!(records.keep(session(2, 9, 150), at(0)).is_ok());
        // The third single record of subject 9 (a sid): all become one, at
        // the latest time among them.
        let kept = records.keep(sid(3, Some(9), 200), at(0)).expect("room");
        assert_eq!(
            kept,
            Record::Sub {
                subject: d(9),
                at: ms(200),
                until: at(1_000)
            }
        );
        // Every session those records ended stays ended: of sid 1 or 3
        // (authenticated before their logouts), and session 2.
        assert!(records.ends_by_provider(Some(&d(1)), &d(9), ms(90), at(0)));
        assert!(records.ends_by_provider(Some(&d(3)), &d(9), ms(190), at(0)));
        assert!(records.ends(&d(2), None, &d(9), ms(150), at(0)));
        // A `sid` the provider named without a `sub` is nobody's share.
        for n in 10..20 {
            assert!(records.keep(sid(n, None, 0), at(0)).is_ok());
        }
        assert!(records.ends_by_provider(Some(&d(15)), &d(8), ms(0), at(0)));
    }

    #[test]
    fn a_full_record_refuses_rather_than_forgets() {
        let mut records = LogoutRecords::new(2, 10);
        records.keep(session(1, 1, 0), at(0)).expect("room");
        records.keep(session(2, 2, 0), at(0)).expect("room");
        assert_eq!(records.keep(session(3, 3, 0), at(0)), Err(Full));
        assert!(records.ends(&d(1), None, &d(1), ms(0), at(0)) && records.ends(&d(2), None, &d(2), ms(0), at(0)));
        // Expired records make room.
        assert!(records.keep(session(3, 3, 0), at(1_000)).is_ok());
    }
}
