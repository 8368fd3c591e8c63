//! Any number of items: chunked with the engine, sent concurrently, reported item by item.

use crate::client::Client;
use crate::error::ClientError;
use crossmap_delta::{Chunk, MappingTable, MemoryTable, Rules, chunk_by, plan, plan_merge};
use crossmap_model::{DeltaItem, DeltaRequest, MAX_DELTA_ITEMS};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Where `apply_all` is, sent to the progress callback after every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Items answered so far (applied or failed).
    pub done: u64,
    /// Items in all.
    pub total: u64,
    /// Items that failed so far.
    pub failed: u64,
    /// Retries so far (the client's, since it was built).
    pub retries: u64,
    /// 429 answers so far (the client's, since it was built).
    pub throttles: u64,
    /// Time requests spent waiting so far, summed over requests (the client's, since it was built; see
    /// [`crate::Counters::waited_us`]).
    pub waited: Duration,
}

/// Stops `apply_all` from sending more chunks; chunks in flight finish.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A handle not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether it was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How `apply_all` runs.
#[derive(Clone, Default)]
pub struct ApplyOptions {
    /// Called after every chunk.
    pub progress: Option<Arc<dyn Fn(Progress) + Send + Sync>>,
    /// Cancels the run.
    pub cancel: Cancel,
    /// Stop sending after the first chunk that fails for good (default: carry on).
    pub stop_on_error: bool,
}

impl std::fmt::Debug for ApplyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("stop_on_error", &self.stop_on_error)
            .finish_non_exhaustive()
    }
}

/// What became of one item.
#[derive(Debug)]
pub enum ItemResult<M> {
    /// Applied.
    Applied {
        /// The item as it was sent: what the service acknowledged, in the request's own terms.
        sent: DeltaItem<M>,
        /// The service's entry for it (the mapping, or a tombstone), as it answered.
        entry: M,
    },
    /// Not applied: the error of its chunk.
    Failed(Arc<ClientError>),
    /// Not sent: cancelled, or stopped after an error.
    NotSent,
}

/// The end of an `apply_all`: one result per item, in the order given, and what throttling cost.
///
/// `apply_all` returns a report rather than an error because some items may have been applied when
/// others failed; [`Report::into_result`] turns "not every item was applied" into an [`ApplyError`] for
/// `?`.
///
/// The calls that return one are `#[must_use]`, the type is not: the report `into_result()?` gives back
/// may be dropped, the failures having been seen.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// # async fn example(client: crossmap_client::Client) {
/// use crossmap_client::ApplyOptions;
/// use crossmap_client::model::{DeltaItem, UserMapping};
/// let items: Vec<DeltaItem<UserMapping>> = Vec::new();
/// client.apply_all(items, &ApplyOptions::default()).await; // the report unused: an error
/// # }
/// # fn main() {}
/// ```
#[derive(Debug)]
pub struct Report<M> {
    /// One result per item.
    pub items: Vec<ItemResult<M>>,
    /// Requests answered `429` during the run (by the client's counters: calls it made meanwhile for
    /// something else count too).
    pub throttled: u64,
    /// Time the run's requests spent waiting rather than in flight, summed over requests: held back by
    /// the pacing controller or backing off before a retry (by the client's counters, like `throttled`).
    pub waited: Duration,
}

impl<M> Report<M> {
    /// How many items were applied.
    pub fn applied(&self) -> usize {
        self.items
            .iter()
            .filter(|r| matches!(r, ItemResult::Applied { .. }))
            .count()
    }

    /// The items that failed, with their index in the input and their error.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &ClientError)> {
        self.items.iter().enumerate().filter_map(|(i, r)| match r {
            ItemResult::Failed(e) => Some((i, e.as_ref())),
            _ => None,
        })
    }

    /// How many items were not sent.
    pub fn not_sent(&self) -> usize {
        self.items.iter().filter(|r| matches!(r, ItemResult::NotSent)).count()
    }

    /// Whether every item was applied.
    pub fn is_complete(&self) -> bool {
        self.applied() == self.items.len()
    }

    /// The report when every item was applied, else an [`ApplyError`] counting and naming the items that
    /// failed or were not sent.
    ///
    /// ```
    /// use crossmap_client::{ItemResult, Report};
    /// use crossmap_model::UserMapping;
    /// use std::time::Duration;
    /// let empty: Report<UserMapping> = Report { items: vec![], throttled: 0, waited: Duration::ZERO };
    /// assert!(empty.into_result().is_ok());
    /// let cancelled: Report<UserMapping> = Report { items: vec![ItemResult::NotSent], throttled: 0, waited: Duration::ZERO };
    /// let e = cancelled.into_result().unwrap_err();
    /// assert_eq!((e.failed(), e.not_sent(), e.total()), (0, 1, 1));
    /// assert_eq!(e.to_string(), "1 of 1 items were not applied (0 failed, 1 not sent)");
    /// ```
    pub fn into_result(self) -> Result<Report<M>, ApplyError> {
        if self.is_complete() {
            return Ok(self);
        }
        let failures: Vec<(usize, Arc<ClientError>)> = self
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r {
                ItemResult::Failed(e) => Some((i, e.clone())),
                _ => None,
            })
            .collect();
        Err(ApplyError {
            not_sent: self.not_sent(),
            total: self.items.len(),
            failures,
        })
    }
}

/// Not every item of an `apply_all` was applied: how many failed or were not sent, of how many, and
/// each failure with its index in the input. It displays the first few errors.
///
/// Items of one chunk share their chunk's error: one refused request fails up to 50 items with the same
/// [`ClientError`], shown once with the range of items it failed.
///
/// ```
/// use crossmap_client::{ClientError, ItemResult, Report};
/// use crossmap_model::GroupMapping;
/// use std::sync::Arc;
/// let refused = Arc::new(ClientError::Token("invalid_client".into()));
/// let items = vec![ItemResult::Failed(refused.clone()), ItemResult::Failed(refused), ItemResult::NotSent];
/// let report: Report<GroupMapping> = Report { items, throttled: 0, waited: Default::default() };
/// let e = report.into_result().unwrap_err();
/// assert_eq!((e.failed(), e.not_sent(), e.total()), (2, 1, 3));
/// assert_eq!(e.failures().iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1]);
/// assert_eq!(e.to_string(), "3 of 3 items were not applied (2 failed, 1 not sent): items 0..=1: no access token: invalid_client");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", Summary(self))]
pub struct ApplyError {
    not_sent: usize,
    total: usize,
    failures: Vec<(usize, Arc<ClientError>)>,
}

/// How many distinct errors [`ApplyError`]'s message shows.
const SHOWN_ERRORS: usize = 3;

impl ApplyError {
    /// How many items failed (the service refused them, or their chunk could not be sent).
    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// How many items were not sent: cancelled, or stopped after an error.
    pub fn not_sent(&self) -> usize {
        self.not_sent
    }

    /// How many items the run was given.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The failed items: their index in the input and their error, in input order.
    pub fn failures(&self) -> &[(usize, Arc<ClientError>)] {
        &self.failures
    }
}

/// An error and its sources, `: `-separated: an [`ApplyError`] is often all a caller prints, so it
/// carries the why (an invalid item's property and message, a transport's cause).
struct WithSources<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for WithSources<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

/// The message of an [`ApplyError`]: the counts, then the first few errors.
struct Summary<'a>(&'a ApplyError);

impl std::fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Summary(this) = self;
        write!(
            f,
            "{} of {} items were not applied ({} failed, {} not sent)",
            this.failed() + this.not_sent,
            this.total,
            this.failed(),
            this.not_sent
        )?;
        // Consecutive items failed by one error (one chunk) are one run, shown once.
        let mut runs: Vec<(usize, usize, &Arc<ClientError>)> = Vec::new();
        for (i, e) in &this.failures {
            match runs.last_mut() {
                Some((_, last, prev)) if Arc::ptr_eq(prev, e) => *last = *i,
                _ => runs.push((*i, *i, e)),
            }
        }
        for (n, (first, last, e)) in runs.iter().take(SHOWN_ERRORS).enumerate() {
            let sep = if n == 0 { ": " } else { "; " };
            if first == last {
                write!(f, "{sep}item {first}: {}", WithSources(e.as_ref()))?;
            } else {
                write!(f, "{sep}items {first}..={last}: {}", WithSources(e.as_ref()))?;
            }
        }
        if runs.len() > SHOWN_ERRORS {
            write!(f, "; and {} more errors", runs.len() - SHOWN_ERRORS)?;
        }
        Ok(())
    }
}

impl Client {
    /// Applies any number of items: chunked to 50 by the engine (never reordering two items of one key),
    /// at most [`crate::ClientBuilder::concurrency`] requests in flight, each retried by the policy. A
    /// chunk the service refuses fails its items and, unless `stop_on_error`, the others go on; a chunk
    /// that still meets throttling, 5xx or a lost connection after every retry stops the run (the rest is
    /// reported not sent), since the others would only wait out the same retries.
    ///
    /// Retrying is safe: applying an all-or-nothing delta request twice leaves what applying it once
    /// does (rule 12 of `docs/delta-semantics.md`).
    ///
    /// The [`Report`] says what became of each item; [`Report::into_result`] makes any item not applied
    /// an error:
    ///
    /// ```no_run
    /// # async fn example(client: crossmap_client::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use crossmap_client::ApplyOptions;
    /// use crossmap_client::model::{DeltaItem, GroupMapping, GroupType, Guid};
    /// let org = Guid::from_u128(0x1111);
    /// let items: Vec<DeltaItem<GroupMapping>> = (1..=120)
    ///     .map(|n| GroupMapping::new(org, Guid::from_u128(n), Guid::from_u128(n << 64)).group_type(GroupType::M365Group))
    ///     .map(DeltaItem::Upsert)
    ///     .collect();
    /// let report = client.apply_all(items, &ApplyOptions::default()).await.into_result()?;
    /// assert_eq!(report.applied(), 120);
    /// # Ok(()) }
    /// ```
    #[must_use = "items may have failed: check the report, e.g. with `report.into_result()?`"]
    pub async fn apply_all<M: Rules>(&self, items: Vec<DeltaItem<M>>, options: &ApplyOptions) -> Report<M> {
        let total = items.len() as u64;
        let (throttled_before, waited_before) = (
            self.counters().throttles.load(Ordering::Relaxed),
            self.counters().waited(),
        );
        let mut results: Vec<ItemResult<M>> = (0..items.len()).map(|_| ItemResult::NotSent).collect();
        let indexed: Vec<(usize, DeltaItem<M>)> = items.into_iter().enumerate().collect();
        let chunks = chunk_by(indexed, MAX_DELTA_ITEMS, |(_, item)| {
            item.entity().source_key_checked().and_then(Result::ok)
        });
        // A chain (a chunk and those that must follow it) runs in order; chains run concurrently.
        let chains = chains(chunks);
        let done = AtomicU64::new(0);
        let failed = AtomicU64::new(0);
        let outcomes = futures_util::stream::iter(chains)
            .map(|chain| {
                let (done, failed) = (&done, &failed);
                async move {
                    let mut out = Vec::new();
                    for chunk in chain {
                        if options.cancel.is_cancelled() {
                            break;
                        }
                        let (indices, items): (Vec<usize>, Vec<DeltaItem<M>>) = chunk.into_iter().unzip();
                        let n = indices.len() as u64;
                        let request = DeltaRequest::new(items);
                        match self.apply(&request).await {
                            Ok(entries) => out.extend(
                                indices
                                    .into_iter()
                                    .zip(request.value.into_iter().zip(entries))
                                    .map(|(i, (sent, entry))| (i, ItemResult::Applied { sent, entry })),
                            ),
                            Err(e) => {
                                tracing::warn!(error = %e, items = n, "a chunk failed");
                                let e = Arc::new(e);
                                out.extend(indices.into_iter().map(|i| (i, ItemResult::Failed(e.clone()))));
                                failed.fetch_add(n, Ordering::Relaxed);
                                // A retryable error that outlived the retry policy means the service is
                                // unreachable or overloaded: stop rather than retry every remaining chunk.
                                if options.stop_on_error || e.is_retryable() {
                                    options.cancel.cancel();
                                }
                            }
                        }
                        let d = done.fetch_add(n, Ordering::Relaxed) + n;
                        if let Some(progress) = &options.progress {
                            let c = self.counters();
                            progress(Progress {
                                done: d,
                                total,
                                failed: failed.load(Ordering::Relaxed),
                                retries: c.retries.load(Ordering::Relaxed),
                                throttles: c.throttles.load(Ordering::Relaxed),
                                waited: c.waited(),
                            });
                        }
                    }
                    out
                }
            })
            .buffer_unordered(self.concurrency())
            .collect::<Vec<_>>()
            .await;
        for (i, r) in outcomes.into_iter().flatten() {
            results[i] = r;
        }
        Report {
            items: results,
            throttled: self.counters().throttles.load(Ordering::Relaxed) - throttled_before,
            waited: self.counters().waited().saturating_sub(waited_before),
        }
    }

    /// Makes the service hold `desired`: plans against `current` with the engine and applies only the
    /// difference. `current` is what the service holds: its list (see [`Client::list`]), or what a local
    /// record says was last applied. With `remove`, `desired` is the complete map, as an
    /// `Add-SPOTenantIdentityMap` upload is: mappings not desired are removed and properties it leaves
    /// out are cleared ([`plan`]); without it, only what `desired` states is sent and nothing is removed
    /// ([`plan_merge`]). What the service holds beyond what a request can state (unknown properties,
    /// annotations) is never a difference.
    #[must_use = "items may have failed: check the report, e.g. with `report.into_result()?`"]
    pub async fn sync<M: Rules>(
        &self,
        desired: &MemoryTable<M>,
        current: &MemoryTable<M>,
        remove: bool,
        options: &ApplyOptions,
    ) -> Report<M> {
        let items = if remove {
            plan(current, desired)
        } else {
            plan_merge(current, desired)
        };
        self.apply_all(items, options).await
    }

    /// The collection as a table, read with [`Client::list`]: the `current` of [`Client::sync`].
    pub async fn current<M: Rules>(&self) -> Result<MemoryTable<M>, ClientError> {
        let mut table = MemoryTable::new();
        let mut stream = std::pin::pin!(self.list::<M>());
        let mut index = 0;
        while let Some(mapping) = stream.next().await {
            let (key, m) = crossmap_delta::canonical(index, mapping?).map_err(|e| ClientError::Decode {
                message: format!("a listed mapping: {e}"),
                status: 200,
            })?;
            table.put(key, &m);
            index += 1;
        }
        Ok(table)
    }
}

/// Groups chunks into chains: each chunk without `after` starts one; a chunk with `after` joins the chain
/// of the chunk it follows.
fn chains<T>(chunks: Vec<Chunk<T>>) -> Vec<Vec<Vec<T>>> {
    let mut chain_of = Vec::with_capacity(chunks.len());
    let mut chains: Vec<Vec<Vec<T>>> = Vec::new();
    for chunk in chunks {
        let c = match chunk.after {
            Some(prev) => chain_of[prev],
            None => {
                chains.push(Vec::new());
                chains.len() - 1
            }
        };
        chain_of.push(c);
        chains[c].push(chunk.items);
    }
    chains
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(items: Vec<ItemResult<crossmap_model::GroupMapping>>) -> Report<crossmap_model::GroupMapping> {
        Report {
            items,
            throttled: 0,
            waited: Duration::ZERO,
        }
    }

    fn applied() -> ItemResult<crossmap_model::GroupMapping> {
        ItemResult::Applied {
            sent: DeltaItem::Upsert(Default::default()),
            entry: Default::default(),
        }
    }

    #[test]
    fn a_chunk_error_is_shown_once_for_its_items_and_only_the_first_few() {
        let error = |n: usize| Arc::new(ClientError::Token(format!("refusal {n}")));
        let (a, b) = (error(0), error(1));
        let mut items = vec![applied(), ItemResult::Failed(a.clone()), ItemResult::Failed(a.clone())];
        items.push(ItemResult::Failed(b));
        items.extend((2..6).map(|n| ItemResult::Failed(error(n))));
        items.push(ItemResult::NotSent);
        let e = report(items).into_result().unwrap_err();
        assert_eq!((e.failed(), e.not_sent(), e.total()), (7, 1, 9));
        assert_eq!(
            e.to_string(),
            "8 of 9 items were not applied (7 failed, 1 not sent): items 1..=2: no access token: refusal 0; \
             item 3: no access token: refusal 1; item 4: no access token: refusal 2; and 3 more errors"
        );
        assert_eq!(
            e.failures().iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6, 7]
        );
    }

    #[test]
    fn an_invalid_chunk_says_which_item_and_why() {
        let invalid = crossmap_delta::RequestError::Invalid {
            errors: vec![crossmap_delta::ItemError {
                index: 1,
                property: "targetUserIdentity.userPrincipalName".into(),
                message: "\"\" is not a user principal name: it has no '@'".into(),
            }],
        };
        let e = Arc::new(ClientError::Invalid(invalid));
        let items = vec![ItemResult::Failed(e.clone()), ItemResult::Failed(e)];
        let e = report(items).into_result().unwrap_err();
        assert_eq!(
            e.to_string(),
            "2 of 2 items were not applied (2 failed, 0 not sent): items 0..=1: the request is invalid and was \
             not sent: nothing was applied: item 1, targetUserIdentity.userPrincipalName: \"\" is not a user \
             principal name: it has no '@'"
        );
    }

    #[test]
    fn only_a_complete_report_passes() {
        assert!(report(vec![applied(), applied()]).into_result().is_ok());
        assert!(report(vec![applied(), ItemResult::NotSent]).into_result().is_err());
        fn send_sync_static<T: Send + Sync + 'static>() {}
        send_sync_static::<ApplyError>();
    }
}
