//! DynamoDB adapter for the single table. Items convert through `serde_dynamo`, so the typed
//! records are defined once; conditions become `ConditionExpression`s.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes, PutRequest, ReturnValue,
    ScalarAttributeType, TimeToLiveSpecification, WriteRequest,
};
use aws_sdk_dynamodb::Client;

use sfbridge_core::store::{Condition, Item, QueryPage, Table, TableError};

#[derive(Debug, Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

type Attributes = HashMap<String, AttributeValue>;

impl DynamoTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// Creates the table with the layout `template.yaml` declares (for tests and the local stack
    /// against an emulator; in AWS the stack creates it).
    pub async fn create_table(client: &Client, table: &str) -> Result<(), TableError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| TableError::Unavailable(e.to_string()))
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| TableError::Unavailable(e.to_string()))
        };
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .send()
            .await
            .map_err(|e| TableError::Unavailable(describe(&e)))?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name("expires_at")
            .enabled(true)
            .build()
            .map_err(|e| TableError::Unavailable(e.to_string()))?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| TableError::Unavailable(describe(&e)))?;
        Ok(())
    }

    fn key(pk: &str, sk: &str) -> Attributes {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
            ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    }
}

fn to_attributes(item: Item) -> Result<Attributes, TableError> {
    serde_dynamo::to_item(item).map_err(|e| TableError::Corrupt(e.to_string()))
}

fn from_attributes(attributes: Attributes) -> Result<Item, TableError> {
    serde_dynamo::from_item(attributes).map_err(|e| TableError::Corrupt(e.to_string()))
}

/// (expression, names, values) for a condition.
type Expression = (Option<String>, Option<HashMap<String, String>>, Option<Attributes>);

fn expression(condition: &Condition) -> Result<Expression, TableError> {
    Ok(match condition {
        Condition::None => (None, None, None),
        Condition::NotExists => (Some("attribute_not_exists(pk)".into()), None, None),
        Condition::Exists => (Some("attribute_exists(pk)".into()), None, None),
        Condition::AttributeEquals { attribute, value } => {
            let value: AttributeValue =
                serde_dynamo::to_attribute_value(value).map_err(|e| TableError::Corrupt(e.to_string()))?;
            (
                Some("#c = :c".into()),
                Some(HashMap::from([("#c".to_owned(), (*attribute).to_owned())])),
                Some(HashMap::from([(":c".to_owned(), value)])),
            )
        }
    })
}

fn describe<E: ProvideErrorMetadata>(e: &E) -> String {
    format!("{}: {}", e.code().unwrap_or("unknown"), e.message().unwrap_or("no message"))
}

fn classify<E: ProvideErrorMetadata>(e: &E) -> TableError {
    match e.code() {
        Some("ConditionalCheckFailedException") => TableError::ConditionFailed,
        _ => TableError::Unavailable(describe(e)),
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        out.item.map(from_attributes).transpose()
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        let (expr, names, values) = expression(&condition)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attributes(item)?))
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }

    async fn set_attributes(&self, pk: &str, sk: &str, set: Item) -> Result<(), TableError> {
        if set.contains_key("pk") || set.contains_key("sk") {
            return Err(TableError::Corrupt("the key attributes cannot be set".into()));
        }
        if set.is_empty() {
            return Ok(());
        }
        // `SET #a0 = :a0, #a1 = :a1, ...`: names and values by placeholder, so any attribute name
        // is safe (reserved words included).
        let mut assignments = Vec::with_capacity(set.len());
        let mut names = HashMap::with_capacity(set.len());
        let mut values = HashMap::with_capacity(set.len());
        for (i, (name, value)) in set.into_iter().enumerate() {
            let value: AttributeValue =
                serde_dynamo::to_attribute_value(value).map_err(|e| TableError::Corrupt(e.to_string()))?;
            assignments.push(format!("#a{i} = :a{i}"));
            names.insert(format!("#a{i}"), name);
            values.insert(format!(":a{i}"), value);
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .update_expression(format!("SET {}", assignments.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<Option<Item>, TableError> {
        let (expr, names, values) = expression(&condition)?;
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        out.attributes.filter(|a| !a.is_empty()).map(from_attributes).transpose()
    }

    async fn query_desc(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
        before_sk: Option<&str>,
    ) -> Result<QueryPage, TableError> {
        self.query(pk, sk_prefix, limit, before_sk, false).await
    }

    async fn query_asc(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
        after_sk: Option<&str>,
    ) -> Result<QueryPage, TableError> {
        self.query(pk, sk_prefix, limit, after_sk, true).await
    }

    async fn batch_get(&self, keys: &[(String, String)]) -> Result<Vec<Item>, TableError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_KEYS) {
            let mut pending: Vec<Attributes> = chunk.iter().map(|(pk, sk)| Self::key(pk, sk)).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| TableError::Corrupt(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                    found.push(from_attributes(item)?);
                }
                pending = out.unprocessed_keys.unwrap_or_default().remove(&self.table).map(|k| k.keys).unwrap_or_default();
                attempt = throttled_pause(attempt, pending.len()).await?;
            }
        }
        Ok(found)
    }

    async fn batch_put(&self, items: Vec<Item>) -> Result<(), TableError> {
        let requests = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(to_attributes(item)?)).build().map_err(|e| TableError::Corrupt(e.to_string()))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, TableError>>()?;
        for chunk in requests.chunks(BATCH_WRITE_ITEMS) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(|e| classify(&e))?;
                pending = out.unprocessed_items.unwrap_or_default().remove(&self.table).unwrap_or_default();
                attempt = throttled_pause(attempt, pending.len()).await?;
            }
        }
        Ok(())
    }
}

/// `BatchGetItem` takes at most 100 keys, `BatchWriteItem` 25 items.
const BATCH_GET_KEYS: usize = 100;
const BATCH_WRITE_ITEMS: usize = 25;
/// Tries of a batch's unprocessed part (DynamoDB hands back what it throttled).
const BATCH_TRIES: u32 = 8;

/// Before sending a batch's unprocessed part again: exponential backoff as DynamoDB asks
/// (50 ms, 100 ms, ... 3.2 s), and unavailable after [`BATCH_TRIES`]. Returns the next attempt.
async fn throttled_pause(attempt: u32, unprocessed: usize) -> Result<u32, TableError> {
    if unprocessed == 0 {
        return Ok(attempt);
    }
    if attempt + 1 >= BATCH_TRIES {
        return Err(TableError::Unavailable(format!("{unprocessed} items still unprocessed after {BATCH_TRIES} tries (throttled)")));
    }
    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
    Ok(attempt + 1)
}

impl DynamoTable {
    /// One page of a partition's items under `sk_prefix`, in `sk` order (`forward`) or reverse,
    /// continuing past `start_sk`.
    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
        start_sk: Option<&str>,
        forward: bool,
    ) -> Result<QueryPage, TableError> {
        // DynamoDB refuses a Limit below 1.
        let limit = i32::try_from(limit).unwrap_or(i32::MAX).max(1);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
            .scan_index_forward(forward)
            .limit(limit)
            .set_exclusive_start_key(start_sk.map(|sk| Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let last_sk = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| k.get("sk"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_attributes)
            .collect::<Result<_, _>>()?;
        Ok(QueryPage { items, last_sk })
    }
}
