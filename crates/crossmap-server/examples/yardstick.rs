//! The benchmark's yardsticks: what a bare axum server does on this machine, to compare the emulator with.
//!
//! `yardstick get ADDR`: `GET /fixed` answers a fixed JSON mapping. `yardstick patch ADDR`: `PATCH /items`
//! parses a 50-item delta request with the model's types, inserts the items into an in-memory map, and
//! serialises them back. No validation, no auth, no durability: the ceiling, not a competitor.
//! Used by `cargo xtask bench server`.

#![allow(clippy::print_stdout)]

use axum::Router;
use axum::extract::State;
use axum::routing::{get, patch};
use crossmap_model::{CollectionResponse, DeltaRequest, SharePointGroupIdentityMapping as Group};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Map = Arc<Mutex<HashMap<String, Group>>>;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, addr) = match args.as_slice() {
        [_, mode, addr] => (mode.clone(), addr.clone()),
        _ => panic!("usage: yardstick get|patch ADDR"),
    };
    let fixed = include_str!("../../../tests/fixtures/group_get_response.json");
    let app = match mode.as_str() {
        "get" => Router::new().route(
            "/fixed",
            get(move || async move { ([("content-type", "application/json")], fixed) }),
        ),
        "patch" => Router::new().route("/items", patch(insert)).with_state(Map::default()),
        other => panic!("unknown mode {other}"),
    };
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("binds");
    println!("yardstick {mode} on {}", listener.local_addr().expect("an address"));
    axum::serve(listener, app).await.expect("serves");
}

async fn insert(State(map): State<Map>, body: String) -> axum::Json<CollectionResponse<Group>> {
    let request: DeltaRequest<Group> = serde_json::from_str(&body).expect("a delta request");
    let items: Vec<Group> = request.value.into_iter().map(|i| i.into_entity()).collect();
    let mut map = map.lock().expect("not poisoned");
    for item in &items {
        let key = item.source_key().map(|k| k.as_str().to_owned()).unwrap_or_default();
        map.insert(key, item.clone());
    }
    axum::Json(CollectionResponse::new("#x", items))
}
