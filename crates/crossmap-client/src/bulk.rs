//! Any number of items: chunked with the engine, sent concurrently, reported item by item.

use crate::client::Client;
use crate::error::ClientError;
use crossmap_delta::{Chunk, ItemError, MappingTable, MemoryTable, RequestError, Rules, chunk_by, plan, plan_merge};
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
/// `?`. Everything is read through methods, so the report can learn more without breaking callers.
///
/// The calls that return one are `#[must_use]`, the type is not: the report `into_result()?` gives back
/// may be dropped, the failures having been seen.
///
/// ```no_run
/// # async fn example(client: crossmap_client::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use crossmap_client::{ApplyOptions, ItemResult};
/// use crossmap_client::model::{DeltaItem, UserKey};
/// let items = vec![DeltaItem::remove(&UserKey::parse("ann@contoso.com")?)];
/// let report = client.apply_all(items, &ApplyOptions::default()).await;
/// println!("{} applied, {} throttled, {:?} waiting", report.applied(), report.throttled(), report.waited());
/// for (index, result) in report.items().iter().enumerate() {
///     if let ItemResult::Failed(e) = result {
///         eprintln!("item {index}: {e}");
///     }
/// }
/// # Ok(()) }
/// ```
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
    pub(crate) items: Vec<ItemResult<M>>,
    throttled: u64,
    waited: Duration,
    /// Each request that failed, with its items' places in the input.
    requests: Vec<FailedRequest>,
}

/// A request that failed: its error and, in the request's order, the input index of each of its items
/// (what turns an error's "item N", its place in its request, into the caller's index).
#[derive(Debug, Clone)]
struct FailedRequest {
    error: Arc<ClientError>,
    indices: Vec<usize>,
}

impl FailedRequest {
    /// The items the error names as invalid: the engine's, or the one a refusal's `target` names.
    fn invalid_items(&self) -> Vec<(usize, ItemError)> {
        let input = |e: ItemError| self.indices.get(e.index).map(|&i| (i, e));
        match self.error.as_ref() {
            ClientError::Invalid(RequestError::Invalid { errors }) => {
                errors.iter().cloned().filter_map(input).collect()
            }
            ClientError::Graph(g) => g
                .target
                .as_deref()
                .and_then(item_of_target)
                .and_then(|(index, property)| input(ItemError::new(index, property, g.message.clone())))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Reads Graph's `target` for an item, `value[3]` or `value[3].sourceOrganizationId`: the item's index
/// and the property.
fn item_of_target(target: &str) -> Option<(usize, &str)> {
    let rest = target.strip_prefix("value[")?;
    let (index, rest) = rest.split_once(']')?;
    let property = match rest {
        "" => "",
        _ => rest.strip_prefix('.')?,
    };
    Some((index.parse().ok()?, property))
}

impl<M> Report<M> {
    /// One result per item, in the order given.
    pub fn items(&self) -> &[ItemResult<M>] {
        &self.items
    }

    /// The results by move, one per item, in the order given.
    pub fn into_items(self) -> Vec<ItemResult<M>> {
        self.items
    }

    /// Requests answered `429` during the run (by the client's counters: calls it made meanwhile for
    /// something else count too).
    pub fn throttled(&self) -> u64 {
        self.throttled
    }

    /// Time the run's requests spent waiting rather than in flight, summed over requests: held back by
    /// the pacing controller or backing off before a retry (by the client's counters, like
    /// [`throttled`](Self::throttled)).
    pub fn waited(&self) -> Duration {
        self.waited
    }

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

    /// The items the engine (before sending) or the service (in its answer's `target`) named as invalid,
    /// by their index in the input, each with its error (whose own `index` is its place in its request of
    /// at most 50). One invalid item fails its whole request, as Graph does: the others of that request
    /// are among [`failures`](Self::failures) but not here.
    pub fn invalid_items(&self) -> Vec<(usize, ItemError)> {
        invalid_items(&self.requests)
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
    /// ```no_run
    /// # async fn example(client: crossmap_client::Client) {
    /// use crossmap_client::ApplyOptions;
    /// use crossmap_client::model::{DeltaItem, Guid, UserMapping};
    /// let org = Guid::from_u128(1);
    /// let items: Vec<_> = (0..120)
    ///     .map(|n| UserMapping::new(org, format!("u{n}@contoso.com"), format!("u{n}@fabrikam.com")))
    ///     .map(DeltaItem::Upsert)
    ///     .collect();
    /// match client.apply_all(items, &ApplyOptions::default()).await.into_result() {
    ///     Ok(report) => println!("{} applied", report.applied()),
    ///     Err(e) => {
    ///         eprintln!("{e}"); // "1 of 120 items were not applied (1 failed, 0 not sent): item 7: …"
    ///         for (index, invalid) in e.invalid_items() {
    ///             eprintln!("input item {index}: {}: {}", invalid.property, invalid.message);
    ///         }
    ///     }
    /// }
    /// # }
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
            requests: self.requests,
        })
    }
}

fn invalid_items(requests: &[FailedRequest]) -> Vec<(usize, ItemError)> {
    let mut items: Vec<_> = requests.iter().flat_map(FailedRequest::invalid_items).collect();
    items.sort_by_key(|(i, _)| *i);
    items
}

/// Not every item of an `apply_all` was applied: how many failed or were not sent, of how many, and
/// each failure with its index in the input. It displays the first few errors.
///
/// Items of one request share their request's error: one refused request fails up to 50 items with the
/// same [`ClientError`], shown once with the range of items it failed. An error's "item N" or
/// `value[N]` is the item's place in its request; the message adds its index in the input, and
/// [`invalid_items`](Self::invalid_items) gives both.
///
/// Its `Debug` (what a `?` in a test or `main` prints) is the message and every failed item, one line
/// each; `{:#?}` shows the structure.
#[derive(Clone, thiserror::Error)]
#[error("{}", Summary(self, SHOWN_ERRORS))]
pub struct ApplyError {
    not_sent: usize,
    total: usize,
    failures: Vec<(usize, Arc<ClientError>)>,
    requests: Vec<FailedRequest>,
}

/// How many distinct errors [`ApplyError`]'s message shows.
const SHOWN_ERRORS: usize = 3;
/// How many distinct errors [`ApplyError`]'s `Debug` shows.
const DEBUG_ERRORS: usize = 20;

impl ApplyError {
    /// How many items failed (the service refused them, or their request could not be sent).
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

    /// The items named as invalid, by their index in the input, each with its error (see
    /// [`Report::invalid_items`]).
    pub fn invalid_items(&self) -> Vec<(usize, ItemError)> {
        invalid_items(&self.requests)
    }

    /// The request an error failed, if the run recorded it.
    fn request_of(&self, error: &Arc<ClientError>) -> Option<&FailedRequest> {
        self.requests.iter().find(|r| Arc::ptr_eq(&r.error, error))
    }
}

impl std::fmt::Debug for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("ApplyError")
                .field("not_sent", &self.not_sent)
                .field("total", &self.total)
                .field("failures", &self.failures)
                .finish_non_exhaustive();
        }
        // What `?` prints when a test or `main` fails: the message, then each failed run on a line.
        write!(f, "{}", Summary(self, 0))?;
        for run in runs(&self.failures).iter().take(DEBUG_ERRORS) {
            write!(f, "\n    ")?;
            run.write(self, f)?;
        }
        let runs = runs(&self.failures).len();
        if runs > DEBUG_ERRORS {
            write!(f, "\n    and {} more errors", runs - DEBUG_ERRORS)?;
        }
        Ok(())
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

/// Consecutive failed items sharing one error (one request's): shown once.
struct Run<'a> {
    first: usize,
    last: usize,
    error: &'a Arc<ClientError>,
}

fn runs(failures: &[(usize, Arc<ClientError>)]) -> Vec<Run<'_>> {
    let mut runs: Vec<Run<'_>> = Vec::new();
    for (i, e) in failures {
        match runs.last_mut() {
            Some(run) if Arc::ptr_eq(run.error, e) && run.last + 1 == *i => run.last = *i,
            _ => runs.push(Run {
                first: *i,
                last: *i,
                error: e,
            }),
        }
    }
    runs
}

impl Run<'_> {
    /// `items 50..=99: the error`, each item the error names given with its index in the input too.
    fn write(&self, owner: &ApplyError, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "item {}: ", self.first)?;
        } else {
            write!(f, "items {}..={}: ", self.first, self.last)?;
        }
        let named = owner
            .request_of(self.error)
            .map(FailedRequest::invalid_items)
            .unwrap_or_default();
        match (self.error.as_ref(), named.first()) {
            // The engine's refusal: its items, each by both indices, instead of its own "item N".
            (ClientError::Invalid(RequestError::Invalid { .. }), Some(_)) => {
                write!(f, "{}: nothing was applied: ", self.error)?;
                for (n, (input, e)) in named.iter().take(SHOWN_ERRORS).enumerate() {
                    let sep = if n == 0 { "" } else { "; " };
                    write!(f, "{sep}{}", InputItem(*input, e))?;
                }
                if named.len() > SHOWN_ERRORS {
                    write!(f, " (and {} more invalid items)", named.len() - SHOWN_ERRORS)?;
                }
                Ok(())
            }
            // The service's refusal: its message as it came, and where its target is in the input.
            (_, Some((input, e))) => write!(
                f,
                "{} (value[{}] is item {input} of the input)",
                WithSources(self.error.as_ref()),
                e.index
            ),
            (_, None) => write!(f, "{}", WithSources(self.error.as_ref())),
        }
    }
}

/// An invalid item named by both of its indices: `item 51 of the input (value[1] of its request), property: why`.
struct InputItem<'a>(usize, &'a ItemError);

impl std::fmt::Display for InputItem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let InputItem(input, e) = self;
        write!(f, "item {input} of the input (value[{}] of its request)", e.index)?;
        if !e.property.is_empty() {
            write!(f, ", {}", e.property)?;
        }
        write!(f, ": {}", e.message)
    }
}

/// The message of an [`ApplyError`]: the counts, then the first `shown` errors.
struct Summary<'a>(&'a ApplyError, usize);

impl std::fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Summary(this, shown) = *self;
        write!(
            f,
            "{} of {} items were not applied ({} failed, {} not sent)",
            this.failed() + this.not_sent,
            this.total,
            this.failed(),
            this.not_sent
        )?;
        if shown == 0 {
            return Ok(());
        }
        let runs = runs(&this.failures);
        for (n, run) in runs.iter().take(shown).enumerate() {
            f.write_str(if n == 0 { ": " } else { "; " })?;
            run.write(this, f)?;
        }
        if runs.len() > shown {
            write!(f, "; and {} more errors", runs.len() - shown)?;
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
                    let mut failed_requests = Vec::new();
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
                                out.extend(indices.iter().map(|&i| (i, ItemResult::Failed(e.clone()))));
                                failed_requests.push(FailedRequest {
                                    error: e.clone(),
                                    indices,
                                });
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
                    (out, failed_requests)
                }
            })
            .buffer_unordered(self.concurrency())
            .collect::<Vec<_>>()
            .await;
        let mut requests = Vec::new();
        for (out, failed_requests) in outcomes {
            for (i, r) in out {
                results[i] = r;
            }
            requests.extend(failed_requests);
        }
        Report {
            items: results,
            requests,
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

    /// A report as `apply_all` makes one: each distinct error is one request, whose items are those it
    /// failed, in order.
    fn report(items: Vec<ItemResult<crossmap_model::GroupMapping>>) -> Report<crossmap_model::GroupMapping> {
        let mut requests: Vec<FailedRequest> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let ItemResult::Failed(e) = item else { continue };
            match requests.iter_mut().find(|r| Arc::ptr_eq(&r.error, e)) {
                Some(r) => r.indices.push(i),
                None => requests.push(FailedRequest {
                    error: e.clone(),
                    indices: vec![i],
                }),
            }
        }
        Report {
            items,
            throttled: 0,
            waited: Duration::ZERO,
            requests,
        }
    }

    fn invalid(errors: Vec<ItemError>) -> Arc<ClientError> {
        Arc::new(ClientError::Invalid(RequestError::Invalid { errors }))
    }

    fn upn_error(index: usize) -> ItemError {
        ItemError::new(
            index,
            "targetUserIdentity.userPrincipalName",
            "\"\" is not a user principal name: it has no '@'",
        )
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
        let e = invalid(vec![upn_error(1)]);
        let items = vec![ItemResult::Failed(e.clone()), ItemResult::Failed(e)];
        let e = report(items).into_result().unwrap_err();
        assert_eq!(
            e.to_string(),
            "2 of 2 items were not applied (2 failed, 0 not sent): items 0..=1: the request is invalid and was \
             not sent: nothing was applied: item 1 of the input (value[1] of its request), \
             targetUserIdentity.userPrincipalName: \"\" is not a user principal name: it has no '@'"
        );
    }

    #[test]
    fn an_invalid_item_is_named_by_its_index_in_the_input_not_only_in_its_request() {
        // The second request of 50 (input items 50..=99) holds two invalid items, its 1st and its 7th.
        let mut items: Vec<_> = (0..50).map(|_| applied()).collect();
        let e = invalid(vec![upn_error(1), ItemError::new(7, "", "the key is given twice")]);
        items.extend((50..100).map(|_| ItemResult::Failed(e.clone())));
        items.extend((100..120).map(|_| applied()));
        let report = report(items);
        let named: Vec<(usize, usize)> = report.invalid_items().iter().map(|(i, e)| (*i, e.index)).collect();
        assert_eq!(named, [(51, 1), (57, 7)]);
        let e = report.into_result().unwrap_err();
        assert_eq!(e.invalid_items().len(), 2);
        assert_eq!(
            e.to_string(),
            "50 of 120 items were not applied (50 failed, 0 not sent): items 50..=99: the request is invalid \
             and was not sent: nothing was applied: item 51 of the input (value[1] of its request), \
             targetUserIdentity.userPrincipalName: \"\" is not a user principal name: it has no '@'; item 57 \
             of the input (value[7] of its request): the key is given twice"
        );
    }

    #[test]
    fn a_refusal_by_the_service_names_its_target_in_the_input() {
        let refused = Arc::new(ClientError::Graph(Box::new(crate::GraphFailure {
            status: 400,
            code: "invalidRequest".into(),
            message: "nothing was applied: item 2, sourceOrganizationId: not a GUID".into(),
            target: Some("value[2].sourceOrganizationId".into()),
            request_id: Some("r1".into()),
            client_request_id: "c1".into(),
            retry_after: None,
        })));
        let mut items: Vec<_> = (0..3).map(|_| applied()).collect();
        items.extend((3..6).map(|_| ItemResult::Failed(refused.clone())));
        let report = report(items);
        let named = report.invalid_items();
        assert_eq!(named.len(), 1);
        assert_eq!((named[0].0, named[0].1.index), (5, 2));
        assert_eq!(named[0].1.property, "sourceOrganizationId");
        assert_eq!(
            report.into_result().unwrap_err().to_string(),
            "3 of 6 items were not applied (3 failed, 0 not sent): items 3..=5: 400 invalidRequest: nothing was \
             applied: item 2, sourceOrganizationId: not a GUID (value[2] is item 5 of the input)"
        );
    }

    #[test]
    fn targets_are_read_only_when_they_name_an_item() {
        assert_eq!(item_of_target("value[3]"), Some((3, "")));
        assert_eq!(
            item_of_target("value[12].sourceGroupIdentity.id"),
            Some((12, "sourceGroupIdentity.id"))
        );
        for other in ["value", "value[x]", "value[3]x", "@context", "value[-1]"] {
            assert_eq!(item_of_target(other), None, "{other}");
        }
    }

    #[test]
    fn debug_is_the_message_and_every_failed_run_not_a_struct_dump() {
        let e = invalid(vec![upn_error(0)]);
        let token = Arc::new(ClientError::Token("invalid_client".into()));
        let mut items = vec![applied(), ItemResult::Failed(e.clone()), ItemResult::Failed(e)];
        items.extend((0..4).map(|_| ItemResult::Failed(token.clone())));
        items.push(ItemResult::NotSent);
        let e = report(items).into_result().unwrap_err();
        assert_eq!(
            format!("{e:?}"),
            "7 of 8 items were not applied (6 failed, 1 not sent)\n    \
             items 1..=2: the request is invalid and was not sent: nothing was applied: item 1 of the input \
             (value[0] of its request), targetUserIdentity.userPrincipalName: \"\" is not a user principal \
             name: it has no '@'\n    \
             items 3..=6: no access token: invalid_client"
        );
        // What a test whose `?` fails prints: std's `Termination` writes `Error: {:?}`.
        let boxed: Box<dyn std::error::Error> = Box::new(e.clone());
        assert!(format!("Error: {boxed:?}").starts_with("Error: 7 of 8 items were not applied"));
        assert!(
            format!("{e:#?}").starts_with("ApplyError {\n    not_sent: 1,"),
            "{e:#?}"
        );
    }

    #[test]
    fn debug_shows_the_first_twenty_runs_and_counts_the_rest() {
        let items: Vec<_> = (0..25)
            .map(|n| ItemResult::Failed(Arc::new(ClientError::Token(format!("refusal {n}")))))
            .collect();
        let debug = format!("{:?}", report(items).into_result().unwrap_err());
        assert_eq!(debug.lines().count(), 1 + 20 + 1, "{debug}");
        assert!(debug.ends_with("\n    and 5 more errors"), "{debug}");
    }

    #[test]
    fn the_report_is_read_through_methods() {
        let report = Report {
            items: vec![applied(), ItemResult::NotSent],
            throttled: 3,
            waited: Duration::from_millis(40),
            requests: Vec::new(),
        };
        assert_eq!((report.throttled(), report.waited()), (3, Duration::from_millis(40)));
        assert_eq!((report.items().len(), report.applied(), report.not_sent()), (2, 1, 1));
        assert!(matches!(report.into_items()[1], ItemResult::NotSent));
    }

    #[test]
    fn only_a_complete_report_passes() {
        assert!(report(vec![applied(), applied()]).into_result().is_ok());
        assert!(report(vec![applied(), ItemResult::NotSent]).into_result().is_err());
        fn send_sync_static<T: Send + Sync + 'static>() {}
        send_sync_static::<ApplyError>();
    }
}
