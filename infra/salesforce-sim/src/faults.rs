//! Fault injection for REST calls: the failures a connector must survive, drawn from a seeded
//! random generator so that a run is reproducible.
//!
//! Each REST call draws one number in `[0, 1)` and walks the rates in the order of [`Faults`]'
//! fields: with `rate_503: 0.1, rate_reset: 0.2`, draws below 0.1 answer 503, draws in
//! `[0.1, 0.3)` reset the connection, the rest pass. The same seed and the same sequence of calls
//! give the same faults. OAuth endpoints are never faulted (see [`crate::SalesforceSim::fail_token_requests`]).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Fault rates for REST calls, each a probability in `[0, 1]` (out-of-range values are clamped;
/// the sum should stay at most 1). `Faults::default()` injects nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    /// 503 with an HTML body, as Salesforce's edge sends when an instance is down or overloaded
    /// (salesforce.md §5.2: never assume JSON on 5xx). Nothing is processed.
    pub rate_503: f64,
    /// 403 `REQUEST_LIMIT_EXCEEDED` with `ConcurrentPerOrgLongTxn Limit exceeded.`, the transient
    /// form (the daily `TotalRequests` limit is [`crate::SalesforceSim::set_api_limit`]).
    pub rate_request_limit: f64,
    /// 401 `INVALID_SESSION_ID`, as when a session times out; the token itself stays valid, so
    /// a refresh-and-retry succeeds.
    pub rate_401: f64,
    /// Hangs without answering for [`crate::SalesforceSim::set_timeout_hang`] (default: longer
    /// than Salesforce's own 10-minute limit, so longer than any client timeout), then closes the
    /// connection. Nothing is processed.
    pub rate_timeout: f64,
    /// Resets the connection (TCP RST) without a response. Nothing is processed.
    pub rate_reset: f64,
    /// Processes the call (a write is applied), then closes the connection instead of answering:
    /// the client cannot know the write happened.
    pub rate_lost_response: f64,
    pub seed: u64,
}

/// A fault injected into one REST call ([`crate::SalesforceSim::injected_faults`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    ServiceUnavailable,
    RequestLimit,
    InvalidSession,
    Timeout,
    Reset,
    LostResponse,
}

/// Salesforce REST calls time out after 10 minutes; hanging a little longer outlasts any client.
pub(crate) const DEFAULT_HANG: Duration = Duration::from_secs(10 * 60 + 30);

/// The configured rates, the generator, and what was injected.
#[derive(Debug)]
pub(crate) struct FaultState {
    config: Faults,
    rng: StdRng,
    pub(crate) hang: Duration,
    pub(crate) injected: Vec<Fault>,
    /// Write calls still to lose the answer of, whatever the rates ([`crate::SalesforceSim::lose_write_answers`]).
    pub(crate) forced_lost_writes: u32,
}

impl Default for FaultState {
    fn default() -> Self {
        Self { config: Faults::default(), rng: StdRng::seed_from_u64(0), hang: DEFAULT_HANG, injected: Vec::new(), forced_lost_writes: 0 }
    }
}

impl FaultState {
    /// New rates, and the generator restarted from `faults.seed`.
    pub(crate) fn configure(&mut self, faults: Faults) {
        self.config = faults;
        self.rng = StdRng::seed_from_u64(faults.seed);
    }

    /// Whether to lose the answer of this write call (one of those forced), counting it.
    pub(crate) fn take_forced_lost_write(&mut self) -> bool {
        if self.forced_lost_writes == 0 {
            return false;
        }
        self.forced_lost_writes -= 1;
        self.injected.push(Fault::LostResponse);
        true
    }

    /// The fault for the next call, if any.
    pub(crate) fn draw(&mut self) -> Option<Fault> {
        let c = self.config;
        let rates = [
            (c.rate_503, Fault::ServiceUnavailable),
            (c.rate_request_limit, Fault::RequestLimit),
            (c.rate_401, Fault::InvalidSession),
            (c.rate_timeout, Fault::Timeout),
            (c.rate_reset, Fault::Reset),
            (c.rate_lost_response, Fault::LostResponse),
        ];
        let clamp = |rate: f64| if rate.is_nan() { 0.0 } else { rate.clamp(0.0, 1.0) };
        if rates.iter().all(|(rate, _)| clamp(*rate) == 0.0) {
            return None;
        }
        let draw: f64 = self.rng.random();
        let mut threshold = 0.0;
        for (rate, fault) in rates {
            threshold += clamp(rate);
            if draw < threshold {
                self.injected.push(fault);
                return Some(fault);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(faults: Faults, n: usize) -> Vec<Option<Fault>> {
        let mut state = FaultState::default();
        state.configure(faults);
        (0..n).map(|_| state.draw()).collect()
    }

    #[test]
    fn seeded_draws_repeat_and_follow_the_rates() {
        let faults = Faults { rate_503: 0.25, rate_reset: 0.25, seed: 7, ..Faults::default() };
        let a = sequence(faults, 400);
        assert_eq!(a, sequence(faults, 400));
        assert_ne!(a, sequence(Faults { seed: 8, ..faults }, 400));
        let count = |f: Fault| a.iter().filter(|x| **x == Some(f)).count();
        assert!((60..140).contains(&count(Fault::ServiceUnavailable)));
        assert!((60..140).contains(&count(Fault::Reset)));
        assert_eq!(count(Fault::Timeout), 0);
        assert!(sequence(Faults { rate_401: f64::NAN, ..Faults::default() }, 10).iter().all(Option::is_none));
        assert!(sequence(Faults { rate_401: 7.0, ..Faults::default() }, 10)
            .iter()
            .all(|f| *f == Some(Fault::InvalidSession)));
    }
}
