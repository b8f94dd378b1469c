//! Progress for long calls: a live elapsed-time line on a terminal, a line
//! before and after otherwise.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

/// Run `work`, telling the user on stderr that `what` is under way.
pub async fn during<T>(what: &str, work: impl Future<Output = T>) -> T {
    let start = Instant::now();
    let live = std::io::stderr().is_terminal();
    if !live {
        eprintln!("{what}...");
    }
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if live {
                    eprint!("\r{what}... {:.0?}  ", start.elapsed());
                }
            }
        }
    };
    let took = start.elapsed();
    if live {
        eprint!("\r\x1b[2K");
    }
    eprintln!("{what}: done in {:.1} s", took.as_secs_f64());
    result
}
