//! When to retry a failed attempt: Temporal-style exponential backoff with
//! jitter.

use std::time::Duration;

use baton_workflow::definition::RetryPolicy;

/// How much of a delay jitter may take away: delays fall in `[0.9 d, d]`, so
/// a retry never comes later than the policy says, and runs that failed
/// together do not all retry in the same instant.
pub const JITTER: f64 = 0.1;

/// The delay before the attempt after `attempt` (1-based), with `jitter` in
/// `[0, 1)` drawn by the caller; `None` if the policy allows no more attempts.
pub fn delay(policy: &RetryPolicy, attempt: u32, jitter: f64) -> Option<Duration> {
    if attempt >= policy.max_attempts {
        return None;
    }
    let base = policy.initial_interval.as_secs_f64()
        * policy
            .backoff
            .max(1.0)
            .powi(attempt.saturating_sub(1) as i32);
    let capped = base.min(policy.max_interval.as_secs_f64());
    let jittered = capped * (1.0 - JITTER * jitter.clamp(0.0, 1.0));
    Some(Duration::from_secs_f64(jittered.max(0.0)))
}

/// Whether a failure of this kind may be retried under `policy`: only
/// transient kinds, and none the policy lists as non-retryable.
pub fn allows(policy: &RetryPolicy, kind: &str) -> bool {
    matches!(kind, "retryable" | "timeout" | "internal")
        && !policy.non_retryable.iter().any(|k| k == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_interval: Duration::from_millis(100),
            backoff: 2.0,
            max_interval: Duration::from_millis(300),
            non_retryable: vec!["timeout".into()],
        }
    }

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let p = policy();
        let d: Vec<u128> = (1..5)
            .map(|a| delay(&p, a, 0.0).unwrap().as_millis())
            .collect();
        assert_eq!(d, [100, 200, 300, 300]);
        assert_eq!(delay(&p, 5, 0.0), None);
    }

    #[test]
    fn jitter_only_shortens_by_at_most_a_tenth() {
        let p = policy();
        let d = delay(&p, 2, 0.999).unwrap().as_millis();
        assert!((180..=200).contains(&d), "{d}");
    }

    #[test]
    fn only_transient_kinds_not_excluded_are_retried() {
        let p = policy();
        assert!(allows(&p, "retryable"));
        assert!(allows(&p, "internal"));
        assert!(!allows(&p, "timeout"));
        assert!(!allows(&p, "fatal"));
        assert!(!allows(&p, "trap"));
    }
}
