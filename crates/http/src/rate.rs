//! Per-client rate limits: a token bucket per IP address, refilled at the
//! sustained rate up to the burst. The table is bounded: when full, the
//! buckets that have refilled (clients gone quiet) are forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::limits::RATE_CLIENTS_MAX;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32, burst: u32) -> Self {
        RateLimiter { per_second: per_second as f64, burst: burst.max(1) as f64, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `client`; `Err(seconds)` until one is available.
    pub(crate) fn take(&self, client: IpAddr) -> Result<(), f64> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() >= RATE_CLIENTS_MAX && !buckets.contains_key(&client) {
            self.forget_full(&mut buckets, now);
        }
        let bucket = buckets.entry(client).or_insert(Bucket { tokens: self.burst, updated: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - bucket.tokens) / self.per_second)
        }
    }

    fn forget_full(&self, buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        let refill = self.burst / self.per_second;
        buckets.retain(|_, bucket| now.duration_since(bucket.updated).as_secs_f64() < refill);
        if buckets.len() >= RATE_CLIENTS_MAX {
            buckets.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limiter = RateLimiter::new(10, 3);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..3 {
            assert!(limiter.take(a).is_ok());
        }
        let wait = limiter.take(a).expect_err("over the burst");
        assert!(wait > 0.0 && wait <= 0.1, "{wait}");
        assert!(limiter.take(b).is_ok());
        assert!(RateLimiter::new(0, 0).take(a).is_ok());
    }
}
