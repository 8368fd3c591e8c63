//! The engine's laws, as property tests over generated states and requests, for both mapping kinds.
//! Each test is named `law_*` after the law it checks; `cargo xtask proptest --cases N` runs them hard.

use crossmap_delta::{
    Change, ChangeFeed, FeedError, MappingTable, MemoryTable, Mode, PlanQueue, RequestError, chunk, plan, plan_merge,
    prepare_items, replay, same_contents,
};
use crossmap_model::{
    DeltaItem, DeltaRequest, SharePointGroupIdentityMapping as Group, SharePointUserIdentityMapping as User,
};
use crossmap_test_support::generators::{Gen, echoed_state, items_with_invalid, state, valid_items};
use proptest::prelude::*;

/// Applies `items` to a copy of `table`; `None` if the request is refused.
fn applied<M: Gen>(table: &MemoryTable<M>, items: &[DeltaItem<M>], mode: Mode) -> Option<MemoryTable<M>> {
    let prepared = prepare_items(table, items, mode).ok()?;
    let mut out = table.clone();
    prepared.commit(&mut out);
    Some(out)
}

fn plan_then_apply<M: Gen>(s: MemoryTable<M>, t: MemoryTable<M>) -> Result<(), TestCaseError> {
    prop_assert!(plan(&s, &s).is_empty(), "plan(s, s) is not empty");
    let p = plan(&s, &t);
    let after = applied(&s, &p, Mode::Atomic);
    prop_assert!(
        after.is_some(),
        "the plan was refused: {:?}",
        prepare_items(&s, &p, Mode::Atomic).err()
    );
    prop_assert!(same_contents(&after.unwrap(), &t), "apply(s, plan(s, t)) != t");
    Ok(())
}

fn chunking<M: Gen>(s: MemoryTable<M>, items: Vec<DeltaItem<M>>, max: usize) -> Result<(), TestCaseError> {
    let whole = applied(&s, &items, Mode::ContinueOnError).expect("continue-on-error never refuses valid envelopes");
    let chunks = chunk(items.clone(), max);
    prop_assert_eq!(chunks.iter().map(|c| c.items.len()).sum::<usize>(), items.len());
    let mut table = s.clone();
    for (i, c) in chunks.iter().enumerate() {
        prop_assert!(
            !c.items.is_empty() && c.items.len() <= max,
            "chunk {} has {} items",
            i,
            c.items.len()
        );
        prop_assert!(c.after.is_none_or(|a| a < i), "chunk {} waits for a later one", i);
        table = applied(&table, &c.items, Mode::ContinueOnError).unwrap();
    }
    prop_assert!(
        same_contents(&table, &whole),
        "chunks applied in turn != items applied whole"
    );
    // The plan is chunked too, atomically, as the client sends it.
    let p = plan(&s, &whole);
    let mut table = s.clone();
    for c in chunk(p, max) {
        table = applied(&table, &c.items, Mode::Atomic).expect("a chunk of a plan is valid");
    }
    prop_assert!(same_contents(&table, &whole));
    Ok(())
}

fn retry_safety<M: Gen>(s: MemoryTable<M>, items: Vec<DeltaItem<M>>) -> Result<(), TestCaseError> {
    let once = applied(&s, &items, Mode::Atomic).unwrap_or_else(|| s.clone());
    let twice = applied(&once, &items, Mode::Atomic).unwrap_or_else(|| once.clone());
    prop_assert!(
        same_contents(&once, &twice),
        "applying the request again changed the state"
    );
    Ok(())
}

fn atomicity<M: Gen>(s: MemoryTable<M>, items: Vec<DeltaItem<M>>, bad: Vec<usize>) -> Result<(), TestCaseError> {
    let mut table = s.clone();
    let request = DeltaRequest::new(items.clone());
    if items.len() <= crossmap_delta::MAX_ITEMS {
        let refused = crossmap_delta::apply(&mut table, &request, Mode::Atomic);
        match refused {
            Err(RequestError::Invalid { errors }) => {
                for i in &bad {
                    prop_assert!(
                        errors.iter().any(|e| e.index == *i),
                        "invalid item {} is not named: {:?}",
                        i,
                        errors
                    );
                }
            }
            other => prop_assert!(false, "not refused: {:?}", other.map(|o| o.len())),
        }
        prop_assert_eq!(&table, &s, "a refused request changed the state");
    }
    let with_errors = applied(&s, &items, Mode::ContinueOnError).unwrap();
    let valid: Vec<_> = items
        .iter()
        .enumerate()
        .filter(|(i, _)| !bad.contains(i))
        .map(|(_, it)| it.clone())
        .collect();
    let only_valid = applied(&s, &valid, Mode::ContinueOnError).unwrap();
    prop_assert!(
        same_contents(&with_errors, &only_valid),
        "continue-on-error != applying only the valid items"
    );
    let outcomes = prepare_items(&s, &items, Mode::ContinueOnError).unwrap().outcomes;
    prop_assert_eq!(outcomes.len(), items.len());
    for i in &bad {
        let failed = matches!(&outcomes[*i], crossmap_delta::Outcome::Failed(e) if e.index == *i);
        prop_assert!(failed, "invalid item {} is not reported as failed", i);
    }
    Ok(())
}

fn change_feed<M: Gen>(
    s0: MemoryTable<M>,
    requests: Vec<Vec<DeltaItem<M>>>,
    compact: prop::sample::Index,
) -> Result<(), TestCaseError> {
    let mut feed = ChangeFeed::<M>::new();
    let mut table = MemoryTable::new();
    let mut snapshots = vec![table.clone()]; // snapshots[n] is the state at token n
    let initial: Vec<Change<M>> = s0.rows().map(|(k, r)| Change::Upsert(k.clone(), r.clone())).collect();
    let mut all = initial;
    let mut current = s0.clone();
    for r in &requests {
        if let Ok(p) = prepare_items(&current, r, Mode::Atomic) {
            all.extend(p.changes.iter().cloned());
            p.commit(&mut current);
        }
    }
    for change in all {
        feed.record(change.clone());
        change.apply_to(&mut table);
        snapshots.push(table.clone());
    }
    prop_assert!(same_contents(&table, &current));
    let check = |feed: &ChangeFeed<M>, from: u64| -> Result<(), TestCaseError> {
        for (n, snap) in snapshots.iter().enumerate().skip(from as usize) {
            let mut mirror = snap.clone();
            replay(&mut mirror, feed.changes_since(n as u64).unwrap());
            prop_assert!(same_contents(&mirror, &current), "mirror at {} does not catch up", n);
        }
        Ok(())
    };
    check(&feed, 0)?;
    prop_assert!(
        feed.len() <= snapshots.len(),
        "the feed holds more entries than changes"
    );
    let c = compact.index(snapshots.len()) as u64;
    feed.compact_through(c);
    check(&feed, c)?;
    if c > 0 {
        let resync = matches!(feed.changes_since(c - 1), Err(FeedError::Resync { .. }));
        prop_assert!(resync, "an old token is not told to resync");
    }
    let unknown = matches!(feed.changes_since(feed.latest() + 1), Err(FeedError::Unknown { .. }));
    prop_assert!(unknown, "a token from the future is accepted");
    Ok(())
}

fn wire_round_trip<M: Gen>(s: MemoryTable<M>, items: Vec<DeltaItem<M>>) -> Result<(), TestCaseError> {
    let request = DeltaRequest::new(items);
    let json = serde_json::to_string(&request).unwrap();
    let parsed: DeltaRequest<M> = serde_json::from_str(&json).unwrap();
    prop_assert_eq!(&parsed, &request, "the request changed on the wire: {}", json);
    let a = prepare_items(&s, &request.value, Mode::ContinueOnError).unwrap();
    let b = prepare_items(&s, &parsed.value, Mode::ContinueOnError).unwrap();
    prop_assert_eq!(a, b);
    Ok(())
}

fn echoes_plan_nothing<M: Gen>(t: MemoryTable<M>, echo: MemoryTable<M>) -> Result<(), TestCaseError> {
    let exact = plan(&echo, &t);
    prop_assert!(exact.is_empty(), "plan(echo(t), t) = {:?}", exact);
    let merge = plan_merge(&echo, &t);
    prop_assert!(merge.is_empty(), "plan_merge(echo(t), t) = {:?}", merge);
    Ok(())
}

fn plans_are_accepted<M: Gen>(s: MemoryTable<M>, t: MemoryTable<M>) -> Result<(), TestCaseError> {
    let exact = plan(&s, &t);
    let after = applied(&s, &exact, Mode::Atomic);
    prop_assert!(
        after.is_some(),
        "plan refused: {:?}",
        prepare_items(&s, &exact, Mode::Atomic).err()
    );
    let after = after.unwrap();
    prop_assert!(plan(&after, &t).is_empty(), "plan does not converge");
    prop_assert_eq!(after.len(), t.len());

    let merge = plan_merge(&s, &t);
    prop_assert!(merge.iter().all(|i| !i.is_removal()), "plan_merge removes");
    let after = applied(&s, &merge, Mode::Atomic);
    prop_assert!(
        after.is_some(),
        "plan_merge refused: {:?}",
        prepare_items(&s, &merge, Mode::Atomic).err()
    );
    let after = after.unwrap();
    prop_assert!(plan_merge(&after, &t).is_empty(), "plan_merge does not converge");
    prop_assert!(
        s.rows().all(|(k, _)| after.row(k).is_some()),
        "plan_merge lost a mapping"
    );
    prop_assert!(
        t.rows().all(|(k, _)| after.row(k).is_some()),
        "plan_merge missed a mapping"
    );
    Ok(())
}

/// A plan built step by step from a [`PlanQueue`], with each item applied to `current` before the next is
/// built (as a push records what the service acknowledged), is the plan made all at once.
fn queued_plan<M: Gen>(s: MemoryTable<M>, t: MemoryTable<M>) -> Result<(), TestCaseError> {
    for complete in [true, false] {
        let whole = if complete { plan(&s, &t) } else { plan_merge(&s, &t) };
        let mut current = s.clone();
        let mut queue = PlanQueue::new(&current, t.clone(), complete);
        let mut got = Vec::new();
        while let Some(item) = queue.next_item(&current) {
            let after = applied(&current, std::slice::from_ref(&item), Mode::Atomic);
            prop_assert!(after.is_some(), "a queued item was refused: {:?}", item);
            current = after.unwrap();
            got.push(item);
        }
        prop_assert_eq!(&got, &whole, "complete: {}", complete);
    }
    Ok(())
}

macro_rules! laws_for {
    ($kind:ident, $M:ty) => {
        mod $kind {
            use super::*;
            proptest! {
                #[test]
                fn law_plan_then_apply_reaches_the_desired_state(s in state::<$M>(10), t in state::<$M>(10)) {
                    plan_then_apply(s, t)?;
                }

                #[test]
                fn law_chunks_applied_in_turn_equal_the_whole(s in state::<$M>(8), items in valid_items::<$M>(30), max in 1usize..=50) {
                    chunking(s, items, max)?;
                }

                #[test]
                fn law_a_retried_request_changes_nothing_more(s in state::<$M>(8), items in valid_items::<$M>(12)) {
                    retry_safety(s, items)?;
                }

                #[test]
                fn law_an_invalid_item_refuses_the_whole_request(s in state::<$M>(8), (items, bad) in items_with_invalid::<$M>(12)) {
                    atomicity(s, items, bad)?;
                }

                #[test]
                fn law_change_feed_replay_catches_any_mirror_up(
                    s in state::<$M>(6),
                    requests in proptest::collection::vec(valid_items::<$M>(8), 0..4),
                    compact in any::<prop::sample::Index>(),
                ) {
                    change_feed(s, requests, compact)?;
                }

                #[test]
                fn law_a_service_echo_is_never_a_difference((t, echo) in echoed_state::<$M>(10)) {
                    echoes_plan_nothing(t, echo)?;
                }

                #[test]
                fn law_every_plan_is_accepted_whatever_the_service_echoed((_, s) in echoed_state::<$M>(10), t in state::<$M>(10)) {
                    plans_are_accepted(s, t)?;
                }

                #[test]
                fn law_a_plan_built_as_it_is_sent_is_the_plan((_, s) in echoed_state::<$M>(10), t in state::<$M>(10)) {
                    queued_plan(s, t)?;
                }

                #[test]
                fn law_a_request_applies_the_same_after_a_wire_round_trip(s in state::<$M>(8), items in valid_items::<$M>(12)) {
                    wire_round_trip(s, items)?;
                }
            }
        }
    };
}

laws_for!(groups, Group);
laws_for!(users, User);
