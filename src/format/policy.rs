//! Flush policies (R4): when a recorder makes its events durable.

use std::fmt;
use std::num::NonZeroU64;

use crate::vocab::error::{Error, Result};

/// When recorded events become durable against a crash of the process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FlushPolicy {
    /// Every event, before its call returns (the default).
    #[default]
    Event,
    /// Only at an explicit flush, close or drop.
    Never,
    /// Every `n`-th event: after a crash all but at most the last `n - 1` remain.
    Every(NonZeroU64),
}

impl FlushPolicy {
    /// Parses `event`, `never`, or a positive integer, as a command line or a
    /// config file gives it. Anything else is refused with R4's message:
    /// `flush must be 'event', 'never', or a positive int; got 'evnt'` (text in
    /// single quotes) or `...; got 0` / `got -5` (numbers as given).
    pub fn parse(text: &str) -> Result<FlushPolicy> {
        match text {
            "event" => return Ok(FlushPolicy::Event),
            "never" => return Ok(FlushPolicy::Never),
            _ => {}
        }
        if let Ok(n) = text.parse::<i128>() {
            return FlushPolicy::every(n);
        }
        Err(Error::InvalidFlushPolicy {
            given: format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'")),
        })
    }

    /// `Every(n)` for a positive `n`; anything else is refused with R4's message.
    pub fn every(n: i128) -> Result<FlushPolicy> {
        u64::try_from(n)
            .ok()
            .and_then(NonZeroU64::new)
            .map(FlushPolicy::Every)
            .ok_or(Error::InvalidFlushPolicy { given: n.to_string() })
    }
}

impl fmt::Display for FlushPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlushPolicy::Event => f.write_str("event"),
            FlushPolicy::Never => f.write_str("never"),
            FlushPolicy::Every(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print() {
        for text in ["event", "never", "1", "10000"] {
            assert_eq!(FlushPolicy::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(FlushPolicy::default(), FlushPolicy::Event);
    }

    #[test]
    fn bad_policies_get_the_seed_message() {
        for (given, shown) in [
            ("evnt", "'evnt'"),
            ("0", "0"),
            ("-5", "-5"),
            ("true", "'true'"),
            ("", "''"),
        ] {
            let err = FlushPolicy::parse(given).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("flush must be 'event', 'never', or a positive int; got {shown}")
            );
        }
    }
}
