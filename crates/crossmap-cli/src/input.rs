//! The files `plan` and `push` read: the admins' identity-map CSV, or JSON Lines of wire mappings.
//!
//! Everything is read and checked before anything is sent; every problem names its file, line and
//! column (the CSV field, from 1), and the command stops while any row is wrong. Files come as admins
//! have them: UTF-8 with or without a byte-order mark, UTF-16 with one (Excel's "Unicode Text"), or
//! Windows-1252 (with a warning); delimited by commas, semicolons (a European Excel) or tabs, found from
//! the first data row; with or without a header row, which is skipped only when every cell is a known
//! column name.

use crossmap_delta::{MappingTable, Row, Rules, SortedTable, one_to_one_in, validate_owned};
use crossmap_model::{
    DeltaItem, Guid, Identity, KeyError, Patch, SharePointGroupIdentityMapping as Group,
    SharePointIdentityMappingGroupMigrationData, SharePointIdentityMappingGroupType as GroupType,
    SharePointIdentityMappingUserMigrationData, SharePointIdentityMappingUserType as UserType,
    SharePointUserIdentityMapping as User, UserIdentity, UserKey,
};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// The user types the CSV accepts, without regard to case: the API's names and admins' spellings.
pub const USER_TYPES: &str = "regularUser (also: member, user, regular), adminUser (also: admin, administrator), guestUser (also: guest, external), none";
/// The group types the CSV accepts, without regard to case.
pub const GROUP_TYPES: &str = "regularGroup (also: security, securitygroup, group, regular), m365Group (also: m365, microsoft365, \"microsoft 365\", unified, o365, office365), none";

/// The delimiters a CSV may use, in the order they are tried.
pub const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// The desired state read from a file: both kinds, plus warnings.
#[derive(Debug, Default)]
pub struct Desired {
    /// The user mappings, canonical.
    pub users: SortedTable<User>,
    /// The group mappings, canonical.
    pub groups: SortedTable<Group>,
    /// What is worth saying but stops nothing (an encoding guessed, two sources on one target, ...).
    pub warnings: Vec<String>,
    /// The line of each user mapping, when [`ReadOptions::keep_lines`] asked for them.
    pub user_lines: HashMap<UserKey, u64>,
    /// The line of each group mapping, when [`ReadOptions::keep_lines`] asked for them.
    pub group_lines: HashMap<crossmap_model::GroupKey, u64>,
    /// The rows that did not read, each with its line, when [`ReadOptions::keep_going`] asked to read the
    /// rest anyway; otherwise always empty (they fail the read).
    pub problems: Vec<String>,
}

impl Desired {
    /// The mappings, or every problem when some row did not read.
    fn checked(mut self) -> Result<Desired, Problems> {
        if self.problems.is_empty() {
            Ok(self)
        } else {
            Err(Problems(std::mem::take(&mut self.problems)))
        }
    }

    /// How many mappings the file holds.
    pub fn len(&self) -> usize {
        self.users.len() + self.groups.len()
    }

    /// Whether the file holds no mapping at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every problem found, one per line of the message.
#[derive(Debug)]
pub struct Problems(pub Vec<String>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} problem(s); nothing was sent:", self.0.len())?;
        for p in &self.0 {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file was read, and some of it is wrong.
    #[error(transparent)]
    Problems(#[from] Problems),
}

/// How to read a file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Make warnings (two sources mapped to one target, an encoding guessed, ...) errors.
    pub strict: bool,
    /// The CSV delimiter; found from the first data row when not given.
    pub delimiter: Option<u8>,
    /// Read as JSON Lines rather than CSV.
    pub jsonl: bool,
    /// Keep the line of every mapping ([`Desired::user_lines`], [`Desired::group_lines`]), for messages
    /// about rows after reading.
    pub keep_lines: bool,
    /// Read every row that reads even when others do not, and put the others' problems in
    /// [`Desired::problems`] instead of failing: for checking the rest of a file (`verify`), never for
    /// sending it.
    pub keep_going: bool,
}

fn user_type(s: &str) -> Option<UserType> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "regularuser" | "member" | "user" | "regular" => UserType::RegularUser,
        "adminuser" | "admin" | "administrator" => UserType::AdminUser,
        "guestuser" | "guest" | "external" => UserType::GuestUser,
        "none" => UserType::None,
        _ => return None,
    })
}

fn group_type(s: &str) -> Option<GroupType> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "regulargroup" | "security" | "securitygroup" | "group" | "regular" => GroupType::RegularGroup,
        "m365group" | "m365" | "microsoft365" | "microsoft 365" | "unified" | "o365" | "office365" => {
            GroupType::M365Group
        }
        "none" => GroupType::None,
        _ => return None,
    })
}

/// Reads a file by its extension: `.jsonl` / `.ndjson` as JSON Lines, anything else as the CSV.
///
/// A UTF-8 file (the usual case) is read as a stream, never held whole: a million rows are 120 MB of
/// text. Any other encoding is decoded whole first, as [`read_bytes`] does.
pub fn read(path: &Path, options: &ReadOptions) -> Result<Desired, InputError> {
    let io = |source| InputError::Io {
        path: path.to_owned(),
        source,
    };
    let jsonl = options.jsonl || matches!(path.extension().and_then(|e| e.to_str()), Some("jsonl" | "ndjson"));
    let options = ReadOptions {
        jsonl,
        ..options.clone()
    };
    let name = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(io)?;
    // The head tells the encoding (a byte-order mark) and holds the first data row (the delimiter).
    let mut head = Vec::with_capacity(HEAD);
    (&mut file).take(HEAD as u64).read_to_end(&mut head).map_err(io)?;
    let bom = match encoding_rs::Encoding::for_bom(&head) {
        None => 0,
        Some((encoding, bom)) if encoding == encoding_rs::UTF_8 => bom,
        // Past the end: never streamed.
        Some(_) => usize::MAX,
    };
    let head_text = match head.get(bom..).map(std::str::from_utf8) {
        Some(Ok(text)) => Some(text),
        // The head may end inside a character; anything else is not UTF-8.
        Some(Err(e)) if e.error_len().is_none() => {
            Some(std::str::from_utf8(&head[bom..bom + e.valid_up_to()]).unwrap_or_default())
        }
        // UTF-16, or not UTF-8.
        _ => None,
    };
    if let Some(head_text) = head_text {
        let delimiter = options.delimiter.unwrap_or_else(|| detect_delimiter(head_text));
        let stream = std::io::Cursor::new(&head[bom..]).chain(&mut file);
        let read = if options.jsonl {
            read_jsonl_from(&name, stream, options.keep_lines)
        } else {
            read_csv_from(&name, stream, delimiter, options.keep_lines)
        };
        match read {
            Ok(desired) => return Ok(finish_read(&name, desired, None, &options)?),
            Err(Unread::Io(e)) => return Err(io(e)),
            // Not UTF-8 after all: read it whole, as Windows-1252 with a warning.
            Err(Unread::NotUtf8) => {}
        }
    }
    Ok(read_bytes(&name, &std::fs::read(path).map_err(io)?, &options)?)
}

/// How much of a file is read first, to find its encoding and its delimiter.
const HEAD: usize = 64 * 1024;

/// Why a stream was not read.
enum Unread {
    /// The stream is not UTF-8: read it again, decoded.
    NotUtf8,
    /// The stream could not be read.
    Io(std::io::Error),
}

/// What every read ends with: rows that did not read fail it (unless [`ReadOptions::keep_going`]), lines
/// kept or dropped, the encoding's note first, warnings as errors when strict.
fn finish_read(
    name: &str,
    mut desired: Desired,
    note: Option<String>,
    options: &ReadOptions,
) -> Result<Desired, Problems> {
    if !options.keep_going {
        desired = desired.checked()?;
    }
    if !options.keep_lines {
        desired.user_lines = HashMap::new();
        desired.group_lines = HashMap::new();
    }
    if let Some(note) = note {
        desired.warnings.insert(0, format!("{name}: {note}"));
    }
    if options.strict && !desired.warnings.is_empty() {
        return Err(Problems(desired.warnings));
    }
    Ok(desired)
}

/// Reads the bytes of a file named `name` (for messages): decodes them, then reads the CSV or JSON Lines.
pub fn read_bytes(name: &str, bytes: &[u8], options: &ReadOptions) -> Result<Desired, Problems> {
    let (text, note) = decode(bytes);
    let desired = if options.jsonl {
        read_jsonl_all(name, &text)
    } else {
        read_csv_all(name, &text, options.delimiter)
    };
    finish_read(name, desired, note, options)
}

/// The text of a file, and a note when its encoding had to be guessed. UTF-8 and UTF-16 are known by
/// their byte-order mark; without one, bytes that are not UTF-8 are read as Windows-1252 (what Excel
/// writes as "CSV" on a Western Windows).
pub fn decode(bytes: &[u8]) -> (Cow<'_, str>, Option<String>) {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, malformed) = encoding.decode_without_bom_handling(&bytes[bom..]);
        let note = malformed.then(|| format!("not valid {}: the bad bytes were replaced by U+FFFD", encoding.name()));
        return (text, note);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (Cow::Borrowed(text), None),
        Err(e) => {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
            (
                text,
                Some(format!(
                    "not UTF-8 (first on line {line}): read as Windows-1252; save it as UTF-8 to be sure"
                )),
            )
        }
    }
}

/// The column names a header row may use, compared without regard to case, spaces, `_`, `-` and `.`.
const HEADER_NAMES: &[&str] = &[
    "type",
    "kind",
    "objecttype",
    "usergroup",
    "userorgroup",
    "user",
    "group",
    "sourcetenantcompanyid",
    "sourcetenantid",
    "sourcetenant",
    "sourceorganizationid",
    "tenantid",
    "companyid",
    "source",
    "sourceupn",
    "sourceuserupn",
    "sourceuser",
    "sourceuserprincipalname",
    "sourcegroupobjectid",
    "sourcegroupid",
    "sourcegroup",
    "sourceid",
    "sourceobjectid",
    "target",
    "targetupn",
    "targetuserupn",
    "targetuser",
    "targetuserprincipalname",
    "targetgroupobjectid",
    "targetgroupid",
    "targetgroup",
    "targetid",
    "targetobjectid",
    "email",
    "mail",
    "targetemail",
    "targetuseremail",
    "targetmail",
    "groupname",
    "name",
    "alias",
    "m365groupalias",
    "mailnickname",
    "groupnameorm365groupalias",
    "displayname",
    "usertype",
    "grouptype",
];

/// Whether `cell` is a known column name (`SourceUserUpn/SourceGroupObjectID` and `A or B` too).
fn is_column_name(cell: &str) -> bool {
    let simple = |s: &str| {
        let s: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
            .flat_map(char::to_lowercase)
            .collect();
        HEADER_NAMES.contains(&s.as_str())
    };
    simple(cell) || cell.split(['/', '|']).flat_map(|p| p.split(" or ")).all(simple)
}

/// Whether a first row is a header: every cell, and at least two, a known column name.
fn is_header(cells: &[&str]) -> bool {
    let named: Vec<&&str> = cells.iter().filter(|c| !c.is_empty()).collect();
    named.len() >= 2 && named.iter().all(|c| is_column_name(c))
}

/// The cells of the first row that holds data (a header and empty rows passed over), read with `delimiter`.
fn first_data_row(text: &str, delimiter: u8) -> Option<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut first = true;
    for record in reader.records().take(20) {
        let record = record.ok()?;
        let cells: Vec<&str> = record.iter().collect();
        if cells.iter().all(|c| c.is_empty()) {
            continue;
        }
        if std::mem::take(&mut first) && is_header(&cells) {
            continue;
        }
        return Some(cells.iter().map(|c| (*c).to_owned()).collect());
    }
    None
}

/// The delimiter of the first data row: the one that splits it into the six columns with `User` or
/// `Group` first; else the one that splits it most; `,` for a file without data.
pub fn detect_delimiter(text: &str) -> u8 {
    let width = |cells: &[String]| cells.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1);
    let rows: Vec<(u8, Vec<String>)> = DELIMITERS
        .iter()
        .filter_map(|d| first_data_row(text, *d).map(|r| (*d, r)))
        .collect();
    let kind = |cells: &[String]| {
        cells
            .first()
            .is_some_and(|c| c.eq_ignore_ascii_case("user") || c.eq_ignore_ascii_case("group"))
    };
    if let Some((d, _)) = rows.iter().find(|(_, r)| kind(r) && width(r) >= 5 && r.len() >= 6) {
        return *d;
    }
    rows.iter()
        .max_by_key(|(d, r)| (width(r), std::cmp::Reverse(DELIMITERS.iter().position(|x| x == d))))
        .filter(|(_, r)| width(r) > 1)
        .map_or(b',', |(d, _)| *d)
}

/// A user-principal-name problem, named for the column it is in.
fn upn_problem(what: &str, value: &str, e: KeyError) -> String {
    match e {
        KeyError::NotAUpn { reason, .. } => format!("{what} {value:?} is not a user principal name: {reason}"),
        other => format!("{what}: {other}"),
    }
}

/// One kind's table, built as the rows are read: each row is checked and encoded at once, so that a file
/// is never held as a list of parsed mappings (a million of them take gigabytes; their rows do not).
///
/// The rows are kept in a vector with their lines, in file order, and sorted by key at the end, where a
/// key given twice is found (the first kept, the others problems): no hash table of keys, whose spare
/// buckets and doubling took more memory than the vector, and the table comes out in key order, the
/// order a plan needs.
struct Builder<'a, M: Rules> {
    name: &'a str,
    /// Only JSON Lines can hold properties the API does not declare; the CSV's columns are all known.
    check_unknown: bool,
    /// Whether [`Builder::finish`] gives every key's line (else an empty map).
    keep_lines: bool,
    /// Every valid row read: its key, the row, its line.
    rows: Vec<(M::Key, Row, u64)>,
    warnings: Vec<String>,
}

/// Reads the admins' six-column CSV, with `delimiter` or the one [`detect_delimiter`] finds.
pub fn read_csv(name: &str, text: &str, delimiter: Option<u8>) -> Result<Desired, Problems> {
    read_csv_all(name, text, delimiter).checked()
}

/// [`read_csv`], the rows that do not read left in [`Desired::problems`].
fn read_csv_all(name: &str, text: &str, delimiter: Option<u8>) -> Desired {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let delimiter = delimiter.unwrap_or_else(|| detect_delimiter(text));
    match read_csv_from(name, text.as_bytes(), delimiter, true) {
        Ok(desired) => desired,
        // A &str is UTF-8, and reading from memory cannot fail.
        Err(Unread::NotUtf8 | Unread::Io(_)) => could_not_read(name),
    }
}

/// The result of a read from memory that failed, which cannot happen.
fn could_not_read(name: &str) -> Desired {
    Desired {
        problems: vec![format!("{name}: could not be read")],
        ..Desired::default()
    }
}

/// Where the newlines of a stream are, for the line of a byte offset: kept only from the last record
/// asked about to as far as the reader has read ahead.
struct Newlines<R> {
    inner: R,
    read: u64,
    at: std::rc::Rc<std::cell::RefCell<std::collections::VecDeque<u64>>>,
}

impl<R: Read> Read for Newlines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut at = self.at.borrow_mut();
        at.extend(
            buf[..n]
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| self.read + i as u64),
        );
        self.read += n as u64;
        Ok(n)
    }
}

/// [`read_csv`] from a stream of UTF-8 (no byte-order mark), with a known delimiter.
fn read_csv_from(name: &str, stream: impl Read, delimiter: u8, keep_lines: bool) -> Result<Desired, Unread> {
    let mut problems = Vec::new();
    let mut users = Builder::<User>::new(name, false, keep_lines);
    let mut groups = Builder::<Group>::new(name, false, keep_lines);
    let newlines = std::rc::Rc::new(std::cell::RefCell::new(std::collections::VecDeque::new()));
    // Line numbers from byte offsets (the csv crate counts lines one short after a CRLF), counted from the
    // previous record on: records come in file order. A record after a CRLF starts at its LF: count it too.
    let mut line = 1u64;
    let mut line_at = |byte: u64| {
        let mut at = newlines.borrow_mut();
        while at.front().is_some_and(|n| *n <= byte) {
            at.pop_front();
            line += 1;
        }
        line
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(Newlines {
            inner: stream,
            read: 0,
            at: newlines.clone(),
        });
    let mut first_row = true;
    for (index, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => return Err(Unread::NotUtf8),
                    csv::ErrorKind::Io(_) => match e.into_kind() {
                        csv::ErrorKind::Io(e) => return Err(Unread::Io(e)),
                        _ => unreachable!("the kind was just matched"),
                    },
                    _ => {}
                }
                let line = e.position().map_or(0, |p| line_at(p.byte()));
                problems.push(format!("{name}:{line}: not CSV: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(index as u64 + 1, |p| line_at(p.byte()));
        if record.iter().all(str::is_empty) {
            continue;
        }
        // Only the first row may be a header, and only when every cell names a column: anything else
        // is data, checked like every other row (a typo in row 1 is an error, not a lost mapping).
        if std::mem::take(&mut first_row) && is_header(&record.iter().collect::<Vec<_>>()) {
            continue;
        }
        let at = |col: usize| format!("{name}:{line}:{col}");
        let kind = record.get(0).unwrap_or("");
        let is_user = kind.eq_ignore_ascii_case("user");
        if !is_user && !kind.eq_ignore_ascii_case("group") {
            let hint = if kind.contains([';', '\t', ',']) {
                format!(
                    " (the file looks delimited by another character than {:?}: try --delimiter)",
                    delimiter as char
                )
            } else {
                String::new()
            };
            problems.push(format!(
                "{}: the first column must be User or Group, not {kind:?}{hint}",
                at(1)
            ));
            continue;
        }
        // Empty cells after the sixth (a spreadsheet's trailing delimiters) are no columns.
        let cells: Vec<&str> = record.iter().collect();
        let columns = cells
            .iter()
            .rposition(|c| !c.is_empty())
            .map_or(0, |i| i + 1)
            .max(cells.len().min(6));
        if columns != 6 {
            problems.push(format!("{}: a {kind} row has 6 columns, this one has {columns}", at(1),));
            continue;
        }
        let field = |i: usize| record.get(i).unwrap_or("").to_owned();
        let org = match field(1).parse::<Guid>() {
            Ok(g) => g,
            Err(_) => {
                problems.push(format!("{}: SourceTenantCompanyID {:?} is not a GUID", at(2), field(1)));
                continue;
            }
        };
        if is_user {
            let mut row_problems = Vec::new();
            for (col, what) in [(3, "SourceUserUpn"), (4, "TargetUserUpn")] {
                if let Err(e) = UserKey::parse(&field(col - 1)) {
                    row_problems.push(format!("{}: {}", at(col), upn_problem(what, &field(col - 1), e)));
                }
            }
            let kind = user_type(&field(5));
            if kind.is_none() {
                row_problems.push(format!(
                    "{}: UserType {:?} is not one of: {USER_TYPES}",
                    at(6),
                    field(5)
                ));
            }
            let email = field(4);
            if !email.is_empty() && UserKey::parse(&email).is_err() {
                row_problems.push(format!("{}: TargetUserEmail {email:?} is not an email address", at(5)));
            }
            if !row_problems.is_empty() {
                problems.extend(row_problems);
                continue;
            }
            let identity = |upn: String| UserIdentity {
                user_principal_name: Patch::Value(upn),
                ..UserIdentity::default()
            };
            users.add(
                line,
                User {
                    source_organization_id: Patch::Value(org),
                    user_type: kind.map(Patch::Value).unwrap_or_default(),
                    source_user_identity: Patch::Value(identity(field(2))),
                    target_user_identity: Patch::Value(identity(field(3))),
                    target_user_migration_data: if email.is_empty() {
                        Patch::Absent
                    } else {
                        Patch::Value(SharePointIdentityMappingUserMigrationData {
                            email: Patch::Value(email),
                            ..Default::default()
                        })
                    },
                    ..User::default()
                },
                &mut problems,
            );
        } else {
            let mut row_problems = Vec::new();
            for (col, what) in [(3, "SourceGroupObjectID"), (4, "TargetGroupObjectID")] {
                if field(col - 1).parse::<Guid>().is_err() {
                    row_problems.push(format!("{}: {what} {:?} is not a GUID", at(col), field(col - 1)));
                }
            }
            let kind = group_type(&field(5));
            if kind.is_none() {
                row_problems.push(format!(
                    "{}: GroupType {:?} is not one of: {GROUP_TYPES}",
                    at(6),
                    field(5)
                ));
            }
            let name = field(4);
            if kind == Some(GroupType::M365Group) && name.chars().any(char::is_whitespace) {
                row_problems.push(format!(
                    "{}: M365GroupAlias {name:?} must not contain whitespace",
                    at(5)
                ));
            }
            if !row_problems.is_empty() {
                problems.extend(row_problems);
                continue;
            }
            let m365 = kind == Some(GroupType::M365Group);
            let mut target = Identity {
                id: Patch::Value(field(3)),
                ..Identity::default()
            };
            if !m365 && !name.is_empty() {
                target.display_name = Patch::Value(name.clone());
            }
            groups.add(
                line,
                Group {
                    source_organization_id: Patch::Value(org),
                    group_type: kind.map(Patch::Value).unwrap_or_default(),
                    source_group_identity: Patch::Value(Identity {
                        id: Patch::Value(field(2)),
                        ..Identity::default()
                    }),
                    target_group_identity: Patch::Value(target),
                    target_group_migration_data: if m365 && !name.is_empty() {
                        Patch::Value(SharePointIdentityMappingGroupMigrationData {
                            mail_nickname: Patch::Value(name),
                            ..Default::default()
                        })
                    } else {
                        Patch::Absent
                    },
                    ..Group::default()
                },
                &mut problems,
            );
        }
    }
    Ok(finish(name, users, groups, problems))
}

/// Reads JSON Lines: one wire mapping per line, users and groups told apart by their source identity.
/// Annotations and server-owned properties (`id`, `deleted`) are ignored; properties the API does not
/// declare are ignored with a warning (they are never sent).
pub fn read_jsonl(name: &str, text: &str) -> Result<Desired, Problems> {
    read_jsonl_all(name, text).checked()
}

/// [`read_jsonl`], the lines that do not read left in [`Desired::problems`].
fn read_jsonl_all(name: &str, text: &str) -> Desired {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match read_jsonl_from(name, text.as_bytes(), true) {
        Ok(desired) => desired,
        // A &str is UTF-8, and reading from memory cannot fail.
        Err(Unread::NotUtf8 | Unread::Io(_)) => could_not_read(name),
    }
}

/// [`read_jsonl`] from a stream of UTF-8 (no byte-order mark).
fn read_jsonl_from(name: &str, stream: impl Read, keep_lines: bool) -> Result<Desired, Unread> {
    let mut problems = Vec::new();
    let mut users = Builder::<User>::new(name, true, keep_lines);
    let mut groups = Builder::<Group>::new(name, true, keep_lines);
    for (i, line) in std::io::BufReader::new(stream).lines().enumerate() {
        let line = match line {
            Ok(line) => line,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(Unread::NotUtf8),
            Err(e) => return Err(Unread::Io(e)),
        };
        let line = line.as_str();
        let n = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{name}:{n}:{}: not JSON: {e}", e.column()));
                continue;
            }
        };
        let parsed = if value.get("sourceUserIdentity").is_some() {
            serde_json::from_value::<User>(value).map(|m| users.add(n, m, &mut problems))
        } else if value.get("sourceGroupIdentity").is_some() {
            serde_json::from_value::<Group>(value).map(|m| groups.add(n, m, &mut problems))
        } else {
            problems.push(format!(
                "{name}:{n}: a mapping needs sourceUserIdentity or sourceGroupIdentity"
            ));
            continue;
        };
        if let Err(e) = parsed {
            problems.push(format!("{name}:{n}: {e}"));
        }
    }
    Ok(finish(name, users, groups, problems))
}

/// Puts rows into tables: duplicates are errors naming both lines; shared targets are warnings.
fn finish(name: &str, users: Builder<'_, User>, groups: Builder<'_, Group>, mut problems: Vec<String>) -> Desired {
    let mut desired = Desired::default();
    (desired.users, desired.user_lines) = users.finish(&mut desired.warnings, &mut problems);
    (desired.groups, desired.group_lines) = groups.finish(&mut desired.warnings, &mut problems);
    // In file order, whichever check found them.
    let line_of = |p: &String| {
        p[name.len()..]
            .split(':')
            .nth(1)
            .and_then(|l| l.parse::<u64>().ok())
            .unwrap_or(0)
    };
    problems.sort_by_key(line_of);
    desired.problems = problems;
    desired
}

impl<'a, M: Rules> Builder<'a, M> {
    fn new(name: &'a str, check_unknown: bool, keep_lines: bool) -> Self {
        Builder {
            name,
            check_unknown,
            keep_lines,
            rows: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Checks the mapping on `line` and stores it; what is wrong with it goes to `problems`.
    fn add(&mut self, line: u64, mut mapping: M, problems: &mut Vec<String>) {
        let name = self.name;
        // What a request may state, and nothing else: the plan never sends the rest.
        mapping.clear_server_owned();
        let known = if self.check_unknown {
            mapping.canonicalize();
            let mut known = mapping.clone();
            known.known_only();
            if known != mapping {
                let unknown = unknown_paths(&to_json(&mapping), &to_json(&known), "");
                self.warnings.push(format!(
                    "{name}:{line}: ignored (not properties of the API): {}",
                    unknown.join(", ")
                ));
            }
            known
        } else {
            mapping
        };
        // The engine's own validation, as for a create: a desired mapping the service would refuse is an
        // error here, with its line, and every plan made from valid mappings is valid.
        if let Err(errors) = validate_owned(0, DeltaItem::Upsert(known.clone())) {
            for e in errors {
                problems.push(format!("{name}:{line}: {}: {}", e.property, e.message));
            }
            return;
        }
        match crossmap_delta::canonical(0, known) {
            Err(e) => problems.push(format!("{name}:{line}: {}: {}", e.property, e.message)),
            Ok((key, mapping)) => self.rows.push((key, Row::encode(&mapping), line)),
        }
    }

    /// The table and each key's line; a key given again is a problem naming both lines, and shared
    /// targets become warnings (after the rows' own).
    fn finish(self, warnings: &mut Vec<String>, problems: &mut Vec<String>) -> (SortedTable<M>, HashMap<M::Key, u64>) {
        let Builder {
            name,
            keep_lines,
            mut rows,
            warnings: mine,
            ..
        } = self;
        warnings.extend(mine);
        // By key, and the rows of one key in file order: the first is kept.
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
        rows.dedup_by(|again, first| {
            let same = again.0 == first.0;
            if same {
                problems.push(format!(
                    "{name}:{}: {} is mapped again (first on line {})",
                    again.2, again.0, first.2
                ));
            }
            same
        });
        let mut lines = Vec::with_capacity(rows.len());
        // A vector of its own (an entry without its line is smaller, so not collected in place): both are
        // held for this moment only, below the push's peak.
        let rows: Vec<(M::Key, Row)> = rows
            .into_iter()
            .map(|(key, row, line)| {
                lines.push(line);
                (key, row)
            })
            .collect();
        let table: SortedTable<M> = SortedTable::from_rows(rows);
        let line_of = |key: &M::Key| {
            table
                .as_slice()
                .binary_search_by(|(k, _)| k.cmp(key))
                .map_or(0, |i| lines[i])
        };
        for shared in one_to_one_in(&table) {
            let mut w = format!(
                "{} sources map to the same target {}:",
                shared.sources.len(),
                shared.target
            );
            for s in &shared.sources {
                let _ = write!(w, " {s} (line {})", line_of(s));
            }
            warnings.push(format!("{name}: {w}"));
        }
        let lines = if keep_lines {
            table
                .as_slice()
                .iter()
                .zip(&lines)
                .map(|((k, _), line)| (k.clone(), *line))
                .collect()
        } else {
            HashMap::new()
        };
        (table, lines)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// The property paths in `all` that `known` lacks.
fn unknown_paths(all: &serde_json::Value, known: &serde_json::Value, prefix: &str) -> Vec<String> {
    let (Some(all), known) = (all.as_object(), known.as_object()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in all {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match known.and_then(|o| o.get(k)) {
            None => out.push(path),
            Some(inner) => out.extend(unknown_paths(v, inner, &path)),
        }
    }
    out
}

/// Writes mappings back in the admins' CSV format, so an exported file can be pushed back.
pub fn write_csv(users: &[User], groups: &[Group]) -> String {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    let text = |p: &Patch<String>| p.value().cloned().unwrap_or_default();
    for u in users {
        let src = u
            .source_user_identity
            .value()
            .map(|i| text(&i.user_principal_name))
            .unwrap_or_default();
        let tgt = u
            .target_user_identity
            .value()
            .map(|i| text(&i.user_principal_name))
            .unwrap_or_default();
        let email = u
            .target_user_migration_data
            .value()
            .map(|d| text(&d.email))
            .unwrap_or_default();
        let org = u
            .source_organization_id
            .value()
            .map(ToString::to_string)
            .unwrap_or_default();
        let kind = u.user_type.value().map(|t| t.as_str().to_owned()).unwrap_or_default();
        let _ = w.write_record(["User", &org, &src, &tgt, &email, &kind]);
    }
    for g in groups {
        let src = g.source_group_identity.value().map(|i| text(&i.id)).unwrap_or_default();
        let tgt = g.target_group_identity.value().map(|i| text(&i.id)).unwrap_or_default();
        let kind = g.group_type.value().cloned().unwrap_or(GroupType::None);
        let name = if kind == GroupType::M365Group {
            g.target_group_migration_data
                .value()
                .map(|d| text(&d.mail_nickname))
                .unwrap_or_default()
        } else {
            g.target_group_identity
                .value()
                .map(|i| text(&i.display_name))
                .unwrap_or_default()
        };
        let org = g
            .source_organization_id
            .value()
            .map(ToString::to_string)
            .unwrap_or_default();
        let _ = w.write_record(["Group", &org, &src, &tgt, &name, kind.as_str()]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "11111111-1111-1111-1111-111111111111";

    fn problems(text: &str) -> Vec<String> {
        read_csv("map.csv", text, None).unwrap_err().0
    }

    #[test]
    fn reads_users_and_groups_with_a_header_bom_quotes_and_crlf() {
        let text = format!(
            "\u{feff}Type,SourceTenantCompanyID,Source,Target,Email,UserType\r\nUser,{ORG},\"o'brien@contoso.com\",obrien@fabrikam.com,obrien@fabrikam.com,Member\r\nGroup,{ORG},aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa,bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb,\"Sales, EMEA\",Security\r\ngroup,{ORG},cccccccc-cccc-cccc-cccc-cccccccccccc,dddddddd-dddd-dddd-dddd-dddddddddddd,sales,M365\r\n"
        );
        let d = read_csv("map.csv", &text, None).unwrap();
        assert_eq!((d.users.len(), d.groups.len()), (1, 2));
        let g = d
            .groups
            .iter()
            .map(|(_, g)| g)
            .find(|g| g.group_type == Patch::Value(GroupType::RegularGroup))
            .unwrap();
        assert_eq!(
            g.target_group_identity.value().unwrap().display_name.value().unwrap(),
            "Sales, EMEA"
        );
    }

    #[test]
    fn every_problem_names_its_line_and_column() {
        let text = format!(
            "User,{ORG},ann@contoso.com,ann@fabrikam.com,,Member\nUser,nope,bob@contoso.com,bob@fabrikam.com,,Member\nUser,{ORG},carol,carol@fabrikam.com,,Member\nUser,{ORG},dave@contoso.com,dave@fabrikam.com,,Wizard\nGroup,{ORG},zz,bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb,x,Security\nUser,{ORG},ANN@contoso.com,other@fabrikam.com,,Guest\nThing,{ORG},a,b,c,d\nUser,{ORG},eve@contoso.com\n"
        );
        let p = problems(&text);
        let expect = [
            "map.csv:2:2: SourceTenantCompanyID \"nope\" is not a GUID",
            "map.csv:3:3: SourceUserUpn",
            "map.csv:4:6: UserType \"Wizard\" is not one of: regularUser",
            "map.csv:5:3: SourceGroupObjectID \"zz\" is not a GUID",
            "map.csv:6: ann@contoso.com is mapped again (first on line 1)",
            "map.csv:7:1: the first column must be User or Group",
            "map.csv:8:1: a User row has 6 columns, this one has 3",
        ];
        assert_eq!(p.len(), expect.len(), "{p:#?}");
        for (got, want) in p.iter().zip(expect) {
            assert!(got.starts_with(want), "{got:?} does not start with {want:?}");
        }
    }

    #[test]
    fn two_sources_on_one_target_is_a_warning() {
        let text = format!(
            "User,{ORG},a@contoso.com,t@fabrikam.com,,Member\nUser,{ORG},b@contoso.com,T@fabrikam.com,,Member\n"
        );
        let d = read_csv("map.csv", &text, None).unwrap();
        assert_eq!(d.warnings.len(), 1);
        assert!(
            d.warnings[0].contains("a@contoso.com (line 1)") && d.warnings[0].contains("(line 2)"),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn exported_csv_reads_back_the_same() {
        let text = format!(
            "User,{ORG},ann@contoso.com,ann@fabrikam.com,ann@fabrikam.com,guestUser\nGroup,{ORG},aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa,bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb,sales,m365Group\n"
        );
        let d = read_csv("map.csv", &text, None).unwrap();
        let users: Vec<User> = d.users.iter().map(|(_, m)| m).collect();
        let groups: Vec<Group> = d.groups.iter().map(|(_, m)| m).collect();
        let again = read_csv("export.csv", &write_csv(&users, &groups), None).unwrap();
        assert!(
            crossmap_delta::same_contents(&again.users, &d.users)
                && crossmap_delta::same_contents(&again.groups, &d.groups)
        );
    }

    #[test]
    fn json_lines_are_read_too() {
        let text = format!(
            "{{\"sourceOrganizationId\":\"{ORG}\",\"sourceGroupIdentity\":{{\"id\":\"aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa\"}},\"targetGroupIdentity\":{{\"id\":\"bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb\"}}}}\n\n{{\"bad\n"
        );
        let p = read_jsonl("map.jsonl", &text).unwrap_err().0;
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("map.jsonl:3:"), "{p:?}");
    }

    fn user_row(sep: &str) -> String {
        [
            "User",
            ORG,
            "ann@contoso.com",
            "ann@fabrikam.com",
            "ann@fabrikam.com",
            "Member",
        ]
        .join(sep)
    }

    #[test]
    fn excel_unicode_text_utf16_with_tabs_is_read() {
        let text = format!("{}\r\n{}\r\n", user_row("\t"), user_row("\t").replace("ann", "bob"));
        for bom_and_units in [
            (
                [0xFF, 0xFE],
                text.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>(),
            ),
            (
                [0xFE, 0xFF],
                text.encode_utf16().flat_map(u16::to_be_bytes).collect::<Vec<u8>>(),
            ),
        ] {
            let (bom, units) = bom_and_units;
            let bytes: Vec<u8> = bom.iter().copied().chain(units).collect();
            let d = read_bytes("map.txt", &bytes, &ReadOptions::default()).unwrap();
            assert_eq!(d.users.len(), 2);
            assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        }
    }

    #[test]
    fn semicolons_tabs_and_commas_are_found_from_the_first_data_row() {
        for sep in [",", ";", "\t"] {
            let text = format!(
                "Type{sep}SourceTenantCompanyID{sep}Source{sep}Target{sep}Email{sep}UserType\n{}\n",
                user_row(sep)
            );
            assert_eq!(detect_delimiter(&text), sep.as_bytes()[0], "{sep:?}");
            let d = read_bytes("map.csv", text.as_bytes(), &ReadOptions::default()).unwrap();
            assert_eq!(d.users.len(), 1, "{sep:?}");
        }
        // A display name with commas does not fool it: the semicolon makes six columns with User first.
        let text = format!(
            "Group;{ORG};aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa;bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb;Sales, EMEA, North;Security\n"
        );
        assert_eq!(detect_delimiter(&text), b';');
        // Told explicitly, a wrong delimiter is an error with a hint, not a guess.
        let p = read_bytes(
            "map.csv",
            user_row(";").as_bytes(),
            &ReadOptions {
                delimiter: Some(b','),
                ..ReadOptions::default()
            },
        )
        .unwrap_err()
        .0;
        assert!(
            p[0].starts_with("map.csv:1:1:") && p[0].contains("--delimiter"),
            "{p:?}"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_read_as_windows_1252_with_a_warning() {
        let mut bytes =
            format!("Group,{ORG},aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa,bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb,")
                .into_bytes();
        bytes.extend(b"Caf\xe9 M\xfcller,Security\n");
        let d = read_bytes("map.csv", &bytes, &ReadOptions::default()).unwrap();
        let (_, g) = d.groups.iter().next().unwrap();
        assert_eq!(
            g.target_group_identity.value().unwrap().display_name.value().unwrap(),
            "Café Müller"
        );
        assert!(
            d.warnings[0].contains("Windows-1252") && d.warnings[0].contains("line 1"),
            "{:?}",
            d.warnings
        );
        let strict = ReadOptions {
            strict: true,
            ..ReadOptions::default()
        };
        assert!(read_bytes("map.csv", &bytes, &strict).is_err());
        // UTF-8 with a BOM is plain UTF-8.
        let with_bom: Vec<u8> = b"\xef\xbb\xbf"
            .iter()
            .copied()
            .chain(user_row(",").into_bytes())
            .collect();
        let d = read_bytes("map.csv", &with_bom, &ReadOptions::default()).unwrap();
        assert!(d.warnings.is_empty() && d.users.len() == 1);
    }

    #[test]
    fn a_first_row_is_skipped_only_when_it_is_a_header() {
        // A typo in the first cell of a data row is an error on line 1, not a silently skipped "header".
        let p = problems(&format!(
            "Usr,{ORG},ann@contoso.com,ann@fabrikam.com,,Member\n{}\n",
            user_row(",").replace("ann", "bob")
        ));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("map.csv:1:1: the first column must be User or Group, not \"Usr\""),
            "{p:?}"
        );
        // Known column names in any case, including the documented combined names.
        for header in [
            "type,sourcetenantcompanyid,SOURCEUSERUPN,TargetUserUpn,TargetUserEmail,UserType",
            "Kind,Source Tenant Company ID,SourceUserUpn/SourceGroupObjectID,TargetUserUpn/TargetGroupObjectID,TargetUserEmail,GroupName or M365GroupAlias",
        ] {
            let d = read_csv("map.csv", &format!("{header}\n{}\n", user_row(",")), None).unwrap();
            assert_eq!(d.users.len(), 1, "{header}");
        }
        // Only the first row can be a header.
        let p = problems(&format!(
            "{}\nType,SourceTenantCompanyID,Source,Target,Email,UserType\n",
            user_row(",")
        ));
        assert!(p[0].starts_with("map.csv:2:1:"), "{p:?}");
    }

    #[test]
    fn empty_trailing_cells_are_no_columns() {
        let d = read_csv("map.csv", &format!("{},,,\n", user_row(",")), None).unwrap();
        assert_eq!(d.users.len(), 1);
        let p = problems(&format!("{},,x\n", user_row(",")));
        assert!(p[0].contains("has 6 columns, this one has 8"), "{p:?}");
        // A missing last column is still a missing column.
        let p = problems(&format!("User,{ORG},ann@contoso.com,ann@fabrikam.com\n"));
        assert!(p[0].contains("this one has 4"), "{p:?}");
    }

    #[test]
    fn a_bad_target_upn_is_called_the_target() {
        let p = problems(&format!("User,{ORG},ann@contoso.com,ann at fabrikam,,Member\n"));
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("map.csv:1:4: TargetUserUpn \"ann at fabrikam\" is not a user principal name"),
            "{p:?}"
        );
        assert!(!p[0].contains("source"), "{p:?}");
    }

    #[test]
    fn desired_mappings_are_checked_by_the_engine_and_unknown_json_properties_are_ignored() {
        // The engine's formats apply to the file too: a JSON Lines e-mail that is not one is an error.
        let text = format!(
            "{{\"sourceOrganizationId\":\"{ORG}\",\"sourceUserIdentity\":{{\"userPrincipalName\":\"a@contoso.com\"}},\"targetUserIdentity\":{{\"userPrincipalName\":\"a@fabrikam.com\"}},\"targetUserMigrationData\":{{\"email\":\"nope\"}}}}\n"
        );
        let p = read_jsonl("map.jsonl", &text).unwrap_err().0;
        assert!(p[0].starts_with("map.jsonl:1: targetUserMigrationData.email:"), "{p:?}");
        // An export of what a service echoed reads back: annotations and server-owned properties are
        // dropped silently, undeclared ones with a warning, and none of them is kept.
        let text = format!(
            "{{\"@odata.etag\":\"W/1\",\"id\":\"x\",\"deleted\":null,\"futureProperty\":1,\"sourceOrganizationId\":\"{ORG}\",\"sourceUserIdentity\":{{\"userPrincipalName\":\"a@contoso.com\"}},\"targetUserIdentity\":{{\"userPrincipalName\":\"a@fabrikam.com\",\"tenantId\":\"t\"}}}}\n"
        );
        let d = read_jsonl("map.jsonl", &text).unwrap();
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        assert!(
            d.warnings[0].contains("futureProperty") && d.warnings[0].contains("targetUserIdentity.tenantId"),
            "{:?}",
            d.warnings
        );
        let (_, u) = d.users.iter().next().unwrap();
        assert!(u.additional_properties.is_empty());
    }

    /// `read` (streamed from the file) and `read_bytes` (the file in memory) agree on everything.
    fn same_as_in_memory(file_name: &str, bytes: &[u8], options: &ReadOptions) -> Result<Desired, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name);
        std::fs::write(&path, bytes).unwrap();
        let name = path.display().to_string();
        let streamed = read(&path, options).map_err(|e| match e {
            InputError::Problems(p) => p.0,
            InputError::Io { .. } => panic!("{e}"),
        });
        let by_extension = ReadOptions {
            jsonl: file_name.ends_with(".jsonl"),
            ..options.clone()
        };
        let whole = read_bytes(&name, bytes, &by_extension).map_err(|p| p.0);
        match (&streamed, &whole) {
            (Ok(a), Ok(b)) => {
                assert!(crossmap_delta::same_contents(&a.users, &b.users));
                assert!(crossmap_delta::same_contents(&a.groups, &b.groups));
                assert_eq!(a.warnings, b.warnings);
                assert_eq!(a.user_lines, b.user_lines);
                assert_eq!(a.group_lines, b.group_lines);
            }
            (Err(a), Err(b)) => assert_eq!(a, b),
            _ => panic!(
                "streamed {:?} but in memory {:?}",
                streamed.as_ref().err(),
                whole.as_ref().err()
            ),
        }
        streamed.map_err(|p| p.into_iter().map(|l| l.replace(&name, "map")).collect())
    }

    fn many_rows(n: u32, newline: &str) -> String {
        (0..n)
            .map(|i| format!("User,{ORG},u{i}@contoso.com,u{i}@fabrikam.com,,Member{newline}"))
            .collect()
    }

    #[test]
    fn a_streamed_file_reads_as_the_same_file_in_memory() {
        let keep = ReadOptions {
            keep_lines: true,
            ..ReadOptions::default()
        };
        // Longer than the head that is read first, with CRLF, a BOM and a header: every line number holds.
        let mut text = "\u{feff}Type,SourceTenantCompanyID,Source,Target,Email,UserType\r\n".to_owned();
        text.push_str(&many_rows(3_000, "\r\n"));
        let d = same_as_in_memory("big.csv", text.as_bytes(), &keep).unwrap();
        assert_eq!(d.users.len(), 3_000);
        assert_eq!(d.user_lines[&UserKey::parse("u2999@contoso.com").unwrap()], 3_001);
        // Problems far from the head name their lines: a bad row, a duplicate, and a quote left open.
        text.push_str(&format!("User,{ORG},not a upn,x@fabrikam.com,,Member\r\n"));
        text.push_str(&format!("User,{ORG},u5@contoso.com,x@fabrikam.com,,Member\r\n"));
        let problems = same_as_in_memory("bad.csv", text.as_bytes(), &keep).unwrap_err();
        assert!(problems[0].starts_with("map:3002:3:"), "{problems:?}");
        assert!(
            problems[1].starts_with("map:3003:") && problems[1].contains("first on line 7"),
            "{problems:?}"
        );
        // Semicolons, found in the head; JSON Lines; UTF-16 (decoded whole).
        same_as_in_memory("semi.csv", many_rows(10, "\n").replace(',', ";").as_bytes(), &keep).unwrap();
        let jsonl: String = (0..2_000)
            .map(|i| format!("{{\"sourceOrganizationId\":\"{ORG}\",\"sourceUserIdentity\":{{\"userPrincipalName\":\"u{i}@contoso.com\"}},\"targetUserIdentity\":{{\"userPrincipalName\":\"u{i}@fabrikam.com\"}},\"x\":1}}\r\n"))
            .collect();
        let d = same_as_in_memory("map.jsonl", jsonl.as_bytes(), &keep).unwrap();
        assert_eq!((d.users.len(), d.warnings.len()), (2_000, 2_000));
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(many_rows(10, "\n").encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(same_as_in_memory("wide.csv", &utf16, &keep).unwrap().users.len(), 10);
    }

    #[test]
    fn a_byte_that_is_not_utf8_past_the_head_rereads_the_file_as_windows_1252() {
        let mut bytes = many_rows(3_000, "\n").into_bytes();
        bytes.extend(
            format!("Group,{ORG},aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa,bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb,")
                .as_bytes(),
        );
        bytes.extend(b"Caf\xe9,Security\n");
        let d = same_as_in_memory("late.csv", &bytes, &ReadOptions::default()).unwrap();
        assert_eq!(d.users.len(), 3_000);
        assert!(
            d.warnings[0].contains("Windows-1252") && d.warnings[0].contains("line 3001"),
            "{:?}",
            d.warnings
        );
        let (_, g) = d.groups.iter().next().unwrap();
        assert_eq!(
            g.target_group_identity.value().unwrap().display_name.value().unwrap(),
            "Café"
        );
    }

    #[test]
    fn a_key_given_again_names_the_first_line_however_often_and_wherever_it_comes() {
        // The rows are sorted by key at the end: the first in the file is kept whatever its place.
        let row = |n: &str, target: &str| format!("User,{ORG},{n}@contoso.com,{target}@fabrikam.com,,Member\n");
        let text = [
            row("zed", "z1"),
            row("amy", "a1"),
            row("ZED", "z2"),
            row("bob", "b1"),
            row("zed", "z3"),
            row("Amy", "a2"),
        ]
        .concat();
        let p = problems(&text);
        assert_eq!(
            p,
            [
                "map.csv:3: zed@contoso.com is mapped again (first on line 1)",
                "map.csv:5: zed@contoso.com is mapped again (first on line 1)",
                "map.csv:6: amy@contoso.com is mapped again (first on line 2)",
            ]
        );
        // Without the duplicates the rows kept are the first ones, and their lines are theirs.
        let d = read_csv("map.csv", &[row("zed", "z1"), row("amy", "a1")].concat(), None).unwrap();
        let zed = UserKey::parse("zed@contoso.com").unwrap();
        assert_eq!((d.user_lines[&zed], d.users.len()), (1, 2));
    }
}
