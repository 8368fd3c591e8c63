//! Directory objects for matching tests: proptest strategies for small tenants whose values collide a lot,
//! and [`Migration`], a deterministic pair of large tenants with a realistic mix, for benchmarks.

use crossmap_model::directory::{Group, User};
use crossmap_model::{Guid, Patch};
use proptest::prelude::*;
use proptest::sample::select;

/// A user with an id and a UPN, nothing else: tests set the rest.
pub fn user(id: u128, upn: &str) -> User {
    User {
        id: Patch::Value(Guid::from_u128(id)),
        user_principal_name: Patch::Value(upn.to_owned()),
        ..User::default()
    }
}

/// A group with an id, a display name, a mail nickname and a kind.
pub fn group(id: u128, display_name: &str, mail_nickname: &str, microsoft_365: bool) -> Group {
    Group {
        id: Patch::Value(Guid::from_u128(id)),
        display_name: Patch::Value(display_name.to_owned()),
        mail_nickname: Patch::Value(mail_nickname.to_owned()),
        group_types: Patch::Value(if microsoft_365 {
            vec!["Unified".to_owned()]
        } else {
            Vec::new()
        }),
        security_enabled: Patch::Value(!microsoft_365),
        mail_enabled: Patch::Value(microsoft_365),
        ..Group::default()
    }
}

/// The domains small tenants use: a and c are the "source" domains a test may map to b.
pub const DOMAINS: [&str; 3] = ["a.com", "b.com", "c.com"];
const LOCALS: [&str; 5] = ["ann", "bob", "cat", "dan", "eve"];

fn spelled(s: String, upper: bool) -> String {
    if upper { s.to_uppercase() } else { s }
}

fn address() -> impl Strategy<Value = String> {
    (select(&LOCALS[..]), select(&DOMAINS[..]), any::<bool>()).prop_map(|(l, d, up)| spelled(format!("{l}@{d}"), up))
}

fn opt_of(pool: &'static [&'static str]) -> impl Strategy<Value = Patch<String>> {
    prop_oneof![
        2 => Just(Patch::Absent),
        1 => Just(Patch::Null),
        4 => select(pool).prop_map(|v| Patch::Value(v.to_owned())),
    ]
}

/// A user whose every value comes from a pool of a few: UPNs (some `#EXT#`), immutable and employee ids,
/// addresses in three domains, display names, guests, disabled accounts. Ids are set by [`users`].
pub fn small_user() -> impl Strategy<Value = User> {
    let upn = (select(&LOCALS[..]), select(&DOMAINS[..]), 0..8u8).prop_map(|(l, d, k)| match k {
        0 => format!("{l}_x.org#EXT#@{d}"),
        1 => format!("{}@{d}", l.to_uppercase()),
        _ => format!("{l}{}@{d}", k % 3),
    });
    let addresses = prop::collection::vec((address(), any::<bool>()), 0..3);
    (
        upn,
        opt_of(&["i1", "i2", "I1", "i3"]),
        opt_of(&["e1", "e2", " E2 ", "e3", ""]),
        prop::option::of(address()),
        addresses,
        prop::collection::vec(address(), 0..2),
        opt_of(&["Ann Lee", "ann lee", "Bob", "Cat Z"]),
        (any::<bool>(), prop::option::of(prop::bool::weighted(0.85))),
    )
        .prop_map(
            |(upn, immutable, employee, mail, proxies, others, display, (guest, enabled))| User {
                user_principal_name: Patch::Value(upn),
                on_premises_immutable_id: immutable,
                employee_id: employee,
                mail: mail.map_or(Patch::Absent, Patch::Value),
                proxy_addresses: Patch::Value(
                    proxies
                        .into_iter()
                        .map(|(a, primary)| format!("{}:{a}", if primary { "SMTP" } else { "smtp" }))
                        .collect(),
                ),
                other_mails: Patch::Value(others),
                display_name: display,
                user_type: Patch::Value(if guest { "Guest" } else { "Member" }.to_owned()),
                account_enabled: enabled.map_or(Patch::Absent, Patch::Value),
                ..User::default()
            },
        )
}

/// A group with a display name and a mail nickname from small pools, of either kind.
pub fn small_group() -> impl Strategy<Value = Group> {
    (
        select(&["Finance", "finance", "Sales", "HR", ""][..]),
        select(&["fin", "sales", "hr", "FIN"][..]),
        any::<bool>(),
    )
        .prop_map(|(d, n, m365)| group(0, d, n, m365))
}

/// Up to `max` users with distinct UPNs (without regard to case), ids `id_base + i`.
pub fn users(max: usize, id_base: u128) -> impl Strategy<Value = Vec<User>> {
    prop::collection::vec(small_user(), 0..=max).prop_map(move |mut v| {
        let mut seen = std::collections::HashSet::new();
        v.retain(|u| seen.insert(u.user_principal_name.value().map(|s| s.to_lowercase())));
        for (i, u) in v.iter_mut().enumerate() {
            u.id = Patch::Value(Guid::from_u128(id_base + i as u128));
        }
        v
    })
}

/// Up to `max` groups, ids `id_base + i`.
pub fn groups(max: usize, id_base: u128) -> impl Strategy<Value = Vec<Group>> {
    prop::collection::vec(small_group(), 0..=max).prop_map(move |mut v| {
        for (i, g) in v.iter_mut().enumerate() {
            g.id = Patch::Value(Guid::from_u128(id_base + i as u128));
        }
        v
    })
}

/// splitmix64.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const FIRST: [&str; 40] = [
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Lars",
    "Ingrid",
    "Jürgen",
    "Anaïs",
    "Sofia",
    "Mateo",
    "Yuki",
    "Wei",
    "Priya",
    "Arjun",
    "Olga",
    "Ivan",
    "Fatima",
    "Omar",
    "Chloé",
    "Lucas",
    "Emma",
    "Noah",
    "Zoé",
    "Liam",
];
const LAST: [&str; 50] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Müller",
    "Schmidt",
    "Dubois",
    "Rossi",
    "Kowalski",
    "Novak",
    "Tanaka",
    "Chen",
    "Singh",
    "Kim",
];

/// The realistic mix's shares, per 1,000 people.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Left before the move: disabled in the source, absent from the target.
    pub departed: u64,
    /// Not moving: enabled in the source, absent from the target (a new hire fills the target slot).
    pub staying: u64,
    /// Guests (`#EXT#`), matched by their real address.
    pub guests: u64,
    /// Synced from one Active Directory: the same `onPremisesImmutableId` on both sides.
    pub synced: u64,
    /// With an `employeeId` on both sides.
    pub with_employee_id: u64,
    /// The `employeeId` is the placeholder `0` (shared by many, on both sides).
    pub placeholder_employee_id: u64,
    /// Renamed in the target (a new surname in the UPN; the old address kept as a proxy address).
    pub renamed: u64,
    /// The source's `employeeId` is a typo: another person's.
    pub typo_employee_id: u64,
}

impl Default for Mix {
    fn default() -> Mix {
        Mix {
            departed: 30,
            staying: 20,
            guests: 30,
            synced: 500,
            with_employee_id: 700,
            placeholder_employee_id: 5,
            renamed: 50,
            typo_employee_id: 2,
        }
    }
}

/// A tenant-to-tenant move of `n` people: contoso.com → fabrikam.com. Source user `i` and target user
/// `i` are the same person unless that person departed or stays behind (then the target's `i` is a new
/// hire). Display names come from 2,000 first × last pairs, so many people share one. Map
/// `contoso.com=fabrikam.com` and `contoso.onmicrosoft.com=fabrikam.onmicrosoft.com`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// How many people (users per side).
    pub n: u64,
    /// The shares.
    pub mix: Mix,
}

struct Person {
    r: u64,
    first: &'static str,
    last: &'static str,
    bucket: u64,
}

impl Migration {
    /// A move of `n` people with the default mix.
    pub fn new(n: u64) -> Migration {
        Migration { n, mix: Mix::default() }
    }

    fn person(&self, p: u64, salt: u64) -> Person {
        let r = mix(p ^ salt.wrapping_mul(0x5851_f42d_4c95_7f2d));
        Person {
            r,
            first: FIRST[(r % FIRST.len() as u64) as usize],
            last: LAST[((r >> 8) % LAST.len() as u64) as usize],
            bucket: mix(p) % 1000,
        }
    }

    fn is(&self, bucket: u64, which: u8) -> bool {
        let m = &self.mix;
        // Exclusive bands of the per-person bucket for the person's kind.
        let departed = m.departed;
        let staying = departed + m.staying;
        let guests = staying + m.guests;
        match which {
            0 => bucket < departed,
            1 => (departed..staying).contains(&bucket),
            2 => (staying..guests).contains(&bucket),
            _ => false,
        }
    }

    fn values(&self, p: u64) -> (Option<String>, Option<String>) {
        let m = &self.mix;
        let r = mix(p.wrapping_add(17));
        let immutable = (r % 1000 < m.synced).then(|| {
            let v = mix(p.wrapping_add(99));
            format!("{:016x}{:08x}==", v, (v >> 7) as u32)
        });
        let e = (r >> 10) % 1000;
        let employee = if e < m.placeholder_employee_id {
            Some("0".to_owned())
        } else if e < m.with_employee_id {
            Some(format!("E{:07}", p))
        } else {
            None
        };
        (immutable, employee)
    }

    /// The source tenant's `i`-th user.
    pub fn source_user(&self, i: u64) -> User {
        let person = self.person(i, 0);
        let (immutable, mut employee) = self.values(i);
        let guest = self.is(person.bucket, 2);
        if !guest && (person.r >> 20) % 1000 < self.mix.typo_employee_id && i > 0 {
            employee = self.values(i - 1).1.filter(|e| e != "0");
        }
        self.make(
            i,
            &person,
            "contoso",
            guest,
            immutable,
            employee,
            false,
            !self.is(person.bucket, 0),
        )
    }

    /// The target tenant's `i`-th user.
    pub fn target_user(&self, i: u64) -> User {
        let person = self.person(i, 0);
        if self.is(person.bucket, 0) || self.is(person.bucket, 1) {
            // A new hire: another person altogether.
            let hire = self.person(i, 7);
            let tag = self.n + i;
            return self.make(
                tag,
                &hire,
                "fabrikam",
                false,
                None,
                Some(format!("N{tag:07}")),
                false,
                true,
            );
        }
        let (immutable, employee) = self.values(i);
        let renamed = (person.r >> 30) % 1000 < self.mix.renamed;
        self.make(
            i,
            &person,
            "fabrikam",
            self.is(person.bucket, 2),
            immutable,
            employee,
            renamed,
            true,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn make(
        &self,
        tag: u64,
        p: &Person,
        tenant: &str,
        guest: bool,
        immutable: Option<String>,
        employee: Option<String>,
        renamed: bool,
        enabled: bool,
    ) -> User {
        let (first, last) = (p.first, p.last);
        let display = format!("{first} {last}");
        let mut u = User {
            id: Patch::Value(Guid::from_u128(
                (u128::from(mix(tag ^ tenant.len() as u64)) << 64) | u128::from(tag),
            )),
            display_name: Patch::Value(display),
            given_name: Patch::Value(first.to_owned()),
            surname: Patch::Value(last.to_owned()),
            account_enabled: Patch::Value(enabled),
            ..User::default()
        };
        if guest {
            let home = format!(
                "{}.{}{tag}@partner{}.com",
                first.to_lowercase(),
                last.to_lowercase(),
                p.r % 97
            );
            u.user_principal_name = Patch::Value(format!("{}#EXT#@{tenant}.onmicrosoft.com", home.replace('@', "_")));
            u.mail = Patch::Value(home.clone());
            u.other_mails = Patch::Value(vec![home]);
            u.user_type = Patch::Value("Guest".to_owned());
            u.creation_type = Patch::Value("Invitation".to_owned());
            return u;
        }
        let ascii = |s: &str| s.replace('ü', "u").replace('ï', "i").replace('é', "e");
        let upn_last = if renamed {
            LAST[((p.r >> 40) % LAST.len() as u64) as usize]
        } else {
            last
        };
        let upn = format!("{}.{}{tag}@{tenant}.com", ascii(first), ascii(upn_last));
        let alias = format!("{}{}{tag}@{tenant}.com", &ascii(first)[..1], ascii(last)).to_lowercase();
        let mut proxies = vec![format!("SMTP:{upn}"), format!("smtp:{alias}")];
        if renamed {
            proxies.push(format!("smtp:{}.{}{tag}@{tenant}.com", ascii(first), ascii(last)));
        }
        proxies.push(format!(
            "smtp:{}@{tenant}.onmicrosoft.com",
            alias.split('@').next().unwrap_or("x")
        ));
        u.mail = Patch::Value(upn.clone());
        u.user_principal_name = Patch::Value(upn);
        u.proxy_addresses = Patch::Value(proxies);
        if p.r.is_multiple_of(10) {
            u.other_mails = Patch::Value(vec![format!("{}{tag}@gmail.com", ascii(first).to_lowercase())]);
        }
        u.on_premises_immutable_id = immutable.map_or(Patch::Null, Patch::Value);
        u.employee_id = employee.map_or(Patch::Null, Patch::Value);
        u.user_type = Patch::Value("Member".to_owned());
        u.mail_nickname = Patch::Value(alias.split('@').next().unwrap_or("x").to_owned());
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_migration_is_deterministic_and_mostly_the_same_people() {
        let m = Migration::new(1000);
        assert_eq!(m.source_user(5), m.source_user(5));
        let same = (0..1000)
            .filter(|&i| m.source_user(i).display_name == m.target_user(i).display_name)
            .count();
        assert!((850..1000).contains(&same), "{same}");
        let disabled = (0..1000).filter(|&i| !m.source_user(i).is_enabled()).count();
        assert!((10..60).contains(&disabled), "{disabled}");
        let guests = (0..1000).filter(|&i| m.source_user(i).is_guest()).count();
        assert!((10..60).contains(&guests), "{guests}");
    }
}
