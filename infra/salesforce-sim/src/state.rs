//! What the simulated org remembers: its apps, pending consents, authorization codes and tokens.
//!
//! Everything sits in one [`SimState`] behind a `std::sync::Mutex` (as in mini-redis's `db.rs`:
//! every operation is short and synchronous, so an async mutex would buy nothing). Never hold the
//! guard across an `.await`.
//!
//! Access tokens live as long as the session: they stop working once unused for longer than the
//! session timeout (salesforce.md §2.6: the org's Session Settings "Timeout value", 15 minutes to
//! 24 hours, 2 hours by default, which the app's session policy may override; "measured by
//! inactivity"). Each call that authenticates with the token (REST, identity URL) restarts the
//! count, on the simulator's clock, so [`crate::SalesforceSim::advance_time`] expires them.
//!
//! Tokens are grouped in *families*: one family per grant (a code exchange or a client-credentials
//! login). A family holds the refresh tokens (one current, the rest rotated away) and every access
//! token minted from it, so "revoke the refresh token and its access tokens" and Refresh Token
//! Rotation's "reuse revokes everything" (salesforce.md §2.3) are one loop over the family.
//!
//! The REST API's data lives here too: the records ([`Org`], `records.rs`), the API's limits,
//! knobs and counters ([`ApiState`], `rest/mod.rs`), and the Apex REST endpoints ([`ApexState`],
//! `apex.rs`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::distr::Alphanumeric;
use rand::Rng;

use serde_json::Value;

use crate::apex::ApexState;
use crate::changes::{AppliedChange, Changes, Event, RecordChange};
use crate::recording::RecordedRequest;
use crate::records::{Lookup, Org, RecordError, Writer};
use crate::rest::ApiState;
use crate::{SimApp, SimConfig};

/// Authorization codes expire 15 minutes after issue (salesforce.md §1.3).
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The org's session timeout until [`crate::SalesforceSim::set_session_timeout`]: Session
/// Settings' default, 2 hours (salesforce.md §2.6).
pub(crate) const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(2 * 60 * 60);
/// The range Session Settings' "Timeout value" offers: 15 minutes to 24 hours (salesforce.md §2.6).
pub(crate) const SESSION_TIMEOUTS: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(15 * 60)..=Duration::from_secs(24 * 60 * 60);

/// The simulator's clock. It runs with wall time, shifted by
/// [`crate::SalesforceSim::advance_time`], until a test sets it ([`crate::SalesforceSim::set_time`]):
/// from then on it stands still and moves only when told, so that what it stamps is reproducible
/// (two records written without moving it share a `SystemModstamp`, as records saved in the same
/// millisecond do in Salesforce).
#[derive(Debug, Default)]
pub(crate) struct Clock {
    /// Added to wall time while the clock runs.
    offset: Duration,
    /// Where a set clock stands.
    set: Option<SystemTime>,
    /// How far each write moves the clock before it stamps records
    /// ([`crate::SalesforceSim::set_write_step`]); zero by default.
    pub(crate) write_step: Duration,
}

impl Clock {
    pub(crate) fn now(&self) -> SystemTime {
        self.set.unwrap_or_else(|| SystemTime::now() + self.offset)
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        match &mut self.set {
            Some(at) => *at += by,
            None => self.offset += by,
        }
    }

    /// Stops the clock at `at`, earlier or later than now.
    pub(crate) fn set(&mut self, at: SystemTime) {
        self.set = Some(at);
    }
}

/// The shared state of one simulator: its address and its memory.
pub(crate) struct Sim {
    pub(crate) base_url: String,
    state: Mutex<SimState>,
}

impl Sim {
    pub(crate) fn new(config: SimConfig, base_url: String) -> Self {
        let mut state = SimState {
            login: Login { org_id: config.org_id, user_id: config.user_id },
            username: config.username,
            display_name: config.display_name,
            email: config.email,
            marker: config.token_marker,
            auto_approve: config.auto_approve,
            apps: HashMap::new(),
            tamper_signature: false,
            token_endpoint_failures: 0,
            introspection_failures: 0,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            invalid_session_answers: 0,
            instance_url: None,
            identity_base: None,
            authorize_error: None,
            clock: Clock::default(),
            pending: HashMap::new(),
            codes: HashMap::new(),
            tokens: HashMap::new(),
            families: Vec::new(),
            issued_access: Vec::new(),
            issued_refresh: Vec::new(),
            revoked: Vec::new(),
            requests: Vec::new(),
            org: Org::default(),
            api: ApiState::default(),
            apex: ApexState::default(),
            changes: Changes::default(),
            seeded: 0,
        };
        for app in config.apps {
            state.add_app(app);
        }
        Self { base_url, state: Mutex::new(state) }
    }

    /// The state. A panic elsewhere cannot poison the simulator for the rest of a test run.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Who logs in: the org and user a grant belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Login {
    pub(crate) org_id: String,
    pub(crate) user_id: String,
}

/// An authorize request waiting on the consent page's Approve or Deny.
#[derive(Clone, Debug)]
pub(crate) struct PendingAuthorization {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) state: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) code_challenge: String,
}

/// What an authorization code stands for.
#[derive(Clone, Debug)]
pub(crate) struct AuthorizationCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) login: Login,
    pub(crate) issued_at: SystemTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Access,
    Refresh,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenStatus {
    Active,
    /// A refresh token replaced by rotation. Presenting it again is treated as theft.
    RotatedAway,
    Revoked,
}

#[derive(Debug)]
struct TokenRecord {
    kind: TokenKind,
    status: TokenStatus,
    family: usize,
    issued_at: SystemTime,
    /// When a call last authenticated with it (access tokens; the issue time until then).
    last_used: SystemTime,
}

/// What the introspection endpoint may say about a token (`oauth.rs`).
#[derive(Debug)]
pub(crate) struct TokenFacts<'a> {
    pub(crate) kind: TokenKind,
    pub(crate) family: &'a Family,
    pub(crate) issued_at: SystemTime,
    /// When an access token's session times out if unused from now on; `None` for refresh tokens
    /// (valid until revoked in the simulator).
    pub(crate) expires_at: Option<SystemTime>,
}

/// One grant and every token minted from it.
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) client_id: String,
    pub(crate) login: Login,
    pub(crate) scopes: Vec<String>,
    tokens: Vec<String>,
}

/// What presenting a refresh token finds.
#[derive(Debug)]
pub(crate) enum RefreshLookup {
    /// Current and active: the family it belongs to.
    Active(usize),
    /// Rotated away earlier: a reuse under Refresh Token Rotation.
    Reused(usize),
    /// Unknown, revoked, an access token, or another client's.
    Invalid,
}

pub(crate) struct SimState {
    /// The identity of logins from now on ([`crate::SalesforceSim::set_org`]).
    pub(crate) login: Login,
    pub(crate) username: String,
    pub(crate) display_name: String,
    pub(crate) email: String,
    pub(crate) marker: String,
    pub(crate) auto_approve: bool,
    pub(crate) apps: HashMap<String, SimApp>,

    // Knobs for negative tests.
    pub(crate) tamper_signature: bool,
    /// The next this-many token requests get a 503 HTML page, as Salesforce's edge sends when down.
    pub(crate) token_endpoint_failures: u32,
    /// The same for introspection requests.
    pub(crate) introspection_failures: u32,
    /// The org's session timeout (Session Settings); an app's session policy may override it.
    pub(crate) session_timeout: Duration,
    /// 401 `INVALID_SESSION_ID` answers given (REST and identity URL), for tests.
    pub(crate) invalid_session_answers: usize,
    pub(crate) instance_url: Option<String>,
    pub(crate) identity_base: Option<String>,
    pub(crate) authorize_error: Option<(String, String)>,
    pub(crate) clock: Clock,

    pub(crate) pending: HashMap<String, PendingAuthorization>,
    codes: HashMap<String, AuthorizationCode>,
    tokens: HashMap<String, TokenRecord>,
    families: Vec<Family>,

    // For inspection by tests.
    pub(crate) issued_access: Vec<String>,
    pub(crate) issued_refresh: Vec<String>,
    pub(crate) revoked: Vec<String>,
    pub(crate) requests: Vec<RecordedRequest>,

    /// The org's objects and records (the REST API's data).
    pub(crate) org: Org,
    /// The REST API's limits, knobs and counters.
    pub(crate) api: ApiState,
    /// The Apex REST endpoints and the requests they received.
    pub(crate) apex: ApexState,
    /// Record changes scheduled for a moment of an import (`changes.rs`).
    pub(crate) changes: Changes,
    /// People added by [`crate::SalesforceSim::seed_people`] so far (numbers their emails).
    pub(crate) seeded: u64,
}

impl SimState {
    pub(crate) fn add_app(&mut self, app: SimApp) {
        self.apps.insert(app.client_id.clone(), app);
    }

    /// The simulator's clock (see [`Clock`]).
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// The time a write is stamped with: the clock after its [`Clock::write_step`]. Records past
    /// the recycle bin's retention are purged first, so that the write sees the org as it is then.
    pub(crate) fn write_time(&mut self) -> SystemTime {
        let step = self.clock.write_step;
        self.clock.advance(step);
        let now = self.clock.now();
        self.org.expire_recycle_bin(now);
        now
    }

    /// Purges the recycle bin of records deleted longer ago than Salesforce keeps them, before a
    /// read that could see them (`queryAll`, a record by id).
    pub(crate) fn expire_recycle_bin(&mut self) {
        let now = self.clock.now();
        self.org.expire_recycle_bin(now);
    }

    /// A change made as the org's user would make it through the REST API, with its checks;
    /// `Ok` is the record's id, `Err` `"STATUS_CODE: message"`.
    pub(crate) fn apply_change(&mut self, change: &RecordChange) -> Result<String, String> {
        let writer = Writer { user_id: self.login.user_id.clone(), now: self.write_time() };
        let fields = |value: &Value| {
            value.as_object().cloned().ok_or_else(|| "JSON_PARSER_ERROR: fields must be a JSON object".to_owned())
        };
        let message = |e: RecordError| format!("{}: {}", e.status_code, e.message);
        match change {
            RecordChange::Insert { object, fields: values } => {
                let values = fields(values)?;
                self.org.check_types(object, &values).map_err(|m| format!("JSON_PARSER_ERROR: {m}"))?;
                self.org.create(object, &values, &writer).map_err(message)
            }
            RecordChange::Update { id, fields: values } => {
                let values = fields(values)?;
                let object = crate::ids::normalize(id)
                    .and_then(|id| self.org.schema.object_of_id(&id).map(|def| def.name.clone()))
                    .ok_or_else(|| format!("INVALID_CROSS_REFERENCE_KEY: invalid cross reference id: {id}"))?;
                self.org.check_types(&object, &values).map_err(|m| format!("JSON_PARSER_ERROR: {m}"))?;
                self.org.update(&object, id, &values, &writer).map_err(message)
            }
            RecordChange::Delete { id } => {
                let canonical = crate::ids::normalize(id).unwrap_or_default();
                let lookup = self.org.schema.object_of_id(&canonical).map(|def| self.org.get(def, &canonical));
                match lookup {
                    Some(Lookup::Found(_)) if self.org.delete(&canonical, writer.now) => Ok(canonical),
                    Some(Lookup::Deleted) => Err("ENTITY_IS_DELETED: entity is deleted".to_owned()),
                    _ => Err("NOT_FOUND: The requested resource does not exist".to_owned()),
                }
            }
        }
    }

    /// Applies the scheduled changes that `event` makes due, in the order they were scheduled.
    pub(crate) fn fire(&mut self, event: Event) {
        for (moment, change) in self.changes.due(event) {
            let outcome = self.apply_change(&change);
            self.changes.applied.push(AppliedChange { moment, change, outcome });
        }
    }

    /// Milliseconds since the epoch, as in `issued_at`.
    pub(crate) fn now_millis(&self) -> u128 {
        self.now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
    }

    /// Parks an authorize request until the user decides; returns its id for the consent form.
    pub(crate) fn add_pending(&mut self, pending: PendingAuthorization) -> String {
        let id = random_string(32);
        self.pending.insert(id.clone(), pending);
        id
    }

    /// A new code for the current login. Codes end in `==`, like Salesforce's, so a client that
    /// does not URL-encode them breaks.
    pub(crate) fn issue_code(&mut self, pending: PendingAuthorization) -> String {
        let code = format!("aPrx{}{}==", self.marker, random_string(72));
        let grant = AuthorizationCode {
            client_id: pending.client_id,
            redirect_uri: pending.redirect_uri,
            code_challenge: pending.code_challenge,
            scopes: pending.scopes,
            login: self.login.clone(),
            issued_at: self.now(),
        };
        self.codes.insert(code.clone(), grant);
        code
    }

    /// Removes the code: a code is burnt by its first redemption attempt, successful or not.
    pub(crate) fn take_code(&mut self, code: &str) -> Option<AuthorizationCode> {
        self.codes.remove(code)
    }

    pub(crate) fn new_family(&mut self, client_id: &str, login: Login, scopes: Vec<String>) -> usize {
        self.families.push(Family { client_id: client_id.to_owned(), login, scopes, tokens: Vec::new() });
        self.families.len() - 1
    }

    pub(crate) fn family(&self, family: usize) -> Option<&Family> {
        self.families.get(family)
    }

    /// A new access token: `{15-char org id}!{marker}.{random}`, like Salesforce's opaque tokens.
    pub(crate) fn issue_access_token(&mut self, family: usize) -> String {
        let org15: String =
            self.families.get(family).map(|f| f.login.org_id.chars().take(15).collect()).unwrap_or_default();
        let token = format!("{org15}!{}.{}", self.marker, random_string(96));
        self.add_token(&token, TokenKind::Access, family);
        self.issued_access.push(token.clone());
        token
    }

    /// A new refresh token; `5Aep861` is the prefix real ones share.
    pub(crate) fn issue_refresh_token(&mut self, family: usize) -> String {
        let token = format!("5Aep861{}.{}", self.marker, random_string(80));
        self.add_token(&token, TokenKind::Refresh, family);
        self.issued_refresh.push(token.clone());
        token
    }

    fn add_token(&mut self, token: &str, kind: TokenKind, family: usize) {
        let now = self.now();
        let record = TokenRecord { kind, status: TokenStatus::Active, family, issued_at: now, last_used: now };
        self.tokens.insert(token.to_owned(), record);
        if let Some(f) = self.families.get_mut(family) {
            f.tokens.push(token.to_owned());
        }
    }

    /// Classifies a refresh token presented by `client_id`.
    pub(crate) fn lookup_refresh(&self, token: &str, client_id: &str) -> RefreshLookup {
        let Some(record) = self.tokens.get(token) else { return RefreshLookup::Invalid };
        let same_client = self.families.get(record.family).is_some_and(|f| f.client_id == client_id);
        if record.kind != TokenKind::Refresh || !same_client {
            return RefreshLookup::Invalid;
        }
        match record.status {
            TokenStatus::Active => RefreshLookup::Active(record.family),
            TokenStatus::RotatedAway => RefreshLookup::Reused(record.family),
            TokenStatus::Revoked => RefreshLookup::Invalid,
        }
    }

    /// Rotation: the presented refresh token stops working; a new one replaces it.
    pub(crate) fn rotate_refresh_token(&mut self, old: &str, family: usize) -> String {
        if let Some(record) = self.tokens.get_mut(old) {
            record.status = TokenStatus::RotatedAway;
        }
        self.issue_refresh_token(family)
    }

    /// Revokes every active token of a family. Rotated-away tokens keep their status, so presenting
    /// one again is still recognised as reuse.
    pub(crate) fn revoke_family(&mut self, family: usize) {
        let Some(f) = self.families.get(family) else { return };
        for token in &f.tokens {
            if let Some(record) = self.tokens.get_mut(token) {
                if record.status == TokenStatus::Active {
                    record.status = TokenStatus::Revoked;
                }
            }
        }
    }

    /// `/services/oauth2/revoke`: an access token ends its session; a refresh token takes its
    /// access tokens with it. Returns false for unknown or already inactive tokens.
    pub(crate) fn revoke(&mut self, token: &str) -> bool {
        let Some(record) = self.tokens.get_mut(token) else { return false };
        if record.status != TokenStatus::Active {
            return false;
        }
        match record.kind {
            TokenKind::Access => record.status = TokenStatus::Revoked,
            TokenKind::Refresh => {
                let family = record.family;
                self.revoke_family(family);
            }
        }
        true
    }

    /// Issued, not revoked or rotated away, and (an access token) not timed out.
    pub(crate) fn is_active(&self, token: &str) -> bool {
        self.tokens.get(token).is_some_and(|r| self.live(r))
    }

    /// The session timeout for a family's access tokens: the app's session policy, else the org's.
    fn session_timeout_of(&self, family: usize) -> Duration {
        self.families
            .get(family)
            .and_then(|f| self.apps.get(&f.client_id))
            .and_then(|app| app.session_timeout)
            .unwrap_or(self.session_timeout)
    }

    /// When an access token times out if it is not used again; `None` for refresh tokens.
    fn expiry(&self, record: &TokenRecord) -> Option<SystemTime> {
        (record.kind == TokenKind::Access).then(|| record.last_used + self.session_timeout_of(record.family))
    }

    fn live(&self, record: &TokenRecord) -> bool {
        record.status == TokenStatus::Active && self.expiry(record).is_none_or(|expiry| self.now() < expiry)
    }

    /// The login behind a live access token (the session), if any, without using it.
    pub(crate) fn session(&self, access_token: &str) -> Option<&Family> {
        let record = self.tokens.get(access_token)?;
        if record.kind != TokenKind::Access || !self.live(record) {
            return None;
        }
        self.families.get(record.family)
    }

    /// [`Self::session`] for a call authenticating with the token: it restarts the session's
    /// inactivity count.
    pub(crate) fn use_session(&mut self, access_token: &str) -> Option<&Family> {
        self.session(access_token)?;
        let now = self.now();
        let record = self.tokens.get_mut(access_token)?;
        record.last_used = now;
        let family = record.family;
        self.families.get(family)
    }

    /// What introspection may tell about a live token; `None` for an unknown, revoked, rotated
    /// away or timed out one. Reading it does not use the session.
    pub(crate) fn token_facts(&self, token: &str) -> Option<TokenFacts<'_>> {
        let record = self.tokens.get(token).filter(|r| self.live(r))?;
        Some(TokenFacts {
            kind: record.kind,
            family: self.families.get(record.family)?,
            issued_at: record.issued_at,
            expires_at: self.expiry(record),
        })
    }

    pub(crate) fn expire_access_tokens(&mut self) {
        for record in self.tokens.values_mut() {
            if record.kind == TokenKind::Access && record.status == TokenStatus::Active {
                record.status = TokenStatus::Revoked;
            }
        }
    }
}

/// `len` random letters and digits.
pub(crate) fn random_string(len: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// The 18-character form of a 15-character Salesforce id (the id itself if it is not 15
/// characters): for each block of 5 characters, a 5-bit mask of which ones are upper-case letters,
/// written as one of `A`–`Z`, `0`–`5`.
pub fn salesforce_id_18(id15: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let bytes = id15.as_bytes();
    if bytes.len() != 15 {
        return id15.to_owned();
    }
    let mut out = id15.to_owned();
    for block in bytes.chunks(5) {
        let mask = block
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_ascii_uppercase())
            .fold(0usize, |mask, (i, _)| mask | (1 << i));
        out.push(char::from(ALPHABET[mask]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_checksum_matches_known_ids() {
        // The org and user ids of salesforce-samples/oauth-token-response-authorization-code.json.
        assert_eq!(salesforce_id_18("00DB0000000TfcR"), "00DB0000000TfcRMAS");
        assert_eq!(salesforce_id_18("005B0000005Bk90"), "005B0000005Bk90IAC");
    }

    #[test]
    fn default_ids_are_18_alphanumeric_characters() {
        let config = SimConfig::default();
        for (id, prefix) in [(&config.org_id, "00D"), (&config.user_id, "005")] {
            assert_eq!(id.len(), 18);
            assert!(id.starts_with(prefix));
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
            assert_eq!(&salesforce_id_18(&id[..15]), id);
        }
    }

    #[test]
    fn reuse_of_a_rotated_token_is_detected_and_revoke_takes_the_family() {
        let sim = Sim::new(SimConfig::default(), "http://127.0.0.1:1".into());
        let mut state = sim.lock();
        let login = state.login.clone();
        let family = state.new_family("app", login, vec!["api".into()]);
        let access = state.issue_access_token(family);
        let first = state.issue_refresh_token(family);
        let second = state.rotate_refresh_token(&first, family);
        assert!(matches!(state.lookup_refresh(&first, "app"), RefreshLookup::Reused(f) if f == family));
        assert!(matches!(state.lookup_refresh(&second, "other-app"), RefreshLookup::Invalid));
        assert!(state.is_active(&access) && state.is_active(&second));
        state.revoke_family(family);
        assert!(!state.is_active(&access) && !state.is_active(&second));
        assert!(matches!(state.lookup_refresh(&first, "app"), RefreshLookup::Reused(_)));
    }
}
