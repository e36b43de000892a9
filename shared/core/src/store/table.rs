//! The narrow adapter interface under `Store`: single-table item operations with the conditions
//! every racing write needs. DynamoDB and the embedded table implement exactly these semantics,
//! and one contract test suite runs against both.

use async_trait::async_trait;
use serde_json::{Map, Value};

pub type Item = Map<String, Value>;

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    None,
    /// The item must not exist (first write wins).
    NotExists,
    /// The item must exist.
    Exists,
    /// The item must exist and `attribute` must equal `value` (a version or a status).
    AttributeEquals { attribute: &'static str, value: Value },
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("condition failed")]
    ConditionFailed,
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, Default)]
pub struct QueryPage {
    pub items: Vec<Item>,
    /// The `sk` to continue after, when there may be more.
    pub last_sk: Option<String>,
}

#[async_trait]
pub trait Table: Send + Sync + std::fmt::Debug {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError>;
    /// `item` must contain `pk` and `sk` strings.
    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError>;
    /// Sets the top-level attributes in `set` on the item `pk`/`sk`, creating it (with just those)
    /// when it is missing, and leaves its other attributes as they are. Unconditional: for records
    /// that several writers merge into, each setting only what it saw (DynamoDB `UpdateItem` with
    /// `SET`, so no read-modify-write loses another writer's fields). `set` must not hold `pk` or
    /// `sk`; an empty `set` writes nothing.
    async fn set_attributes(&self, pk: &str, sk: &str, set: Item) -> Result<(), TableError>;
    /// Deletes and returns the old item; `Ok(None)` when there was none and the condition allowed it.
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<Option<Item>, TableError>;
    /// Items of one partition whose `sk` starts with `sk_prefix`, newest (highest `sk`) first,
    /// continuing below `before_sk` when given.
    async fn query_desc(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
        before_sk: Option<&str>,
    ) -> Result<QueryPage, TableError>;
    /// The items at `keys` (`(pk, sk)`) that exist, in no particular order. Adapters with a batch
    /// read (DynamoDB `BatchGetItem`, 100 keys a call) override this one-by-one default.
    async fn batch_get(&self, keys: &[(String, String)]) -> Result<Vec<Item>, TableError> {
        let mut found = Vec::with_capacity(keys.len());
        for (pk, sk) in keys {
            found.extend(self.get(pk, sk).await?);
        }
        Ok(found)
    }
    /// Writes every item, unconditionally (no two with the same key). Adapters with a batch write
    /// (DynamoDB `BatchWriteItem`, 25 items a call) override this one-by-one default.
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), TableError> {
        for item in items {
            self.put(item, Condition::None).await?;
        }
        Ok(())
    }
    /// Items of one partition whose `sk` starts with `sk_prefix`, lowest `sk` first, continuing
    /// above `after_sk` when given. `limit` is at least 1.
    async fn query_asc(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
        after_sk: Option<&str>,
    ) -> Result<QueryPage, TableError>;
}
