//! Starts the emulator in this process, pushes user and group mappings built with the builders, and
//! shows the report and what the emulator's journal recorded.
//!
//! `cargo run -p crossmap --example push_to_emulator [-- COUNT]` (default 120 users, and as many groups).

// An example program reports on its terminal.
#![allow(clippy::print_stdout)]

use crossmap::prelude::*;
use crossmap::testing::Emulator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: u128 = std::env::args().nth(1).map_or(Ok(120), |n| n.parse())?;
    let emulator = Emulator::start().await?;
    println!("emulator on {} (tenant {})", emulator.base_url(), emulator.tenant());
    let client = emulator.client()?;
    let org: Guid = "11111111-1111-1111-1111-111111111111".parse()?;

    let users: Vec<DeltaItem<UserMapping>> = (0..count)
        .map(|n| {
            let mapping = UserMapping::new(org, format!("user{n}@contoso.com"), format!("user{n}@fabrikam.com"))
                .email(format!("user{n}@fabrikam.com"))
                .user_type(UserType::RegularUser);
            DeltaItem::Upsert(mapping)
        })
        .collect();
    let groups: Vec<DeltaItem<GroupMapping>> = (0..count)
        .map(|n| {
            let mapping = GroupMapping::new(org, Guid::from_u128(n + 1), Guid::from_u128((1 << 64) + n + 1))
                .group_type(GroupType::RegularGroup);
            DeltaItem::Upsert(mapping)
        })
        .collect();

    // `into_result`: an error naming the first failures, if any item failed.
    let options = ApplyOptions::default();
    let users = client.apply_all(users, &options).await.into_result()?;
    let groups = client.apply_all(groups, &options).await.into_result()?;
    println!(
        "{} user and {} group mappings applied",
        users.applied(),
        groups.applied()
    );

    let journal = emulator.journal().await?;
    let patches = journal.iter().filter(|e| e.method == "PATCH");
    let items: usize = patches.clone().filter_map(|e| e.items).sum();
    println!(
        "the emulator saw {} delta PATCHes carrying {items} items",
        patches.count()
    );
    emulator.shutdown().await?;
    Ok(())
}
