//! Concurrent writers on a few shared keys through every HTTP write path (POST, PATCH and DELETE by id,
//! delta upserts and removals) and reads: the acknowledged history must be linearizable, that is, there
//! must be one order of the calls, consistent with which call finished before which began, in which
//! every answer and the final state are what one mapping at a time would give.

use crate::support::{Emulator, TENANT};
use crossmap_model::{GroupKey, IdentityMapping, SharePointGroupIdentityMapping as Group};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Instant;

const GROUPS: &str = "crossOrganizationGroupMappings";
const KEYS: u32 = 3;
const TASKS: u32 = 8;
const CALLS: u32 = 40;

/// What the test models of a mapping: the properties the calls set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Mapping {
    group_type: String,
    target: String,
    name: String,
}

#[derive(Debug, Clone)]
enum Call {
    /// `POST` of a complete mapping: `201`, or `409` when the key is taken.
    Create(Mapping),
    /// `PATCH` by id of the target (and `sourceOrganizationId`): `204`, or `404` when there is none.
    Update { target: String, name: String },
    /// `DELETE` by id: `204`, or `404`.
    Delete,
    /// A one-item delta PATCH upserting a complete mapping: `200`.
    Upsert(Mapping),
    /// A one-item delta PATCH removing the key: `200`.
    Remove,
    /// `GET` by id: the mapping, or `404`.
    Read,
}

#[derive(Debug)]
struct Event {
    call: Call,
    start: Instant,
    end: Instant,
    status: u16,
    /// What a read saw.
    seen: Option<Mapping>,
}

fn source(key: u32) -> String {
    format!("00000000-0000-0000-0000-{key:012}")
}

fn id_of(key: u32) -> String {
    Group::id_of(&GroupKey::parse(&source(key)).unwrap())
}

fn body(key: u32, m: &Mapping) -> Value {
    json!({"sourceOrganizationId": TENANT, "groupType": m.group_type,
        "sourceGroupIdentity": {"id": source(key)},
        "targetGroupIdentity": {"id": m.target, "displayName": m.name}})
}

fn seen(v: &Value) -> Mapping {
    Mapping {
        group_type: v["groupType"].as_str().unwrap_or_default().to_owned(),
        target: v["targetGroupIdentity"]["id"].as_str().unwrap_or_default().to_owned(),
        name: v["targetGroupIdentity"]["displayName"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Makes `call` on `key` through the collection at `url`, and records when and what it answered.
async fn run(http: &reqwest::Client, url: &str, token: &str, key: u32, call: Call) -> Event {
    let by_id = format!("{url}/{}", id_of(key));
    let delta = |item: Value| json!({"@context": "#$delta", "value": [item]});
    let start = Instant::now();
    let request = match &call {
        Call::Create(m) => http.post(url).json(&body(key, m)),
        Call::Update { target, name } => http
            .patch(&by_id)
            .json(&json!({"sourceOrganizationId": TENANT, "targetGroupIdentity": {"id": target, "displayName": name}})),
        Call::Delete => http.delete(&by_id),
        Call::Upsert(m) => http.patch(url).json(&delta(body(key, m))),
        Call::Remove => http.patch(url).json(&delta(
            json!({"@removed": {"reason": "deleted"}, "sourceGroupIdentity": {"id": source(key)}}),
        )),
        Call::Read => http.get(&by_id),
    };
    let response = request.bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let end = Instant::now();
    let expected: &[u16] = match call {
        Call::Create(_) => &[201, 409],
        Call::Update { .. } | Call::Delete => &[204, 404],
        Call::Upsert(_) | Call::Remove => &[200],
        Call::Read => &[200, 404],
    };
    assert!(expected.contains(&status), "{call:?} answered {status}: {text}");
    let seen = match call {
        Call::Read if status == 200 => Some(seen(&serde_json::from_str(&text).unwrap())),
        _ => None,
    };
    Event {
        call,
        start,
        end,
        status,
        seen,
    }
}

/// The state after `event` applied to `state`, if its answer is what one mapping at a time gives.
fn step(state: &Option<Mapping>, event: &Event) -> Option<Option<Mapping>> {
    match (&event.call, state, event.status) {
        (Call::Create(m), None, 201) => Some(Some(m.clone())),
        (Call::Create(_), Some(_), 409) => Some(state.clone()),
        (Call::Update { target, name }, Some(m), 204) => Some(Some(Mapping {
            group_type: m.group_type.clone(),
            target: target.clone(),
            name: name.clone(),
        })),
        (Call::Update { .. } | Call::Delete, None, 404) => Some(None),
        (Call::Delete, Some(_), 204) => Some(None),
        (Call::Upsert(m), _, 200) => Some(Some(m.clone())),
        (Call::Remove, _, 200) => Some(None),
        (Call::Read, _, _) if event.seen == *state => Some(state.clone()),
        _ => None,
    }
}

/// Whether the events have a linearization from an absent mapping (Wing and Gong's search, remembering
/// the dead ends).
fn linearizable(events: &[Event]) -> bool {
    fn search(
        events: &[Event],
        done: u128,
        state: Option<Mapping>,
        dead: &mut HashSet<(u128, Option<Mapping>)>,
    ) -> bool {
        let pending = || (0..events.len()).filter(move |i| done & (1 << i) == 0);
        let Some(first_end) = pending().map(|i| events[i].end).min() else {
            return true;
        };
        if dead.contains(&(done, state.clone())) {
            return false;
        }
        // A call may go next only if no pending call finished before it began.
        for i in pending().filter(|&i| events[i].start <= first_end) {
            if let Some(next) = step(&state, &events[i]) {
                if search(events, done | (1 << i), next, dead) {
                    return true;
                }
            }
        }
        dead.insert((done, state));
        false
    }
    assert!(events.len() <= 128, "the search keeps its set of calls in a u128");
    search(events, 0, None, &mut HashSet::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_on_every_path_are_linearizable() {
    let e = Emulator::memory().await;
    let token = e.writer(TENANT);
    let url = e.url(GROUPS);
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (http, url, token) = (e.http.clone(), url.clone(), token.clone());
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(u64::from(task));
                let mut events = Vec::new();
                for n in 0..CALLS {
                    let key = rng.u32(0..KEYS);
                    let target = format!("99999999-0000-0000-{task:04}-{n:012}");
                    let mapping = |group_type: &str, how: &str| Mapping {
                        group_type: group_type.to_owned(),
                        target: target.clone(),
                        name: format!("{how} {task}.{n}"),
                    };
                    let call = match rng.u8(0..20) {
                        0..=4 => Call::Create(mapping("regularGroup", "created")),
                        5..=8 => Call::Update {
                            target: target.clone(),
                            name: format!("updated {task}.{n}"),
                        },
                        9..=12 => Call::Delete,
                        13..=14 => Call::Upsert(mapping("m365Group", "upserted")),
                        15..=16 => Call::Remove,
                        _ => Call::Read,
                    };
                    events.push((key, run(&http, &url, &token, key, call).await));
                }
                events
            })
        })
        .collect();
    let mut history: Vec<Vec<Event>> = (0..KEYS).map(|_| Vec::new()).collect();
    for t in tasks {
        for (key, event) in t.await.unwrap() {
            history[key as usize].push(event);
        }
    }
    // The final state is one more read, after everything.
    for key in 0..KEYS {
        let event = run(&e.http, &url, &token, key, Call::Read).await;
        history[key as usize].push(event);
    }
    for (key, events) in history.iter_mut().enumerate() {
        events.sort_by_key(|e| e.start);
        let acknowledged = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
        assert!(
            linearizable(events),
            "key {key}: no order of its {} calls explains the answers ({} creates answered 201, {} deletes 204, \
             {} updates 204; final state {:?}); history: {events:#?}",
            events.len(),
            acknowledged(|e| matches!(e.call, Call::Create(_)) && e.status == 201),
            acknowledged(|e| matches!(e.call, Call::Delete) && e.status == 204),
            acknowledged(|e| matches!(e.call, Call::Update { .. }) && e.status == 204),
            events.last().and_then(|e| e.seen.as_ref()),
        );
    }
}

#[test]
fn the_checker_rejects_a_lost_update() {
    // Two creates of one key both answered 201 with nothing between them: no order explains it.
    let t = Instant::now();
    let later = t + std::time::Duration::from_millis(1);
    let m = |name: &str| Mapping {
        group_type: "regularGroup".into(),
        target: "t".into(),
        name: name.into(),
    };
    let event = |call, status, seen| Event {
        call,
        start: t,
        end: later,
        status,
        seen,
    };
    let final_read = |seen| Event {
        call: Call::Read,
        start: later + std::time::Duration::from_millis(1),
        end: later + std::time::Duration::from_millis(2),
        status: 200,
        seen,
    };
    let lost = [
        event(Call::Create(m("a")), 201, None),
        event(Call::Create(m("b")), 201, None),
        final_read(Some(m("b"))),
    ];
    assert!(!linearizable(&lost));
    let fine = [
        event(Call::Create(m("a")), 201, None),
        event(Call::Create(m("b")), 409, None),
        final_read(Some(m("a"))),
    ];
    assert!(linearizable(&fine));
    // An update that answered 204 after a delete that answered 204 cannot have brought the mapping back.
    let then = later + std::time::Duration::from_millis(3);
    let after = |call, status, seen| Event {
        call,
        start: then,
        end: then + std::time::Duration::from_millis(1),
        status,
        seen,
    };
    let recreated = Mapping {
        group_type: "none".into(),
        target: "u".into(),
        name: "u".into(),
    };
    let update = || Call::Update {
        target: "u".into(),
        name: "u".into(),
    };
    let resurrected = [
        event(Call::Create(m("a")), 201, None),
        after(Call::Delete, 204, None),
        after(update(), 204, None),
        final_read(Some(recreated.clone())).shifted(then),
    ];
    assert!(!linearizable(&resurrected));
    let ordered = [
        event(Call::Create(m("a")), 201, None),
        after(Call::Delete, 204, None),
        after(update(), 404, None),
        final_read(None).shifted(then),
    ];
    assert!(linearizable(&ordered));
}

impl Event {
    /// The same event, moved to begin after `t`.
    fn shifted(mut self, t: Instant) -> Event {
        let length = self.end - self.start;
        self.start = t + std::time::Duration::from_millis(5);
        self.end = self.start + length;
        self
    }
}
