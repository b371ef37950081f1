//! The Lua scripts the store runs, each atomic in Redis, one file each
//! under `scripts/`: the file says its keys, its arguments and what it
//! returns.

pub(super) const INSERT_SESSION: &str = include_str!("scripts/insert_session.lua");
pub(super) const END_SESSIONS: &str = include_str!("scripts/end_sessions.lua");
pub(super) const REVOKE_SUB: &str = include_str!("scripts/revoke_sub.lua");
pub(super) const IS_REVOKED: &str = include_str!("scripts/is_revoked.lua");
pub(super) const NOTE_LOGIN: &str = include_str!("scripts/note_login.lua");
pub(super) const REVOKE_SESSION: &str = include_str!("scripts/revoke_session.lua");
pub(super) const FIRST_USE: &str = include_str!("scripts/first_use.lua");
pub(super) const FIRST_USE_OWNED: &str = include_str!("scripts/first_use_owned.lua");
pub(super) const CLAIM: &str = include_str!("scripts/claim.lua");
pub(super) const RELEASE: &str = include_str!("scripts/release.lua");
pub(super) const EXTEND: &str = include_str!("scripts/extend.lua");
