//! The run state machine every connector shares: a run is a `PageRun`, and
//! `page_stream` turns it into the stream of pages the engine commits.
//!
//! Invariants: the stream ends after the run says `Ok(None)`, or after the first
//! `Err`, which is yielded once (the engine fails the run there, and the stored cursor
//! stays at the last good page); `next_page` is never called again after either.
//! `RepeatGuard` refuses a page token (cursor, `nextPageToken`, `after_cursor`) the
//! source already handed out in this run, so a source going round in circles fails the
//! run instead of being read forever.

use std::collections::HashSet;
use std::future::Future;

use futures::stream::{self, BoxStream, StreamExt};

use crate::connector::Page;
use crate::ConnectorError;

/// One run of a connector, read page by page.
pub trait PageRun<C>: Send {
    /// The next page to commit; `Ok(None)` when the run is over. An `Err` ends the run.
    fn next_page(&mut self) -> impl Future<Output = Result<Option<Page<C>>, ConnectorError>> + Send;
}

/// The pages of `run`, ending after `Ok(None)` or after the first error (yielded once).
pub fn page_stream<'a, C, R>(run: R) -> BoxStream<'a, Result<Page<C>, ConnectorError>>
where
    C: Send + 'a,
    R: PageRun<C> + 'a,
{
    stream::unfold(Some(run), |state| async move {
        let mut run = state?;
        match run.next_page().await {
            Ok(Some(page)) => Some((Ok(page), Some(run))),
            Ok(None) => None,
            // The run is dropped here: nothing after an error is read.
            Err(error) => Some((Err(error), None)),
        }
    })
    .boxed()
}

/// Refuses a page token handed out before in the same run (A→B→A as well as A→A).
///
/// Memory grows with the pages of one run (one token each), which the run reads
/// anyway; a guard lives as long as the run.
#[derive(Debug, Clone)]
pub struct RepeatGuard {
    endpoint: String,
    what: &'static str,
    seen: HashSet<String>,
}

impl RepeatGuard {
    /// A guard for the tokens of `endpoint`; `what` names them (`"nextPageToken"`).
    pub fn new(endpoint: impl Into<String>, what: &'static str) -> Self {
        Self { endpoint: endpoint.into(), what, seen: HashSet::new() }
    }

    /// Records `token`; a permanent error if this run saw it before. Call it with each
    /// token before the page that carried it is yielded, so a repeated page is never
    /// committed.
    pub fn check(&mut self, token: &str) -> Result<(), ConnectorError> {
        if self.seen.contains(token) {
            return Err(ConnectorError::permanent(
                self.endpoint.clone(),
                format!(
                    "the source repeated a {} it already handed out in this run; the pages go round in circles, \
                     so the run stops instead of reading them forever, and the stored cursor stays at the last \
                     complete page",
                    self.what
                ),
            ));
        }
        self.seen.insert(token.to_owned());
        Ok(())
    }

    /// Whether `token` was handed out before in this run (without recording it).
    pub fn seen(&self, token: &str) -> bool {
        self.seen.contains(token)
    }

    /// How many distinct tokens this run handed out.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// Yields `pages` pages, then either ends or fails at `fail_at`.
    struct Counting {
        next: u32,
        pages: u32,
        fail_at: Option<u32>,
        calls: Arc<AtomicUsize>,
    }

    impl PageRun<u32> for Counting {
        async fn next_page(&mut self) -> Result<Option<Page<u32>>, ConnectorError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail_at == Some(self.next) {
                return Err(ConnectorError::transient("/items", "reset"));
            }
            if self.next == self.pages {
                return Ok(None);
            }
            self.next += 1;
            Ok(Some(Page::new(Vec::new(), self.next)))
        }
    }

    async fn run(pages: u32, fail_at: Option<u32>) -> (Vec<Result<u32, String>>, usize) {
        let calls = Arc::new(AtomicUsize::new(0));
        let run = Counting { next: 0, pages, fail_at, calls: calls.clone() };
        let results = page_stream(run)
            .map(|page| page.map(|p| p.next_cursor).map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
            .await;
        (results, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn the_stream_ends_when_the_run_says_so() {
        let (results, calls) = run(3, None).await;
        assert_eq!(results, vec![Ok(1), Ok(2), Ok(3)]);
        assert_eq!(calls, 4, "one call for each page and one that ends the run");
    }

    #[tokio::test]
    async fn the_first_error_is_yielded_once_and_ends_the_stream() {
        let (results, calls) = run(5, Some(2)).await;
        assert_eq!(results.len(), 3, "{results:?}");
        assert_eq!(results[..2], [Ok(1), Ok(2)]);
        assert!(results[2].as_ref().is_err_and(|e| e.contains("reset")), "{results:?}");
        assert_eq!(calls, 3, "the run is not asked again after its error");
    }

    #[tokio::test]
    async fn an_empty_run_yields_nothing() {
        assert_eq!(run(0, None).await, (Vec::new(), 1));
    }

    #[test]
    fn a_repeat_guard_refuses_any_token_seen_before_in_the_run() {
        let mut guard = RepeatGuard::new("/rest/api/3/search/jql", "nextPageToken");
        assert!(guard.check("A").is_ok());
        assert!(guard.check("B").is_ok());
        let error = guard.check("A").expect_err("A→B→A is a circle");
        assert!(matches!(error, ConnectorError::Permanent { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("/rest/api/3/search/jql") && message.contains("nextPageToken"), "{message}");
        assert!(guard.check("B").is_err(), "so is a token repeated later");
        assert!(guard.check("C").is_ok());
        assert_eq!(guard.len(), 3);
    }

    #[test]
    fn a_repeat_guard_refuses_a_token_repeated_at_once() {
        let mut guard = RepeatGuard::new("/api/items", "page_token");
        assert!(guard.check("A").is_ok());
        assert!(guard.seen("A") && !guard.seen("B"));
        assert!(guard.check("A").is_err(), "A→A");
    }
}
