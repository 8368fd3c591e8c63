//! The invariants the fuzz targets check, one function per target of `fuzz/` (see `docs/testing.md`).
//!
//! Each takes the fuzzer's bytes and panics when an invariant does not hold; a target is one call. The
//! same functions replay the committed inputs, `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/`,
//! in a normal `cargo test` ([`replay`]), so CI checks every input that ever found a bug without the
//! fuzzer. Text parsers get the bytes as UTF-8 with invalid sequences replaced, as a server that refuses
//! non-UTF-8 bodies would hand them over.
//!
//! The round-trip invariants say what the code promises: reading what was written gives back what was
//! read, `parse(serialise(parse(x))) == parse(x)`, where "serialise" is the code's own writer (the JSON
//! serialiser, `to_segment`, `MappingId::encode`, the compact encoder, the query-string writer).
//!
//! ```
//! crossmap_test_support::fuzz::alternate_key(b"crossOrganizationUserMappings(sourceUserPrincipalName='a@b')");
//! crossmap_test_support::fuzz::compact_row(&[0xff, 0x00]);
//! ```

use crossmap_delta::{MappingTable, MemoryTable, Mode, Row, Rules, parse_request, prepare_parsed};
use crossmap_model::keys::{encode_literal, parse_string_literal};
use crossmap_model::{
    DeltaItem, DeltaRequest, GroupKey, IdentityMapping, MappingId, MappingKey, SharePointGroupIdentityMapping as Group,
    SharePointUserIdentityMapping as User, UserKey,
};
use std::borrow::Cow;
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// `crossmap_delta::parse_request` of both kinds, then the engine on what it read.
///
/// Every item that reads, written as JSON, reads back as the same item; a request whose items all read,
/// written back, reads back as the same request; working it out against an empty table gives one
/// outcome per item, and every mapping it would store serialises to JSON that reads back as itself.
pub fn delta_request(data: &[u8]) {
    let body = text(data);
    request_invariants::<User>(&body);
    request_invariants::<Group>(&body);
}

fn request_invariants<M: Rules>(body: &str) {
    let Ok(parsed) = parse_request::<M>(body) else {
        return;
    };
    for item in parsed.items.iter().flatten() {
        let json = serde_json::to_string(item).expect("an item serialises");
        let again: DeltaItem<M> =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("item {item:?} wrote {json} which reads as: {e}"));
        assert_eq!(&again, item, "item written as {json} reads back differently");
    }
    if parsed.items.iter().all(Result::is_ok) {
        let request = DeltaRequest {
            context: parsed.context.clone(),
            value: parsed.items.iter().flatten().cloned().collect(),
        };
        let json = serde_json::to_string(&request).expect("a request serialises");
        let again = parse_request::<M>(&json).unwrap_or_else(|e| panic!("request written as {json} reads as: {e}"));
        assert_eq!(again, parsed, "request written as {json} reads back differently");
    }
    let items = parsed.items.len();
    let _ = prepare_parsed(&MemoryTable::new(), parsed.clone(), Mode::Atomic);
    if let Ok(prepared) = prepare_parsed(&MemoryTable::new(), parsed, Mode::ContinueOnError) {
        assert_eq!(prepared.outcomes.len(), items, "one outcome per item");
        let mut table = MemoryTable::<M>::new();
        prepared.commit(&mut table);
        for (_, row) in table.rows() {
            json_round_trip(&row.decode::<M>());
        }
    }
}

/// A mapping serialises to JSON that reads back as the same mapping: what the emulator serves parses.
fn json_round_trip<M: IdentityMapping>(mapping: &M) {
    let json = serde_json::to_string(mapping).expect("a mapping serialises");
    let again: M =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{mapping:?} wrote {json} which reads as: {e}"));
    assert_eq!(&again, mapping, "mapping written as {json} reads back differently");
}

/// The alternate-key parsers of both kinds (`parse`, `from_segment`, `from_key_predicate`,
/// `from_literal`) and OData string literals.
///
/// A key read from anything is in normal form (parsing its text gives it back); its segment, key
/// predicate and mapping id read back as the same key. A literal read back from its writer is itself.
pub fn alternate_key(data: &[u8]) {
    let text = text(data);
    key_invariants::<User>(&text);
    key_invariants::<Group>(&text);
    if let Ok(value) = parse_string_literal(&text) {
        literal_round_trip(&value);
    }
    literal_round_trip(&text);
}

fn key_invariants<M: IdentityMapping>(text: &str) {
    let read = [
        M::Key::parse(text),
        M::Key::from_segment(text),
        M::Key::from_key_predicate(text),
        M::Key::from_literal(text),
    ];
    for key in read.into_iter().flatten() {
        let normal = M::Key::parse(key.as_str()).unwrap_or_else(|e| panic!("{key:?} does not read back: {e}"));
        assert_eq!(normal.as_str(), key.as_str(), "{key:?} is not in normal form");
        assert_eq!(normal, key);
        let segment = key.to_segment();
        assert_eq!(M::Key::from_segment(&segment).as_ref(), Ok(&key), "segment {segment}");
        let predicate = key.to_key_predicate();
        assert_eq!(
            M::Key::from_key_predicate(&predicate).as_ref(),
            Ok(&key),
            "predicate {predicate}"
        );
        let id = M::id_of(&key);
        let decoded = MappingId::decode(&id).unwrap_or_else(|e| panic!("the id {id} of {key:?} does not decode: {e}"));
        assert_eq!(decoded.kind(), M::KIND, "id {id}");
        assert_eq!(decoded.key_text(), key.as_str(), "id {id}");
    }
}

fn literal_round_trip(value: &str) {
    let literal = encode_literal(value);
    let decoded = percent_encoding::percent_decode_str(&literal)
        .decode_utf8()
        .unwrap_or_else(|e| panic!("literal {literal} of {value:?} is not UTF-8: {e}"));
    assert_eq!(
        parse_string_literal(&decoded).as_deref(),
        Ok(value),
        "literal {literal} of {value:?}"
    );
}

/// `MappingId::decode`: an id that decodes is the one id of its mapping (written back, it is the same
/// text, padding aside), and its key is valid and in normal form.
pub fn mapping_id(data: &[u8]) {
    let text = text(data);
    let Ok(id) = MappingId::decode(&text) else {
        return;
    };
    let encoded = id.encode();
    assert_eq!(MappingId::decode(&encoded).as_ref(), Ok(&id), "id {encoded}");
    assert_eq!(encoded, text.trim_end_matches('='), "one mapping, one id");
    match &id {
        MappingId::User(k) => assert_eq!(UserKey::parse(k.as_str()).as_ref(), Ok(k)),
        MappingId::Group(k) => assert_eq!(GroupKey::parse(k.as_str()).as_ref(), Ok(k)),
    }
}

/// The compact row decoder of both kinds (`Row::from_bytes`, as the store reads its log).
///
/// Arbitrary bytes never panic; a row that decodes re-encodes to bytes that decode to the same mapping
/// and encode to the same bytes again (equal mappings, equal rows), and the mapping serialises to JSON
/// that reads back as itself.
pub fn compact_row(data: &[u8]) {
    row_invariants::<User>(data);
    row_invariants::<Group>(data);
}

fn row_invariants<M: IdentityMapping>(data: &[u8]) {
    let Ok(row) = Row::from_bytes::<M>(data.into()) else {
        return;
    };
    let mapping: M = row.decode();
    let encoded = mapping.to_compact();
    let again = M::from_compact(&encoded).unwrap_or_else(|e| panic!("{mapping:?} encodes to bytes that read as: {e}"));
    assert_eq!(again, mapping, "decode(encode(m)) != m");
    assert_eq!(again.to_compact(), encoded, "encode is not stable");
    json_round_trip(&mapping);
}

/// A query-string parser and its writer: options that read, written and read again, are the same.
///
/// Generic so that this crate needs no server: the emulator's tests and fuzz target pass
/// `crossmap_server::Query::parse` and `Query::to_query_string`.
pub fn query_round_trip<Q, E>(data: &[u8], parse: impl Fn(&str) -> Result<Q, E>, write: impl Fn(&Q) -> String)
where
    Q: PartialEq + Debug,
    E: Debug,
{
    let text = text(data);
    let Ok(options) = parse(&text) else {
        return;
    };
    let written = write(&options);
    match parse(&written) {
        Ok(again) => assert_eq!(
            again, options,
            "{options:?} written as {written:?} reads back differently"
        ),
        Err(e) => panic!("{options:?} written as {written:?} reads as: {e:?}"),
    }
}

/// The fuzz project: `fuzz/` at the workspace root.
fn fuzz_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .expect("crates/<name> is two levels down")
        .join("fuzz")
}

/// Every committed input of a target: its seeds, then its regressions, with their paths.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for folder in ["seeds", "regressions"] {
        out.extend(files(&fuzz_dir().join(folder).join(target)));
    }
    out
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// Runs `check` on every committed input of `target`, and fails naming each input it panics on.
///
/// # Panics
/// If the target has no committed input (a replay of nothing proves nothing), or `check` panics on any.
pub fn replay(target: &str, check: impl Fn(&[u8])) {
    let inputs = inputs(target);
    assert!(
        !inputs.is_empty(),
        "fuzz target {target} has no committed inputs under fuzz/seeds/{target}/"
    );
    let failed: Vec<String> = inputs
        .iter()
        .filter(|(_, bytes)| catch_unwind(AssertUnwindSafe(|| check(bytes))).is_err())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "fuzz target {target} fails on {} committed input(s): {}",
        failed.len(),
        failed.join(", ")
    );
}
