//! Rate limits per client address and route class, answered with 429 and `Retry-After`.

use crate::error::AppError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many requests each route class allows per client address.
#[derive(Clone, Copy, Debug)]
pub struct RateLimitConfig {
    /// Login attempts per minute.
    pub logins_per_minute: u32,
    /// New widget sessions per minute.
    pub widget_sessions_per_minute: u32,
    /// Messages left through the widget's "leave a message" per minute (each becomes a ticket).
    pub leave_messages_per_minute: u32,
    /// Tracker calls (event batches, identify) per minute.
    pub track_calls_per_minute: u32,
    /// Widget file uploads per minute.
    pub uploads_per_minute: u32,
    /// Visitor messages per second on one widget socket (bursts of 4× allowed).
    pub messages_per_second: u32,
    /// Whether limits apply at all (off for load tests on loopback).
    pub enabled: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            logins_per_minute: 20,
            widget_sessions_per_minute: 60,
            leave_messages_per_minute: 10,
            track_calls_per_minute: 120,
            uploads_per_minute: 20,
            messages_per_second: 5,
            enabled: true,
        }
    }
}

/// The limiters of one node.
pub struct RateLimits {
    config: RateLimitConfig,
    login: DefaultKeyedRateLimiter<IpAddr>,
    widget_sessions: DefaultKeyedRateLimiter<IpAddr>,
    leave_messages: DefaultKeyedRateLimiter<IpAddr>,
    track: DefaultKeyedRateLimiter<IpAddr>,
    uploads: DefaultKeyedRateLimiter<IpAddr>,
    calls: AtomicU64,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl RateLimits {
    /// Limiters with the given configuration.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            login: RateLimiter::keyed(per_minute(config.logins_per_minute)),
            widget_sessions: RateLimiter::keyed(per_minute(config.widget_sessions_per_minute)),
            leave_messages: RateLimiter::keyed(per_minute(config.leave_messages_per_minute)),
            track: RateLimiter::keyed(per_minute(config.track_calls_per_minute)),
            uploads: RateLimiter::keyed(per_minute(config.uploads_per_minute)),
            calls: AtomicU64::new(0),
        }
    }

    /// The configuration.
    pub fn config(&self) -> RateLimitConfig {
        self.config
    }

    fn check(&self, limiter: &DefaultKeyedRateLimiter<IpAddr>, ip: Option<IpAddr>) -> Result<(), AppError> {
        if !self.config.enabled {
            return Ok(());
        }
        // Forget idle clients now and then so the tables do not grow without bound.
        if self.calls.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.login.retain_recent();
            self.widget_sessions.retain_recent();
            self.leave_messages.retain_recent();
            self.track.retain_recent();
            self.uploads.retain_recent();
        }
        let key = ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            AppError::rate_limited(wait.as_secs() + 1)
        })
    }

    /// Counts a login attempt from `ip`.
    pub fn login(&self, ip: Option<IpAddr>) -> Result<(), AppError> {
        self.check(&self.login, ip)
    }

    /// Counts a new widget session from `ip`.
    pub fn widget_session(&self, ip: Option<IpAddr>) -> Result<(), AppError> {
        self.check(&self.widget_sessions, ip)
    }

    /// Counts a left message from `ip`.
    pub fn leave_message(&self, ip: Option<IpAddr>) -> Result<(), AppError> {
        self.check(&self.leave_messages, ip)
    }

    /// Counts a tracker call from `ip`.
    pub fn track(&self, ip: Option<IpAddr>) -> Result<(), AppError> {
        self.check(&self.track, ip)
    }

    /// Counts a widget upload from `ip`.
    pub fn upload(&self, ip: Option<IpAddr>) -> Result<(), AppError> {
        self.check(&self.uploads, ip)
    }

    /// A limiter for the messages of one widget socket, if limits apply.
    pub fn message_limiter(&self) -> Option<governor::DefaultDirectRateLimiter> {
        let rate = NonZeroU32::new(self.config.messages_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(self.config.messages_per_second.max(1) * 4).unwrap_or(NonZeroU32::MIN);
        self.config.enabled.then(|| RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)))
    }
}
