//! A Salesforce org on loopback, for tests, benchmarks and the local demo.
//!
//! [`SalesforceSim::start`] binds `127.0.0.1:0` and serves the parts of Salesforce that a connector
//! talks to, with Salesforce's rules and its exact error bodies (see
//! `shared/reference/salesforce.md` §1–§4):
//!
//! | Endpoint | Module |
//! |---|---|
//! | `GET /services/oauth2/authorize` (+ the consent page's `POST …/authorize/decision`) | `oauth.rs` |
//! | `POST /services/oauth2/token` (`authorization_code`, `refresh_token`, `client_credentials`) | `oauth.rs` |
//! | `POST /services/oauth2/revoke` | `oauth.rs` |
//! | `POST /services/oauth2/introspect` | `oauth.rs` |
//! | `GET /id/{org_id}/{user_id}` (the identity URL) | `identity.rs` |
//! | `/services/data/vNN.N/…`: SOQL query, sObjects, sObject Collections, Composite, describe, limits (§5–§8), Bulk API 2.0 query jobs (`…/jobs/query`) | `rest/` |
//! | `/services/apexrest/…`: the org's Apex REST endpoints ([`ApexBehavior`]) | `apex.rs` |
//! | anything else: 404 `NOT_FOUND` in Salesforce's REST error shape | `router` in `lib.rs` |
//!
//! How the crate is laid out:
//!
//! - `lib.rs` (this file): the public configuration ([`SimConfig`], [`SimApp`]), the handle
//!   ([`SalesforceSim`]) with its knobs and inspection methods, and the router.
//! - `state.rs`: everything the simulated org remembers (apps, pending consents, codes, token
//!   families, records, API counters), behind one `std::sync::Mutex` that is never held across an
//!   `.await`.
//! - `oauth.rs`: the OAuth endpoints. `identity.rs`: the identity URL. `pages.rs`: the HTML the
//!   browser sees (consent page, error pages; plain forms, no JavaScript).
//! - `rest/`: the REST API. `rest/mod.rs` lists its routes; `rest/gate.rs` does what every call
//!   shares (token, daily limit, `Sforce-Limit-Info`, URI length, latency, faults).
//! - `apex.rs`: Apex REST, a registry of endpoints standing in for the org's Apex classes; it
//!   passes the same gate.
//! - `schema.rs`: the objects (Contact, Lead, Task, Campaign, CampaignMember, and custom objects)
//!   and their fields, custom and namespaced ones included ([`FieldSpec`]: lengths, digits,
//!   picklists, read-only), and when each object's metadata last changed (describe's
//!   `If-Modified-Since`). `records.rs`: the records and Salesforce's write rules.
//!   `soql.rs`: the SOQL subset. `ids.rs`: record ids. `datetime.rs`: date formats.
//! - `faults.rs`: seeded fault injection for REST calls ([`Faults`]). `connection.rs`: the listener
//!   that lets a handler drop its connection without answering.
//! - `changes.rs`: record changes a test schedules for a moment of an import ([`ImportMoment`]).
//! - `recording.rs`: a middleware that records every request ([`RecordedRequest`]) in memory, so a
//!   test can assert what a client sent.
//!
//! To add an API, write a module with a `pub(crate) fn routes() -> Router<Arc<Sim>>` and merge it
//! in `router`; it is recorded automatically. A REST resource is a `route` in `rest/mod.rs`.
//!
//! REST in a few lines (see `tests/rest.rs` for more):
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use salesforce_sim::{FieldKind, FieldSpec, Faults, SalesforceSim, SimConfig};
//! let sim = SalesforceSim::start(SimConfig::default()).await?;
//! let contact = sim.insert_contact("Ada@Example.com", "Ada", "Lovelace");
//! sim.add_custom_field("Task", "Email_Event_Id__c", FieldSpec::unique_external_id(FieldKind::String));
//! sim.set_faults(Faults { rate_503: 0.1, seed: 42, ..Faults::default() });
//! // ... log in through OAuth, then call {base_url}/services/data/v66.0/query?q=... with the token.
//! assert_eq!(sim.records("Contact").len(), 1);
//! # let _ = contact; Ok(()) }
//! ```
//!
//! ## Importing from the org
//!
//! What a connector's import (full, incremental by `SystemModstamp`, deletions through `queryAll`,
//! Bulk API 2.0 for large orgs) meets, and the knobs a test turns:
//!
//! - **The clock.** Records carry `CreatedDate`, `LastModifiedDate`, `SystemModstamp` (to the
//!   millisecond, `2026-12-05T10:00:00.000+0000`) and `IsDeleted`, stamped from the simulator's
//!   clock. [`SalesforceSim::set_time`] stops it at a given time (writes then share a stamp, as
//!   records saved in one millisecond do), [`SalesforceSim::advance_time`] moves it,
//!   [`SalesforceSim::set_write_step`] makes every write move it first (strictly increasing
//!   stamps), [`SalesforceSim::now`] reads it. Tokens age on the same clock: set it before logging
//!   in, or expect a 401 and a refresh after a jump.
//! - **The recycle bin.** A delete (REST `DELETE`, [`SalesforceSim::delete_record`]) sets
//!   `IsDeleted` and a new `SystemModstamp`; `query` skips the record, `queryAll` returns it for 15
//!   days of the clock, then it is gone. [`SalesforceSim::empty_recycle_bin`] erases the bin now,
//!   [`SalesforceSim::deleted_records`] lists it.
//! - **SOQL** (`soql.rs`): datetime comparisons (`Z` or `±hh:mm` literals; the REST form `+0000`
//!   is refused as Salesforce refuses it), `(SystemModstamp = X AND Id > '…') OR SystemModstamp > X`
//!   (AND and OR mixed only with parentheses), `ORDER BY SystemModstamp, Id`, `LIMIT`,
//!   `SELECT COUNT()`, `IsDeleted` in `queryAll`.
//! - **Paging** (`rest/query.rs`): `nextRecordsUrl` per 2,000 rows or `Sforce-Query-Options:
//!   batchSize=N`; a locator serves once and lives 2 days. [`SalesforceSim::route_calls`] counts
//!   calls per route (`/query`, `/query/{locator}`, `/jobs/query/{job}/results`, …).
//! - **Bulk API 2.0 query jobs** (`rest/bulk.rs`): create, poll, CSV results by `locator` and
//!   `maxRecords`, abort, delete, list; every call one API request.
//!   [`SalesforceSim::set_bulk_query_pace`] makes jobs take polls and simulated time
//!   ([`BulkQueryPace`]), [`SalesforceSim::fail_bulk_query_jobs`] makes them fail,
//!   [`SalesforceSim::set_bulk_default_max_records`] and [`SalesforceSim::set_bulk_query_job_limit`]
//!   set the service's default set size and `DailyBulkV2QueryJobs`.
//! - **Changes during an import.** [`SalesforceSim::schedule_change`] applies an insert, update or
//!   delete ([`RecordChange`]) when a Bulk job starts running (after its snapshot) or after some
//!   pages of results ([`ImportMoment`]); [`SalesforceSim::applied_changes`] tells what became of
//!   them. [`SalesforceSim::update_record`] changes a record now.
//! - **Seeding.** [`SalesforceSim::seed_people`] adds e.g. 100,000 Contacts in about 3 s (debug
//!   build) with distinct emails and names and stamps spread by [`SeedStamps`]; the org then holds
//!   about 3 KB per record (some 300 MB for 100,000).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::time::{Duration, UNIX_EPOCH};
//! use salesforce_sim::{BulkQueryPace, ImportMoment, RecordChange, SalesforceSim, SeedStamps, SimConfig};
//! let sim = SalesforceSim::start(SimConfig::default()).await?;
//! let t0 = UNIX_EPOCH + Duration::from_secs(1_796_464_800); // 2026-12-05T10:00:00Z
//! sim.set_time(t0 + Duration::from_secs(86_400));
//! let ids = sim.seed_people("Contact", 10_000, SeedStamps { first: t0, spacing: Duration::from_millis(5), per_stamp: 2 });
//! sim.set_bulk_query_pace(BulkQueryPace { running_polls: 3, ..BulkQueryPace::default() });
//! sim.schedule_change(ImportMoment::BulkJobRunning, RecordChange::Delete { id: ids[7].clone() });
//! // ... the product imports; then its incremental run must see the deletion through queryAll.
//! # Ok(()) }
//! ```
//!
//! Secrets: tokens, codes, secrets and verifiers are never logged. Every token and code contains
//! [`SimConfig::token_marker`] verbatim, so a test can grep captured logs for a leak.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

mod apex;
mod changes;
mod connection;
mod datetime;
mod faults;
mod identity;
mod ids;
mod oauth;
mod pages;
mod recording;
mod records;
mod rest;
mod schema;
mod soql;
mod state;

pub use apex::{ApexBehavior, ApexRequest};
pub use changes::{AppliedChange, ImportMoment, RecordChange};
pub use faults::{Fault, Faults};
pub use oauth::signature;
pub use recording::RecordedRequest;
pub use rest::{BulkQueryPace, BULK_DEFAULT_MAX_RECORDS};
pub use schema::{FieldKind, FieldSpec};
pub use state::salesforce_id_18;

use connection::{Connection, SimListener};
use records::Writer;
use state::Sim;

/// The scopes a new [`SimApp`] allows (the "Selected OAuth Scopes" of the External Client App).
/// `openid` is left out: the simulator issues no `id_token`.
pub const DEFAULT_ALLOWED_SCOPES: &[&str] =
    &["api", "id", "profile", "email", "address", "phone", "web", "full", "refresh_token", "offline_access"];

/// An External Client App in the simulated org.
#[derive(Clone)]
pub struct SimApp {
    /// The Consumer Key.
    pub client_id: String,
    /// The Consumer Secret. Always required at the token endpoint (confidential client).
    pub client_secret: String,
    /// The Callback URLs. `redirect_uri` must match one of them byte for byte.
    pub redirect_uris: Vec<String>,
    /// Refresh Token Rotation: each refresh returns a new refresh token and invalidates the old one;
    /// presenting an old one again revokes the whole family.
    pub rotate_refresh_tokens: bool,
    /// Client Credentials flow with a Run As user (the org's current user).
    pub client_credentials_enabled: bool,
    /// Scopes the app may grant. Asking for another one fails the authorize request with
    /// `invalid_scope`; asking for none grants all of these, as Salesforce does.
    pub allowed_scopes: Vec<String>,
    /// The app's session policy "Timeout Value", which overrides the org's session timeout for its
    /// access tokens (salesforce.md §2.6). `None`: the org's ([`SalesforceSim::set_session_timeout`]).
    pub session_timeout: Option<Duration>,
    /// May introspect every token of the org, not only its own (Help "OpenID Connect Token
    /// Introspection": "you can authorize a single connected app to introspect all access and
    /// refresh tokens throughout the entire org").
    pub introspect_all_tokens: bool,
}

impl SimApp {
    /// An app with one callback URL, rotation off, client credentials off,
    /// [`DEFAULT_ALLOWED_SCOPES`], the org's session timeout, and introspection of its own tokens.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uris: vec![redirect_uri.into()],
            rotate_refresh_tokens: false,
            client_credentials_enabled: false,
            allowed_scopes: DEFAULT_ALLOWED_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            session_timeout: None,
            introspect_all_tokens: false,
        }
    }
}

impl fmt::Debug for SimApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uris", &self.redirect_uris)
            .field("rotate_refresh_tokens", &self.rotate_refresh_tokens)
            .field("client_credentials_enabled", &self.client_credentials_enabled)
            .field("allowed_scopes", &self.allowed_scopes)
            .field("session_timeout", &self.session_timeout)
            .field("introspect_all_tokens", &self.introspect_all_tokens)
            .finish()
    }
}

/// How [`SalesforceSim::seed_people`] stamps the records it adds (`CreatedDate`,
/// `LastModifiedDate` and `SystemModstamp` alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedStamps {
    /// The first records' stamp.
    pub first: SystemTime,
    /// Between one stamp and the next.
    pub spacing: Duration,
    /// Records sharing each stamp: 1 gives every record its own; more makes ties that only an
    /// `Id` tie-break orders.
    pub per_stamp: usize,
}

/// The simulated org, its user and its apps.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// 18-character org id (`00D…`).
    pub org_id: String,
    /// 18-character user id (`005…`) of the user who logs in (and the Run As user).
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub apps: Vec<SimApp>,
    /// Skip the consent page: `authorize` redirects straight back with a code.
    pub auto_approve: bool,
    /// Included verbatim in every access token, refresh token and authorization code.
    pub token_marker: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            org_id: salesforce_id_18("00D5g000004SimO"),
            user_id: salesforce_id_18("0055g000003SimU"),
            username: "sim.admin@sfbridge-sim.example.com".to_owned(),
            display_name: "Sim Admin".to_owned(),
            email: "sim.admin@example.com".to_owned(),
            apps: Vec::new(),
            auto_approve: false,
            token_marker: "SIM".to_owned(),
        }
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SalesforceSim {
    sim: Arc<Sim>,
    server: JoinHandle<()>,
}

impl fmt::Debug for SalesforceSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceSim").field("base_url", &self.sim.base_url).finish_non_exhaustive()
    }
}

impl Drop for SalesforceSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl SalesforceSim {
    /// Binds `127.0.0.1:0` and serves in a background task.
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let sim = Arc::new(Sim::new(config, base_url));
        // With a handle on each connection, so faults can drop one without answering.
        let app = router(sim.clone()).into_make_service_with_connect_info::<Connection>();
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(SimListener::new(listener), app).await {
                tracing::warn!(%error, "salesforce-sim server stopped");
            }
        });
        Ok(Self { sim, server })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash: the login host, and the default instance URL.
    pub fn base_url(&self) -> String {
        self.sim.base_url.clone()
    }

    /// Adds an app, replacing any app with the same client id.
    pub fn add_app(&self, app: SimApp) {
        self.sim.lock().add_app(app);
    }

    pub fn set_auto_approve(&self, on: bool) {
        self.sim.lock().auto_approve = on;
    }

    /// The org and user of logins from now on. Tokens already issued keep their identity.
    pub fn set_org(&self, org_id: &str, user_id: &str) {
        let mut state = self.sim.lock();
        state.login.org_id = org_id.to_owned();
        state.login.user_id = user_id.to_owned();
    }

    /// Token responses carry a `signature` that does not verify.
    /// The next `count` token requests fail with 503 and an HTML body (recorded, not processed).
    pub fn fail_token_requests(&self, count: u32) {
        self.sim.lock().token_endpoint_failures = count;
    }

    /// The next `count` introspection requests fail with 503 and an HTML body (recorded, not
    /// processed).
    pub fn fail_introspection_requests(&self, count: u32) {
        self.sim.lock().introspection_failures = count;
    }

    pub fn set_tamper_signature(&self, on: bool) {
        self.sim.lock().tamper_signature = on;
    }

    /// `instance_url` in token responses (and identity `urls`); `None`: [`Self::base_url`].
    pub fn set_instance_url(&self, url: Option<String>) {
        self.sim.lock().instance_url = url;
    }

    /// Scheme and host of the `id` URL in token responses; `None`: [`Self::base_url`].
    pub fn set_identity_base(&self, url: Option<String>) {
        self.sim.lock().identity_base = url;
    }

    /// `(error, error_description)`: valid authorize requests redirect back with this error instead
    /// of a code (e.g. `OAUTH_EC_APP_NOT_FOUND`). `None` restores normal behaviour.
    pub fn set_authorize_error(&self, error: Option<(String, String)>) {
        self.sim.lock().authorize_error = error;
    }

    /// Moves the simulator's clock forward (codes expire after 15 minutes, access tokens after the
    /// session timeout of inactivity, deleted records after 15 days in the recycle bin, Bulk API
    /// jobs progress with [`BulkQueryPace`]; `issued_at` and introspection's times move too).
    pub fn advance_time(&self, by: Duration) {
        self.sim.lock().clock.advance(by);
    }

    /// Sets the simulator's clock to `at`, earlier or later than now, and stops it there: from
    /// then on it moves only with [`Self::advance_time`], [`Self::set_time`] and
    /// [`Self::set_write_step`]. Records written meanwhile are stamped `at` (`CreatedDate`,
    /// `LastModifiedDate`, `SystemModstamp`, to the millisecond), so two of them share a
    /// `SystemModstamp` as records saved in the same millisecond do in Salesforce.
    pub fn set_time(&self, at: SystemTime) {
        self.sim.lock().clock.set(at);
    }

    /// The simulator's clock.
    pub fn now(&self) -> SystemTime {
        self.sim.lock().now()
    }

    /// Moves the clock forward by `step` before each write stamps records (a REST write, each
    /// subrequest of a Composite call, a test helper's insert, update or delete), so that
    /// `SystemModstamp`s strictly increase from one write to the next (zero, the default, lets
    /// writes share a millisecond). The records of one sObject Collections call are one write and
    /// share their stamp, as one Salesforce transaction's do.
    pub fn set_write_step(&self, step: Duration) {
        self.sim.lock().clock.write_step = step;
    }

    /// The org's session timeout (Setup > Session Settings > "Timeout value"; 2 hours until set):
    /// an access token unused for this long stops working (401 `INVALID_SESSION_ID`), unless its
    /// app's [`SimApp::session_timeout`] says otherwise. Applies to tokens already issued. Returns
    /// false, changing nothing, outside the 15 minutes to 24 hours Salesforce offers.
    pub fn set_session_timeout(&self, timeout: Duration) -> bool {
        if !state::SESSION_TIMEOUTS.contains(&timeout) {
            return false;
        }
        self.sim.lock().session_timeout = timeout;
        true
    }

    /// How many 401 `INVALID_SESSION_ID` answers were given (REST, Apex REST and the identity
    /// URL), injected [`Fault::InvalidSession`]s included.
    pub fn invalid_session_answers(&self) -> usize {
        self.sim.lock().invalid_session_answers
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.sim.lock().requests.clone()
    }

    /// Only `POST /services/oauth2/token`.
    pub fn token_requests(&self) -> Vec<RecordedRequest> {
        self.sim.lock().requests.iter().filter(|r| r.method == "POST" && r.path == oauth::TOKEN_PATH).cloned().collect()
    }

    /// Only `POST /services/oauth2/introspect`.
    pub fn introspection_requests(&self) -> Vec<RecordedRequest> {
        self.sim.lock().requests.iter().filter(|r| r.method == "POST" && r.path == oauth::INTROSPECT_PATH).cloned().collect()
    }

    /// An access or refresh token that was issued and is not revoked, rotated away or expired
    /// (an access token unused for longer than the session timeout).
    pub fn is_token_active(&self, token: &str) -> bool {
        self.sim.lock().is_active(token)
    }

    /// Tokens revoked through `/services/oauth2/revoke`, as sent.
    pub fn revoked_tokens(&self) -> Vec<String> {
        self.sim.lock().revoked.clone()
    }

    /// Every refresh token issued (code exchanges and rotations), in order.
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        self.sim.lock().issued_refresh.clone()
    }

    /// Every access token issued, in order.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.sim.lock().issued_access.clone()
    }

    /// Ends every session at once: all access tokens stop working (401 `INVALID_SESSION_ID`),
    /// refresh tokens still work. The session timeout without moving the clock (see
    /// [`Self::set_session_timeout`] and [`Self::advance_time`] for the real thing).
    pub fn expire_access_tokens(&self) {
        self.sim.lock().expire_access_tokens();
    }

    /// Revokes a token as an admin or the user would in Setup (not recorded in
    /// [`Self::revoked_tokens`]). Revoking a refresh token revokes its access tokens. Returns
    /// whether the token was active.
    pub fn revoke_token(&self, token: &str) -> bool {
        self.sim.lock().revoke(token)
    }

    // -----------------------------------------------------------------------------------------
    // REST API: data
    // -----------------------------------------------------------------------------------------

    /// Adds a Contact as a user would in the UI (no validation; an empty `first` is stored as
    /// null). Returns its 18-character id (`003…`).
    pub fn insert_contact(&self, email: &str, first: &str, last: &str) -> String {
        self.insert_person("Contact", email, first, last)
    }

    /// Adds an open, unconverted Lead (Company `[not provided]`, as Web-to-Lead does). Returns its
    /// 18-character id (`00Q…`).
    pub fn insert_lead(&self, email: &str, first: &str, last: &str) -> String {
        self.insert_person("Lead", email, first, last)
    }

    fn insert_person(&self, object: &str, email: &str, first: &str, last: &str) -> String {
        let text = |s: &str| if s.is_empty() { serde_json::Value::Null } else { serde_json::json!(s) };
        let mut fields = serde_json::Map::new();
        fields.insert("Email".into(), text(email));
        fields.insert("FirstName".into(), text(first));
        fields.insert("LastName".into(), text(last));
        if object == "Lead" {
            fields.insert("Company".into(), serde_json::json!("[not provided]"));
        }
        let mut state = self.sim.lock();
        let writer = Writer { user_id: state.login.user_id.clone(), now: state.write_time() };
        state.org.insert_unchecked(object, &fields, &writer).unwrap_or_default()
    }

    /// Creates a record of any object with the same checks as the REST API (e.g. a Campaign for a
    /// test). `fields` is a JSON object of field names to values. Errs with `"STATUS_CODE: message"`.
    pub fn insert_record(&self, object: &str, fields: serde_json::Value) -> Result<String, String> {
        let serde_json::Value::Object(fields) = fields else {
            return Err("JSON_PARSER_ERROR: fields must be a JSON object".to_owned());
        };
        self.sim.lock().apply_change(&RecordChange::Insert { object: object.to_owned(), fields: serde_json::Value::Object(fields) })
    }

    /// Updates a record as the org's user would through the REST API, with its checks (a record in
    /// the recycle bin is `ENTITY_IS_DELETED`), stamping `LastModifiedDate` and `SystemModstamp`
    /// with the simulator's clock. `fields` is a JSON object. Returns the record's 18-character
    /// id; errs with `"STATUS_CODE: message"`.
    pub fn update_record(&self, id: &str, fields: serde_json::Value) -> Result<String, String> {
        self.sim.lock().apply_change(&RecordChange::Update { id: id.to_owned(), fields })
    }

    /// Converts a Lead into an existing Contact, as Lead Convert does: `IsConverted` true,
    /// `ConvertedContactId`, `ConvertedDate`, Status `Closed - Converted`. The Lead becomes read-only
    /// (`CANNOT_UPDATE_CONVERTED_LEAD`). Returns false when either record is missing or the Lead
    /// was already converted.
    pub fn convert_lead(&self, lead_id: &str, contact_id: &str) -> bool {
        let mut state = self.sim.lock();
        let now = state.write_time();
        state.org.convert_lead(lead_id, contact_id, now)
    }

    /// Moves a record to the recycle bin, as the REST API's DELETE does: `IsDeleted` true and a new
    /// `SystemModstamp`; reads then answer `ENTITY_IS_DELETED`, queries skip it, `queryAll` shows it
    /// for 15 days of the simulator's clock, after which it is gone for good. Returns false for an
    /// unknown or already deleted id.
    pub fn delete_record(&self, id: &str) -> bool {
        self.sim.lock().apply_change(&RecordChange::Delete { id: id.to_owned() }).is_ok()
    }

    /// Erases every record in the recycle bin, as Setup's "Empty your Recycle Bin" (or the 15 days
    /// passing) does: `queryAll` no longer returns them. Returns how many were erased.
    pub fn empty_recycle_bin(&self) -> usize {
        self.sim.lock().org.empty_recycle_bin()
    }

    /// The records of `object` in the recycle bin (deleted less than 15 days ago on the
    /// simulator's clock), in creation order, as [`Self::records`] shows live ones.
    pub fn deleted_records(&self, object: &str) -> Vec<serde_json::Value> {
        let mut state = self.sim.lock();
        state.expire_recycle_bin();
        let Some(def) = state.org.schema.object(object) else { return Vec::new() };
        state.org.recycle_bin(def).into_iter().map(serde_json::Value::Object).collect()
    }

    /// Adds `count` Contacts or Leads straight into the org, without HTTP or checks, for
    /// benchmarks: each with a distinct email (`contact.{n}@seed.example.com`), first and last
    /// name (`Seed{n}`, `Person{n}`; a Lead also gets Company `Seed Company {n}`), and the stamps
    /// `stamps` spreads them over. `n` keeps counting across calls, so emails stay distinct.
    /// Returns the new ids, in creation (and stamp) order; empty for another object.
    pub fn seed_people(&self, object: &str, count: usize, stamps: SeedStamps) -> Vec<String> {
        let mut state = self.sim.lock();
        let Some(object) = state.org.schema.object(object).map(|o| o.name.clone()).filter(|o| o == "Contact" || o == "Lead")
        else {
            return Vec::new();
        };
        let user_id = state.login.user_id.clone();
        let per_stamp = stamps.per_stamp.max(1);
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            state.seeded += 1;
            let n = state.seeded;
            let mut fields = serde_json::Map::new();
            fields.insert("Email".into(), serde_json::json!(format!("{}.{n}@seed.example.com", object.to_lowercase())));
            fields.insert("FirstName".into(), serde_json::json!(format!("Seed{n}")));
            fields.insert("LastName".into(), serde_json::json!(format!("Person{n}")));
            if object == "Lead" {
                fields.insert("Company".into(), serde_json::json!(format!("Seed Company {n}")));
            }
            let slot = u32::try_from(i / per_stamp).unwrap_or(u32::MAX);
            let writer = Writer { user_id: user_id.clone(), now: stamps.first + stamps.spacing * slot };
            ids.extend(state.org.insert_unchecked(&object, &fields, &writer));
        }
        ids
    }

    /// Applies `change` at `moment` of an import (while a Bulk API query job runs, after some
    /// pages of results), as the org's user would make it then; see [`ImportMoment`]. What became
    /// of it is in [`Self::applied_changes`].
    pub fn schedule_change(&self, moment: ImportMoment, change: RecordChange) {
        self.sim.lock().changes.schedule(moment, change);
    }

    /// The scheduled changes applied so far, in order, with their outcomes.
    pub fn applied_changes(&self) -> Vec<AppliedChange> {
        self.sim.lock().changes.applied.clone()
    }

    /// Every live record of `object` (`Contact`, `Lead`, `Task`, `Campaign`, `CampaignMember`, or
    /// a custom object of [`Self::add_custom_object`]), in creation order, as JSON objects with every field (null when unset), custom and computed
    /// ones (`Name`, `IsClosed`, …) included. Empty for an unknown object.
    pub fn records(&self, object: &str) -> Vec<serde_json::Value> {
        let state = self.sim.lock();
        let Some(def) = state.org.schema.object(object) else { return Vec::new() };
        state.org.rows(def, false).into_iter().map(serde_json::Value::Object).collect()
    }

    /// Adds a validation rule: saving an `object` record whose `field` equals `value` fails with
    /// `FIELD_CUSTOM_VALIDATION_EXCEPTION` and `message` (e.g. Tasks on one locked Contact).
    pub fn add_validation_rule(&self, object: &str, field: &str, value: serde_json::Value, message: &str) {
        self.sim.lock().org.add_validation_rule(object, field, value, message);
    }

    /// Adds a custom field to `object`, a standard or custom object (or replaces a custom field of
    /// that name): it is writable as `spec` says, queryable, and shows in describe, whose
    /// `If-Modified-Since` then sees the object changed. `name` is a custom field's API name,
    /// `Name__c` or, for a managed package's field, `ns__Name__c`. Returns false when the object is
    /// unknown, the name breaks Salesforce's naming rules (a letter first; letters, digits and
    /// single underscores; no trailing underscore; the `__c` suffix), or it is a standard field's.
    pub fn add_custom_field(&self, object: &str, name: &str, spec: FieldSpec) -> bool {
        let mut state = self.sim.lock();
        let now = state.now();
        state.org.add_custom_field(object, name, spec, now)
    }

    /// Adds a custom object (`Product_Event__c`, or `ns__Obj__c` from a managed package) labelled
    /// `label`, with the system fields every custom object has (`Id`, `Name`, `OwnerId`,
    /// `CreatedDate`, `CreatedById`, `LastModifiedDate`, `LastModifiedById`, `SystemModstamp`,
    /// `IsDeleted`). It is listed by `GET …/sobjects`, described, queried, and written through the
    /// sObject, Collections and Composite resources like any object; add its fields (an External ID
    /// for upserts) with [`Self::add_custom_field`]. A record saved without a `Name` is named by its
    /// id. Returns false when the name is not a custom object's or the object exists.
    pub fn add_custom_object(&self, name: &str, label: &str) -> bool {
        let mut state = self.sim.lock();
        let now = state.now();
        state.org.schema.add_custom_object(name, label, now)
    }

    /// Replaces the values of a picklist field, standard or custom (e.g. Campaign `Status`, whose
    /// values are Planned, In Progress, Completed and Aborted until then), as an admin editing its
    /// value set would; `restricted`: "Restrict picklist to the values defined in the value set".
    /// Records keep the values they hold. Returns false when the object or field is unknown or the
    /// field is not a picklist.
    pub fn set_picklist_values(&self, object: &str, field: &str, values: &[&str], restricted: bool) -> bool {
        let mut state = self.sim.lock();
        let now = state.now();
        state.org.schema.set_picklist(object, field, values, restricted, now)
    }

    // -----------------------------------------------------------------------------------------
    // REST API: limits, latency, faults
    // -----------------------------------------------------------------------------------------

    /// The daily API request allocation (default 15,000, Developer Edition's). Every REST call
    /// that passes authentication counts one; once `used >= max`, calls get 403
    /// `REQUEST_LIMIT_EXCEEDED` (`TotalRequests Limit exceeded.`).
    pub fn set_api_limit(&self, max: u64) {
        self.sim.lock().api.max = max;
    }

    /// Sets the calls already counted today, e.g. to start a test near the limit.
    pub fn set_api_usage(&self, used: u64) {
        self.sim.lock().api.used = used;
    }

    /// `(used, max)`, as `Sforce-Limit-Info: api-usage=USED/MAX` reports them.
    pub fn api_usage(&self) -> (u64, u64) {
        let state = self.sim.lock();
        (state.api.used, state.api.max)
    }

    /// A delay added to every REST call before it is handled (for benchmarks); zero by default.
    pub fn set_latency(&self, latency: Duration) {
        self.sim.lock().api.latency = latency;
    }

    /// Injects faults into REST calls from now on, restarting the random generator from
    /// `faults.seed` (see [`Faults`]). `Faults::default()` turns them off.
    pub fn set_faults(&self, faults: Faults) {
        self.sim.lock().api.faults.configure(faults);
    }

    /// Loses the answer of the next `n` REST calls that write (any method but GET; a Composite
    /// call when one of its subrequests does): each is processed, then its connection closed
    /// before the answer, as a [`Fault::LostResponse`] (and listed in [`Self::injected_faults`]).
    /// On top of the random faults of [`Self::set_faults`], which a forced loss takes precedence over.
    pub fn lose_write_answers(&self, n: u32) {
        self.sim.lock().api.faults.forced_lost_writes = n;
    }

    /// How long a [`Fault::Timeout`] hangs before closing the connection (default 10.5 minutes).
    pub fn set_timeout_hang(&self, hang: Duration) {
        self.sim.lock().api.faults.hang = hang;
    }

    /// The faults injected so far, in order.
    pub fn injected_faults(&self) -> Vec<Fault> {
        self.sim.lock().api.faults.injected.clone()
    }

    /// REST calls received (requests under `/services/data/vNN.N/` and `/services/apexrest/`),
    /// whatever their outcome, faulted, unauthenticated and refused ones included. Bulk API 2.0
    /// calls are REST calls.
    pub fn rest_calls(&self) -> usize {
        self.sim.lock().api.calls
    }

    /// The REST calls received with `method` on one route, counted as [`Self::rest_calls`] counts.
    /// `route` is the route's template after `/services/data/vNN.N`: `/query` (first pages),
    /// `/queryAll`, `/query/{locator}` (next pages), `/jobs/query` (`POST` creates a Bulk API 2.0
    /// query job, `GET` lists them), `/jobs/query/{job}` (`GET` polls, `PATCH` aborts, `DELETE`),
    /// `/jobs/query/{job}/results`, `/sobjects/{object}`, `/composite`, ….
    pub fn route_calls(&self, method: &str, route: &str) -> usize {
        let state = self.sim.lock();
        state.api.route_calls.get(&(method.to_ascii_uppercase(), route.to_owned())).copied().unwrap_or(0)
    }

    // -----------------------------------------------------------------------------------------
    // Bulk API 2.0 query jobs
    // -----------------------------------------------------------------------------------------

    /// How many polls and how much simulated time query jobs spend queued and running (applies to
    /// jobs already created too); see [`BulkQueryPace`]. By default a job completes by its first
    /// poll.
    pub fn set_bulk_query_pace(&self, pace: BulkQueryPace) {
        self.sim.lock().api.bulk.pace = pace;
    }

    /// The next `count` query jobs created end `Failed`, with `error_message` as their
    /// `errorMessage`, when they would otherwise complete.
    pub fn fail_bulk_query_jobs(&self, count: u32, error_message: &str) {
        let mut state = self.sim.lock();
        state.api.bulk.failures.extend((0..count).map(|_| error_message.to_owned()));
    }

    /// The rows in a set of query results when the request gives no `maxRecords`
    /// ([`BULK_DEFAULT_MAX_RECORDS`] until set; at least 1).
    pub fn set_bulk_default_max_records(&self, max: usize) {
        self.sim.lock().api.bulk.default_max_records = max.max(1);
    }

    /// `DailyBulkV2QueryJobs`' allocation (10,000 until set): creating a job once that many were
    /// created fails with 400 `LIMIT_EXCEEDED`.
    pub fn set_bulk_query_job_limit(&self, max: u64) {
        self.sim.lock().api.bulk.daily_jobs = max;
    }

    /// `(created, max)` for `DailyBulkV2QueryJobs`, as `GET …/limits` reports them.
    pub fn bulk_query_job_usage(&self) -> (u64, u64) {
        let state = self.sim.lock();
        (state.api.bulk.jobs_created, state.api.bulk.daily_jobs)
    }

    // -----------------------------------------------------------------------------------------
    // Apex REST
    // -----------------------------------------------------------------------------------------

    /// Registers an Apex REST endpoint answering POST at `/services/apexrest{url_mapping}`, as a
    /// class with `@RestResource(urlMapping='/Sfbridge/events')` and an `@HttpPost` method would
    /// (replacing any endpoint with the same mapping). The mapping is case-sensitive and may end
    /// in `/*`; a namespaced class's mapping starts with its namespace (`/ns/events`). Calls need
    /// the bearer token and count against the daily limit; another method gets 405, a path no
    /// mapping matches 404 (see `apex.rs`). Returns false for a mapping Apex would refuse (no
    /// leading `/`, a `*` that is not a whole segment, over 255 characters).
    pub fn add_apex_rest(&self, url_mapping: &str, behavior: ApexBehavior) -> bool {
        self.add_apex_rest_methods(url_mapping, &["POST"], behavior)
    }

    /// [`Self::add_apex_rest`] for a class annotating other methods (`GET`, `PATCH`, `PUT`,
    /// `DELETE`, `POST`), all answering as `behavior` says.
    pub fn add_apex_rest_methods(&self, url_mapping: &str, methods: &[&str], behavior: ApexBehavior) -> bool {
        self.sim.lock().apex.add(url_mapping, methods, behavior)
    }

    /// The requests that reached Apex REST at `path` (after `/services/apexrest`, e.g.
    /// `/Sfbridge/events`, compared exactly), mapped or not, in order, with their headers and
    /// bodies. Requests refused before Apex (no token, over the limit, faults) are not here; see
    /// [`Self::requests`].
    pub fn apex_requests(&self, path: &str) -> Vec<ApexRequest> {
        self.sim.lock().apex.requests.iter().filter(|r| r.path == path).cloned().collect()
    }
}

/// All routes, with request recording around them. New APIs are merged here.
fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .merge(oauth::routes())
        .merge(identity::routes())
        .merge(rest::routes())
        .merge(apex::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(sim.clone(), rest::gate))
        .layer(axum::middleware::from_fn_with_state(sim.clone(), recording::record))
        .with_state(sim)
}

/// Salesforce's REST 404 body.
async fn not_found() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])),
    )
        .into_response()
}
