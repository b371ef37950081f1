//! What the app logged, for tests that read it. The logger keeps every
//! record with the thread that logged it: the local client runs the app on
//! the test's thread, so a test reads its own lines; what runs in a task of
//! its own (the launch doctor) is read from all of them.

use std::sync::{Mutex, Once};
use std::thread::ThreadId;

use rocket::log::private as log;

struct Line {
    thread: ThreadId,
    target: String,
    message: String,
}

static LINES: Mutex<Vec<Line>> = Mutex::new(Vec::new());

struct CapturingLogger;

impl log::Log for CapturingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let message = format!("{}", record.args());
        println!("[{}] {message}", record.level());
        if let Ok(mut lines) = LINES.lock() {
            lines.push(Line {
                thread: std::thread::current().id(),
                target: record.target().to_string(),
                message,
            });
        }
    }

    fn flush(&self) {}
}

/// Installs the logger, and forgets what this thread logged so far. Every
/// test of a binary that reads logs calls this first, before anything can
/// build a Rocket (whose own logger would otherwise win).
pub fn capture() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if log::set_boxed_logger(Box::new(CapturingLogger)).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
    });
    forget();
}

/// Forgets what this thread logged so far.
pub fn forget() {
    let me = std::thread::current().id();
    if let Ok(mut lines) = LINES.lock() {
        lines.retain(|line| line.thread != me);
    }
}

fn lines(keep: impl Fn(&Line) -> bool) -> Vec<String> {
    LINES
        .lock()
        .map(|lines| lines.iter().filter(|l| keep(l)).map(|l| l.message.clone()).collect())
        .unwrap_or_default()
}

/// What this thread logged since [`capture`] or [`forget`].
pub fn of_this_thread() -> Vec<String> {
    let me = std::thread::current().id();
    lines(|line| line.thread == me)
}

/// What this thread logged under the crate's target `rocket_openidconnect`.
pub fn crate_lines_of_this_thread() -> Vec<String> {
    let me = std::thread::current().id();
    lines(|line| line.thread == me && line.target == "rocket_openidconnect")
}

/// What any thread logged under the crate's target.
pub fn crate_lines() -> Vec<String> {
    lines(|line| line.target == "rocket_openidconnect")
}
