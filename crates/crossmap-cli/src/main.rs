//! `crossmap`: the command line of the crossmap toolkit.
//!
//! Status: only what exists so far. `crossmap ids` encodes and decodes mapping ids and alternate-key
//! segments with the model; `serve`, `plan`, `push`, `get`, `export` and `token` come with their issues.

// A command-line tool reports on its terminal.
#![allow(clippy::print_stdout)]

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use crossmap_model::{
    GroupKey, IdentityMapping, MappingId, MappingKey, SharePointGroupIdentityMapping, SharePointUserIdentityMapping,
    UserKey,
};

/// Tools for Microsoft Graph's SharePoint cross-tenant identity-mapping API.
#[derive(Debug, Parser)]
#[command(name = "crossmap", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the mapping id and the alternate-key URL segment of a source key, or decode a mapping id.
    Ids {
        #[command(subcommand)]
        what: IdsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum IdsCommand {
    /// A user mapping's id and segment, from the source UPN.
    User {
        /// The source user principal name.
        upn: String,
    },
    /// A group mapping's id and segment, from the source group's object id.
    Group {
        /// The source group's Entra object id (a GUID).
        object_id: String,
    },
    /// Which mapping an id names.
    Decode {
        /// A mapping id, as in the `id` property.
        id: String,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Ids { what } => ids(what),
    }
}

fn ids(what: IdsCommand) -> Result<()> {
    match what {
        IdsCommand::User { upn } => {
            let key = UserKey::parse(&upn).context("reading the UPN")?;
            println!(
                "id\t{}\nsegment\t{}",
                SharePointUserIdentityMapping::id_of(&key),
                key.to_segment()
            );
        }
        IdsCommand::Group { object_id } => {
            let key = GroupKey::parse(&object_id).context("reading the group object id")?;
            println!(
                "id\t{}\nsegment\t{}",
                SharePointGroupIdentityMapping::id_of(&key),
                key.to_segment()
            );
        }
        IdsCommand::Decode { id } => match MappingId::decode(&id).context("decoding the id")? {
            MappingId::User(key) => println!("user\t{key}\nsegment\t{}", key.to_segment()),
            MappingId::Group(key) => println!("group\t{key}\nsegment\t{}", key.to_segment()),
        },
    }
    Ok(())
}
