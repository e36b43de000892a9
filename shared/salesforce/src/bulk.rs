//! Bulk API 2.0 query jobs (Bulk API 2.0 and Bulk API Developer Guide, "Bulk API 2.0 Query"):
//! create a job for a SOQL query, poll it, read its results as CSV sets by `locator` and
//! `maxRecords`, abort it. Every call is one REST API request, classified like the REST client's
//! ([`RestError`], [`ErrorClass`]), so a 401 goes through the session refresh
//! ([`crate::Sessions::with_session`]) unchanged.
//!
//! **Memory.** A set of results is read whole (one HTTP body) and its rows parsed one at a time
//! as the caller asks for them ([`ResultsPage::rows`]): memory holds one set's CSV, never the
//! job's. `maxRecords` therefore bounds memory; [`max_records_for`] picks it from the width of a
//! row.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::rest::{classify_response, ApiUsage, ErrorClass, Reply, RestError, SalesforceRest, Session};

/// A set of results is megabytes, where the REST client's 20 s is for small answers; under the
/// import's 60 s deadline margin, so a slow download cannot run an invocation into its timeout.
const RESULTS_TIMEOUT: Duration = Duration::from_secs(50);

/// What one set of results may take in memory (its CSV body): the import function has 512 MB, of
/// which this is a small share, so that a set plus the events of one batch fit many times over.
pub const RESULTS_BYTES_BUDGET: usize = 32 * 1024 * 1024;
/// The least and most records asked per set: below 10,000 a 100,000-record import costs more
/// result calls than it saves memory; above 50,000 a set takes long to download, and a resumed
/// invocation downloads the set it stopped in again.
pub const MIN_MAX_RECORDS: usize = 10_000;
pub const MAX_MAX_RECORDS: usize = 50_000;

/// `maxRecords` for a query of `columns` columns: [`RESULTS_BYTES_BUDGET`] over a row's CSV
/// size, taken as 64 bytes a column (ids are 20 with their quotes, datetimes 26, emails and names
/// a few dozen; long text fields make it an underestimate, hence the 50,000 ceiling), within
/// [`MIN_MAX_RECORDS`]..=[`MAX_MAX_RECORDS`]. Contacts with a handful of fields get 50,000; a
/// hundred fields, 10,000 (about 6 MB, more with long text).
pub fn max_records_for(columns: usize) -> usize {
    (RESULTS_BYTES_BUDGET / (64 * columns.max(1))).clamp(MIN_MAX_RECORDS, MAX_MAX_RECORDS)
}

/// `query` reads live records; `queryAll` the recycle bin's and archived ones too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryOperation {
    Query,
    QueryAll,
}

/// A query job's state ("Get Information About a Query Job").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum JobState {
    /// Created and queued.
    UploadComplete,
    InProgress,
    JobComplete,
    Failed,
    Aborted,
    /// A state this client does not know: treated as still running.
    #[serde(other)]
    Unknown,
}

/// The parts of a job's info the import reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryJob {
    pub id: String,
    pub state: JobState,
    /// Why a `Failed` job failed, in Salesforce's words.
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub number_records_processed: Option<u64>,
}

/// One set of a job's results: its CSV, and the locator of the next set.
#[derive(Debug)]
pub struct ResultsPage {
    csv: Vec<u8>,
    /// `Sforce-Locator`: `None` on the last set (Salesforce sends the string `null`).
    pub next_locator: Option<String>,
    /// `Sforce-NumberOfRecords`.
    pub records: Option<u64>,
}

impl ResultsPage {
    /// The set's column names (the header row) and its rows, parsed one at a time (RFC 4180:
    /// quoted values, `""` inside quotes, line breaks inside values). Salesforce writes the
    /// columns as the query named them, in its order, and nulls as empty values.
    pub fn rows(&self) -> Result<(Vec<String>, ResultRows<'_>), RestError> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(self.csv.as_slice());
        let header = reader.headers().map_err(|e| unreadable_csv(&e))?.iter().map(str::to_owned).collect();
        Ok((header, ResultRows { rows: reader.into_records() }))
    }

    /// The bytes the set takes in memory.
    pub fn size(&self) -> usize {
        self.csv.len()
    }
}

/// One row of results: its values in the header's order.
pub type ResultRow = csv::StringRecord;

/// The rows of a [`ResultsPage`], each parsed when asked for.
pub struct ResultRows<'a> {
    rows: csv::StringRecordsIntoIter<&'a [u8]>,
}

impl std::fmt::Debug for ResultRows<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultRows").finish_non_exhaustive()
    }
}

impl Iterator for ResultRows<'_> {
    type Item = Result<ResultRow, RestError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next().map(|row| row.map_err(|e| unreadable_csv(&e)))
    }
}

fn unreadable_csv(e: &csv::Error) -> RestError {
    let message = format!("the query results are not CSV: {e}");
    RestError { class: ErrorClass::Transient, status: Some(200), code: "UNREADABLE_RESPONSE".into(), message }
}

impl SalesforceRest {
    /// `POST …/jobs/query` ("Create a Query Job"): CSV with commas and `LF`, the defaults. The
    /// SOQL is checked at once: a query the job cannot run is refused here (400), not later.
    pub async fn create_query_job(&self, session: &Session, soql: &str, operation: QueryOperation) -> Result<Reply<QueryJob>, RestError> {
        let operation = match operation {
            QueryOperation::Query => "query",
            QueryOperation::QueryAll => "queryAll",
        };
        let body = json!({"operation": operation, "query": soql});
        self.send(session, self.http.post(self.url(session, "/jobs/query")).json(&body)).await
    }

    /// `GET …/jobs/query/{id}` ("Get Information About a Query Job"): a poll.
    pub async fn query_job(&self, session: &Session, job_id: &str) -> Result<Reply<QueryJob>, RestError> {
        let path = format!("/jobs/query/{}", job_segment(job_id)?);
        self.send(session, self.http.get(self.url(session, &path))).await
    }

    /// `PATCH …/jobs/query/{id}` `{"state": "Aborted"}` ("Abort a Query Job"): only a job still
    /// queued or running can be aborted; a finished one answers 400 `INVALIDJOBSTATE`.
    pub async fn abort_query_job(&self, session: &Session, job_id: &str) -> Result<Reply<QueryJob>, RestError> {
        let path = format!("/jobs/query/{}", job_segment(job_id)?);
        self.send(session, self.http.patch(self.url(session, &path)).json(&json!({"state": "Aborted"}))).await
    }

    /// `GET …/jobs/query/{id}/results?locator=&maxRecords=` ("Get Results for a Query Job"): the
    /// set at `locator` (the first without one), at most `max_records` rows. "As long as the
    /// associated job exists, the locator string for a set of results does not change": a set can
    /// be read again, which is how a stopped import resumes inside one.
    pub async fn query_job_results(
        &self,
        session: &Session,
        job_id: &str,
        locator: Option<&str>,
        max_records: usize,
    ) -> Result<Reply<ResultsPage>, RestError> {
        let path = format!("/jobs/query/{}/results", job_segment(job_id)?);
        let mut url = url::Url::parse(&self.url(session, &path)).map_err(|e| client_error(&e))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(locator) = locator {
                query.append_pair("locator", locator);
            }
            query.append_pair("maxRecords", &max_records.to_string());
        }
        let response = self
            .http
            .get(url)
            .timeout(RESULTS_TIMEOUT)
            .bearer_auth(session.access_token.expose_secret())
            .header(reqwest::header::ACCEPT, "text/csv")
            .send()
            .await
            .map_err(|e| RestError::transport(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers();
        let usage = header(headers, "sforce-limit-info").and_then(ApiUsage::parse);
        let next_locator = header(headers, "sforce-locator").filter(|l| !l.is_empty() && *l != "null").map(str::to_owned);
        let records = header(headers, "sforce-numberofrecords").and_then(|n| n.parse().ok());
        let body = response.bytes().await.map_err(|e| RestError::transport(&e))?;
        if !(200..300).contains(&status) {
            return Err(classify_response(status, &body));
        }
        Ok(Reply { value: ResultsPage { csv: body.into(), next_locator, records }, usage })
    }
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A job id as a path segment: Salesforce ids are letters and digits; anything else is a bug
/// (or a stored value tampered with), never sent.
fn job_segment(job_id: &str) -> Result<&str, RestError> {
    if !job_id.is_empty() && job_id.len() <= 18 && job_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(job_id)
    } else {
        Err(client_error(&format!("{job_id:?} is not a query job id")))
    }
}

fn client_error(e: &dyn std::fmt::Display) -> RestError {
    RestError { class: ErrorClass::Permanent, status: None, code: "CLIENT_ERROR".into(), message: e.to_string() }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn page(csv: &str) -> ResultsPage {
        ResultsPage { csv: csv.as_bytes().to_vec(), next_locator: None, records: None }
    }

    #[test]
    fn rows_parse_one_at_a_time_with_rfc_4180_quoting() {
        let results = page("\"Id\",\"Email\",\"Title\"\n\"003A\",\"a@example.com\",\"VP, \"\"Sales\"\"\nEMEA\"\n\"003B\",,\"\"\n");
        let (header, rows) = results.rows().unwrap();
        assert_eq!(header, ["Id", "Email", "Title"]);
        let rows: Vec<Vec<String>> = rows.map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
        assert_eq!(rows, [vec!["003A", "a@example.com", "VP, \"Sales\"\nEMEA"], vec!["003B", "", ""]]);
        let broken = page("\"Id\",\"Email\"\n\"003A\"\n");
        let (_, mut rows) = broken.rows().unwrap();
        assert_eq!(rows.next().unwrap().unwrap_err().code, "UNREADABLE_RESPONSE", "a short row is not the CSV Salesforce writes");
    }

    #[test]
    fn max_records_shrinks_with_wide_rows_within_its_bounds() {
        assert_eq!(max_records_for(5), MAX_MAX_RECORDS);
        assert_eq!(max_records_for(0), MAX_MAX_RECORDS);
        assert_eq!(max_records_for(20), 26_214);
        assert_eq!(max_records_for(102), MIN_MAX_RECORDS);
    }

    #[test]
    fn job_states_and_ids_are_read_strictly() {
        let failed = r#"{"id":"750R0000000zlh9IAA","state":"Failed","errorMessage":"Query timeout","apiVersion":66.0}"#;
        let job: QueryJob = serde_json::from_str(failed).unwrap();
        assert_eq!((job.state, job.error_message.as_deref()), (JobState::Failed, Some("Query timeout")));
        let odd: QueryJob = serde_json::from_str(r#"{"id":"750R0000000zlh9IAA","state":"Queued"}"#).unwrap();
        assert_eq!(odd.state, JobState::Unknown);
        assert!(job_segment("750R0000000zlh9IAA").is_ok());
        for bad in ["", "750/../limits", "750R0000000zlh9IAA0", "750?x=1"] {
            assert_eq!(job_segment(bad).unwrap_err().class, ErrorClass::Permanent, "{bad}");
        }
    }
}
