//! Auth like Microsoft's identity platform, small: registered apps, the client-credentials token
//! endpoint, and HS256 bearer tokens carrying `tid`, `appid` and `roles`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The application permission that reads mappings.
pub const READ_ROLE: &str = "SharePointCrossTenantMigration.Read.All";
/// The application permission that reads and writes mappings.
pub const MANAGE_ROLE: &str = "SharePointCrossTenantMigration.Manage.All";
/// Reads every user (Graph application permission).
pub const USER_READ_ALL: &str = "User.Read.All";
/// Reads and writes every user.
pub const USER_READ_WRITE_ALL: &str = "User.ReadWrite.All";
/// Reads every group.
pub const GROUP_READ_ALL: &str = "Group.Read.All";
/// Reads groups and their members: the least permission that lists groups.
pub const GROUP_MEMBER_READ_ALL: &str = "GroupMember.Read.All";
/// Reads and writes every group.
pub const GROUP_READ_WRITE_ALL: &str = "Group.ReadWrite.All";
/// Reads the whole directory: users, groups, the organization.
pub const DIRECTORY_READ_ALL: &str = "Directory.Read.All";
/// Reads and writes the whole directory.
pub const DIRECTORY_READ_WRITE_ALL: &str = "Directory.ReadWrite.All";
/// Reads the organization.
pub const ORGANIZATION_READ_ALL: &str = "Organization.Read.All";

/// Every role an app may be given by its full name: the mapping permissions and the directory ones.
pub const ROLES: [&str; 10] = [
    READ_ROLE,
    MANAGE_ROLE,
    USER_READ_ALL,
    USER_READ_WRITE_ALL,
    GROUP_READ_ALL,
    GROUP_MEMBER_READ_ALL,
    GROUP_READ_WRITE_ALL,
    DIRECTORY_READ_ALL,
    DIRECTORY_READ_WRITE_ALL,
    ORGANIZATION_READ_ALL,
];

/// What a call needs: one of these roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading users.
    ReadUsers,
    /// Creating or deleting users.
    WriteUsers,
    /// Reading groups.
    ReadGroups,
    /// Creating or deleting groups.
    WriteGroups,
    /// Reading the organization.
    ReadOrganization,
}

impl Access {
    /// The roles that grant it, least privileged first (as Graph's permission tables list them).
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Access::ReadUsers => &[
                USER_READ_ALL,
                USER_READ_WRITE_ALL,
                DIRECTORY_READ_ALL,
                DIRECTORY_READ_WRITE_ALL,
            ],
            Access::WriteUsers => &[USER_READ_WRITE_ALL, DIRECTORY_READ_WRITE_ALL],
            Access::ReadGroups => &[
                GROUP_MEMBER_READ_ALL,
                GROUP_READ_ALL,
                GROUP_READ_WRITE_ALL,
                DIRECTORY_READ_ALL,
                DIRECTORY_READ_WRITE_ALL,
            ],
            Access::WriteGroups => &[GROUP_READ_WRITE_ALL, DIRECTORY_READ_WRITE_ALL],
            Access::ReadOrganization => &[ORGANIZATION_READ_ALL, DIRECTORY_READ_ALL, DIRECTORY_READ_WRITE_ALL],
        }
    }
}

/// The audience of the tokens, as Graph's.
pub const AUDIENCE: &str = "https://graph.microsoft.com";
/// How long an issued token lives, in seconds.
pub const TOKEN_LIFETIME: u64 = 3599;
/// How far, in seconds, a token's `nbf` and `iat` may lie in the future: the clock of whoever minted it
/// may run a little ahead of ours. `exp` gets none: a token is expired from its `exp` on.
pub const CLOCK_SKEW: u64 = 60;
/// The scopes the token endpoint issues tokens for: Microsoft Graph's `.default`, in the global and the
/// national clouds, and by Graph's application id.
pub const GRAPH_SCOPES: [&str; 5] = [
    "https://graph.microsoft.com/.default",
    "https://graph.microsoft.us/.default",
    "https://dod-graph.microsoft.us/.default",
    "https://microsoftgraph.chinacloudapi.cn/.default",
    "00000003-0000-0000-c000-000000000000/.default",
];

/// Why an app definition or a key was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// An `--app` value that is not `CLIENT_ID:SECRET:ROLE[,ROLE]`.
    #[error(
        "{0:?} is not an app definition: expected CLIENT_ID:SECRET:ROLE[,ROLE] with roles read, manage, directory \
         (every directory read: {DIRECTORY_READ_ALL}), or the full names {READ_ROLE}, {MANAGE_ROLE}, {USER_READ_ALL}, \
         {USER_READ_WRITE_ALL}, {GROUP_MEMBER_READ_ALL}, {GROUP_READ_ALL}, {GROUP_READ_WRITE_ALL}, {DIRECTORY_READ_ALL}, \
         {DIRECTORY_READ_WRITE_ALL}, {ORGANIZATION_READ_ALL}"
    )]
    App(String),
    /// The signing key file could not be read or written.
    #[error("cannot use the signing key at {path}")]
    Key {
        /// The key file.
        path: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
}

/// A registered application: who may ask for tokens, and with which roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub secret: String,
    /// The roles its tokens carry.
    pub roles: Vec<String>,
}

impl std::str::FromStr for App {
    type Err = AuthError;
    /// Reads `CLIENT_ID:SECRET:ROLE[,ROLE]`; roles by full name ([`ROLES`], without regard to case), or the
    /// shorthands `read`, `manage` (the mapping permissions) and `directory` (`Directory.Read.All`: every
    /// directory read).
    fn from_str(s: &str) -> Result<App, AuthError> {
        let bad = || AuthError::App(s.to_owned());
        let mut parts = s.splitn(3, ':');
        let (Some(id), Some(secret), Some(roles)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if id.is_empty() || secret.is_empty() {
            return Err(bad());
        }
        let roles = roles
            .split(',')
            .map(|r| match r.trim() {
                "read" => Ok(READ_ROLE.to_owned()),
                "manage" => Ok(MANAGE_ROLE.to_owned()),
                "directory" => Ok(DIRECTORY_READ_ALL.to_owned()),
                r => ROLES
                    .iter()
                    .find(|known| known.eq_ignore_ascii_case(r))
                    .map(|known| (*known).to_owned())
                    .ok_or_else(bad),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(App {
            client_id: id.to_owned(),
            secret: secret.to_owned(),
            roles,
        })
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Audience: Graph.
    pub aud: String,
    /// Issuer.
    pub iss: String,
    /// The tenant the token is for: the partition of data it reaches.
    pub tid: String,
    /// The application.
    pub appid: String,
    /// Application permissions.
    pub roles: Vec<String>,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Expires.
    pub exp: u64,
}

impl Claims {
    /// Whether the token may read mappings.
    pub fn can_read(&self) -> bool {
        self.roles.iter().any(|r| r == READ_ROLE || r == MANAGE_ROLE)
    }

    /// Whether the token may write mappings.
    pub fn can_write(&self) -> bool {
        self.roles.iter().any(|r| r == MANAGE_ROLE)
    }

    /// Whether the token carries a role that grants `access`.
    pub fn allows(&self, access: Access) -> bool {
        self.roles.iter().any(|r| access.roles().contains(&r.as_str()))
    }
}

/// The token issuer and checker.
#[derive(Clone)]
pub struct Auth {
    key: Vec<u8>,
    apps: Vec<App>,
    /// Tokens already verified, so a client reusing its token (all of them) pays the HMAC and JSON work
    /// once, not on every request. Expiry is still checked on every use.
    verified: std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, Claims>>>,
}

/// How many verified tokens are remembered before the cache starts over.
const VERIFIED_CAPACITY: usize = 4096;

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key or the secrets.
        f.debug_struct("Auth")
            .field("apps", &self.apps.iter().map(|a| &a.client_id).collect::<Vec<_>>())
            .finish()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> Result<String, AuthError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

impl Auth {
    /// An issuer signing with `key`, for `apps`.
    pub fn new(key: Vec<u8>, apps: Vec<App>) -> Auth {
        Auth {
            key,
            apps,
            verified: Default::default(),
        }
    }

    /// An issuer with a fresh random key (an in-memory emulator: tokens die with the process).
    pub fn ephemeral(apps: Vec<App>) -> Result<Auth, AuthError> {
        Ok(Auth::new(random_hex(32)?.into_bytes(), apps))
    }

    /// Reads the signing key kept in `dir` (creating it on first use), so tokens outlive a restart.
    pub fn key_in(dir: &Path) -> Result<Vec<u8>, AuthError> {
        let path = dir.join("token-signing.key");
        let err = |source| AuthError::Key {
            path: path.display().to_string(),
            source,
        };
        let create = || -> Result<Vec<u8>, AuthError> {
            std::fs::create_dir_all(dir).map_err(err)?;
            let key = random_hex(32)?;
            std::fs::write(&path, &key).map_err(err)?;
            Ok(key.into_bytes())
        };
        match std::fs::read_to_string(&path) {
            Ok(k) if !k.trim().is_empty() => Ok(k.trim().as_bytes().to_vec()),
            Ok(_) => create(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(),
            Err(e) => Err(err(e)),
        }
    }

    /// The registered apps.
    pub fn apps(&self) -> &[App] {
        &self.apps
    }

    /// Mints a token for `tenant` carrying `appid` and `roles`.
    pub fn mint(&self, tenant: &str, appid: &str, roles: &[String]) -> String {
        let now = now();
        let claims = Claims {
            aud: AUDIENCE.to_owned(),
            iss: format!("https://login.microsoftonline.com/{tenant}/v2.0"),
            tid: tenant.to_owned(),
            appid: appid.to_owned(),
            roles: roles.to_vec(),
            iat: now,
            nbf: now,
            exp: now + TOKEN_LIFETIME,
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.key),
        )
        .expect("HS256 signing of plain claims does not fail")
    }

    /// The client-credentials grant: a token for a registered app with the right secret.
    pub fn client_credentials(&self, tenant: &str, client_id: &str, secret: &str) -> Option<String> {
        let app = self
            .apps
            .iter()
            .find(|a| a.client_id == client_id && a.secret == secret)?;
        Some(self.mint(tenant, &app.client_id, &app.roles))
    }

    /// Checks a bearer token: signature, audience, expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        let cached = self
            .verified
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned();
        if let Some(claims) = cached {
            return if claims.exp > now() {
                Ok(claims)
            } else {
                Err("the access token has expired".to_owned())
            };
        }
        let claims = self.verify_uncached(token)?;
        let mut verified = self.verified.write().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    fn verify_uncached(&self, token: &str) -> Result<Claims, String> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[AUDIENCE]);
        v.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&self.key), &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the access token has expired".to_owned(),
                _ => "the access token is not valid".to_owned(),
            })?;
        // Checked here rather than by the library, whose one leeway would also stretch `exp`.
        let latest = now() + CLOCK_SKEW;
        if claims.nbf > latest {
            return Err("the access token is not valid yet: its nbf is in the future".to_owned());
        }
        if claims.iat > latest {
            return Err("the access token is not valid: its iat is in the future".to_owned());
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_parse_with_short_and_full_roles() {
        let app: App = "id:secret:read,SharePointCrossTenantMigration.Manage.All"
            .parse()
            .unwrap();
        assert_eq!(app.roles, [READ_ROLE, MANAGE_ROLE]);
        assert!("id:secret:write".parse::<App>().is_err());
        let app: App = "id:secret:directory,user.readwrite.all,GroupMember.Read.All"
            .parse()
            .unwrap();
        assert_eq!(
            app.roles,
            [DIRECTORY_READ_ALL, USER_READ_WRITE_ALL, GROUP_MEMBER_READ_ALL]
        );
        assert!("id:secret:User.Read".parse::<App>().is_err(), "a delegated permission");
        assert!("id:secret".parse::<App>().is_err());
        assert!(":s:read".parse::<App>().is_err());
    }

    #[test]
    fn tokens_verify_and_carry_their_claims() {
        let auth = Auth::ephemeral(vec!["a:s:read".parse().unwrap()]).unwrap();
        let t = auth.client_credentials("tenant-1", "a", "s").unwrap();
        let c = auth.verify(&t).unwrap();
        assert_eq!((c.tid.as_str(), c.appid.as_str()), ("tenant-1", "a"));
        assert!(c.can_read() && !c.can_write());
        assert!(!c.allows(Access::ReadUsers));
        let auth = Auth::ephemeral(vec!["d:s:directory,Group.ReadWrite.All".parse().unwrap()]).unwrap();
        let c = auth.verify(&auth.client_credentials("t", "d", "s").unwrap()).unwrap();
        assert!(c.allows(Access::ReadUsers) && c.allows(Access::ReadOrganization) && c.allows(Access::WriteGroups));
        assert!(!c.allows(Access::WriteUsers) && !c.can_read());
        assert!(auth.client_credentials("tenant-1", "a", "wrong").is_none());
        let other = Auth::ephemeral(vec![]).unwrap();
        assert!(other.verify(&t).is_err(), "a token signed with another key");
    }
}
