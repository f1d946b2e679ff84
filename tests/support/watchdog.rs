//! Bounds a test in time: a long fault-injection test that hangs fails (the whole test binary
//! exits with a message) instead of blocking CI until its global timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Disarmed when dropped.
pub struct Watchdog {
    disarmed: Arc<AtomicBool>,
}

impl Watchdog {
    /// After `limit`, prints `what` and exits the test process with status 101 (as a failed
    /// test does).
    pub fn arm(what: &str, limit: Duration) -> Watchdog {
        let disarmed = Arc::new(AtomicBool::new(false));
        let flag = disarmed.clone();
        let what = what.to_string();
        std::thread::spawn(move || {
            let step = Duration::from_millis(200);
            let mut waited = Duration::ZERO;
            while waited < limit {
                std::thread::sleep(step);
                waited += step;
                if flag.load(Ordering::SeqCst) {
                    return;
                }
            }
            eprintln!("WATCHDOG: {what} did not finish within {limit:?}; failing the test run");
            std::process::exit(101);
        });
        Watchdog { disarmed }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.disarmed.store(true, Ordering::SeqCst);
    }
}
