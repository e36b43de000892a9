//! Keeping an error's causes: the features' error enums hold what went wrong underneath as a
//! [`Cause`] (their `#[source]`), not as text, and logs print the whole chain with [`chain`].

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// The error underneath, with its own causes. Shared, so the errors that hold it stay `Clone`.
#[derive(Clone)]
pub struct Cause(Arc<dyn Error + Send + Sync>);

impl Cause {
    pub fn new(error: impl Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    /// `error`, under a line saying what was being done (`opening the webhook secret`).
    pub fn context(doing: impl Into<String>, error: impl Error + Send + Sync + 'static) -> Self {
        Self::new(Context { doing: doing.into(), source: Box::new(error) })
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// A cause that is only a description (no error value underneath).
impl From<String> for Cause {
    fn from(message: String) -> Self {
        Self::new(Message(message))
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        Self::from(message.to_owned())
    }
}

#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Message {}

#[derive(Debug)]
struct Context {
    doing: String,
    source: Box<dyn Error + Send + Sync>,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.doing)
    }
}

impl Error for Context {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// `error` and each of its causes, outermost first, joined with `: `: what a log line shows.
pub fn chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let next = e.to_string();
        // Some errors repeat their source in their own message; show it once.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("a backing service is unavailable")]
        Unavailable(#[source] Cause),
    }

    #[test]
    fn the_chain_names_every_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let outer = Outer::Unavailable(Cause::context("reading the connection", io));
        assert_eq!(chain(&outer), "a backing service is unavailable: reading the connection: connection refused");
        let plain = Outer::Unavailable("the lease was not released in time".into());
        assert_eq!(chain(&plain), "a backing service is unavailable: the lease was not released in time");
        assert!(outer.source().is_some_and(|s| s.source().is_some()), "the causes stay reachable");
    }
}
