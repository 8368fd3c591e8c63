//! The id and URL segment of a user's or a group's mapping, from the model alone (no I/O): what
//! `crossmap ids` prints.
//!
//! `cargo run -p crossmap --example ids -- user "o'brien@contoso.com"` or `-- group GUID`.

// An example program reports on its terminal.
#![allow(clippy::print_stdout)]

use crossmap::prelude::*;

fn show<M: IdentityMapping>(key: &M::Key) {
    println!("id       {}", M::id_of(key));
    println!("segment  {}", key.to_segment());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["user", upn] => show::<UserMapping>(&UserKey::parse(upn)?),
        ["group", id] => show::<GroupMapping>(&GroupKey::parse(id)?),
        _ => return Err("usage: ids user UPN | ids group GUID".into()),
    }
    Ok(())
}
