//! The embedded table: items in a `BTreeMap` (so queries come out in `sk` order like DynamoDB's),
//! optionally written through to a JSON file so the local stack survives a restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;

use super::table::{Condition, Item, QueryPage, Table, TableError};

type Key = (String, String);

#[derive(Debug, Default)]
pub struct MemoryTable {
    items: Mutex<BTreeMap<Key, Item>>,
    file: Option<PathBuf>,
}

impl MemoryTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads the file if it exists and writes every change back to it.
    pub fn persistent(file: PathBuf) -> Result<Self, TableError> {
        let items = match std::fs::read(&file) {
            Ok(bytes) => {
                let list: Vec<Item> = serde_json::from_slice(&bytes)
                    .map_err(|e| TableError::Corrupt(format!("{}: {e}", file.display())))?;
                list.into_iter()
                    .map(|item| key_of(&item).map(|k| (k, item)))
                    .collect::<Result<_, _>>()?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(TableError::Unavailable(format!("{}: {e}", file.display()))),
        };
        Ok(Self { items: Mutex::new(items), file: Some(file) })
    }

    /// Every item as stored, for inspection (the tests scan it for leaked secrets).
    pub fn raw_items(&self) -> Vec<Item> {
        self.lock().values().cloned().collect()
    }

    /// Writes an item as is, bypassing the typed layer (tests use it to tamper with storage).
    pub fn put_raw(&self, item: Item) -> Result<(), TableError> {
        let key = key_of(&item)?;
        let mut items = self.lock();
        items.insert(key, item);
        self.flush(&items)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Item>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn flush(&self, items: &BTreeMap<Key, Item>) -> Result<(), TableError> {
        let Some(file) = &self.file else { return Ok(()) };
        let list: Vec<&Item> = items.values().collect();
        let bytes = serde_json::to_vec(&list).map_err(|e| TableError::Corrupt(e.to_string()))?;
        // Write-then-rename so a crash never leaves half a file.
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, file))
            .map_err(|e| TableError::Unavailable(format!("{}: {e}", file.display())))
    }
}

fn key_of(item: &Item) -> Result<Key, TableError> {
    match (item.get("pk"), item.get("sk")) {
        (Some(Value::String(pk)), Some(Value::String(sk))) => Ok((pk.clone(), sk.clone())),
        _ => Err(TableError::Corrupt("item without string pk/sk".into())),
    }
}

fn holds(existing: Option<&Item>, condition: &Condition) -> bool {
    match condition {
        Condition::None => true,
        Condition::NotExists => existing.is_none(),
        Condition::Exists => existing.is_some(),
        Condition::AttributeEquals { attribute, value } => {
            existing.and_then(|item| item.get(*attribute)) == Some(value)
        }
    }
}

#[async_trait]
impl Table for MemoryTable {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        Ok(self.lock().get(&(pk.to_owned(), sk.to_owned())).cloned())
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        let key = key_of(&item)?;
        let mut items = self.lock();
        if !holds(items.get(&key), &condition) {
            return Err(TableError::ConditionFailed);
        }
        items.insert(key, item);
        self.flush(&items)
    }

    async fn set_attributes(&self, pk: &str, sk: &str, set: Item) -> Result<(), TableError> {
        if set.contains_key("pk") || set.contains_key("sk") {
            return Err(TableError::Corrupt("the key attributes cannot be set".into()));
        }
        if set.is_empty() {
            return Ok(());
        }
        let mut items = self.lock();
        let item = items.entry((pk.to_owned(), sk.to_owned())).or_insert_with(|| {
            Item::from_iter([("pk".to_owned(), Value::String(pk.to_owned())), ("sk".to_owned(), Value::String(sk.to_owned()))])
        });
        item.extend(set);
        self.flush(&items)
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<Option<Item>, TableError> {
        let key = (pk.to_owned(), sk.to_owned());
        let mut items = self.lock();
        if !holds(items.get(&key), &condition) {
            return Err(TableError::ConditionFailed);
        }
        let old = items.remove(&key);
        self.flush(&items)?;
        Ok(old)
    }

    async fn query_desc(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
        before_sk: Option<&str>,
    ) -> Result<QueryPage, TableError> {
        let items = self.lock();
        let matching = prefixed(&items, pk, sk_prefix)
            .rev()
            .filter(|(s, _)| before_sk.is_none_or(|before| *s < before));
        Ok(page(matching, limit))
    }

    async fn query_asc(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
        after_sk: Option<&str>,
    ) -> Result<QueryPage, TableError> {
        let items = self.lock();
        let matching = prefixed(&items, pk, sk_prefix).filter(|(s, _)| after_sk.is_none_or(|after| *s > after));
        Ok(page(matching, limit))
    }
}

/// A partition's items whose `sk` starts with the prefix, in `sk` order: they are contiguous,
/// from the prefix itself up to the prefix followed by the highest char (keys are ASCII).
fn prefixed<'a>(
    items: &'a BTreeMap<Key, Item>,
    pk: &'a str,
    sk_prefix: &'a str,
) -> impl DoubleEndedIterator<Item = (&'a str, &'a Item)> + 'a {
    items
        .range((pk.to_owned(), sk_prefix.to_owned())..=(pk.to_owned(), format!("{sk_prefix}{}", char::MAX)))
        .filter(move |((_, s), _)| s.starts_with(sk_prefix))
        .map(|((_, s), item)| (s.as_str(), item))
}

/// The first `limit` items, and the `sk` to continue after when there are more.
fn page<'a>(matching: impl Iterator<Item = (&'a str, &'a Item)>, limit: usize) -> QueryPage {
    let mut taken: Vec<(&str, &Item)> = matching.take(limit.saturating_add(1)).collect();
    let more = taken.len() > limit;
    taken.truncate(limit);
    let last_sk = if more { taken.last().map(|(s, _)| (*s).to_owned()) } else { None };
    QueryPage { items: taken.into_iter().map(|(_, item)| item.clone()).collect(), last_sk }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn item(pk: &str, sk: &str) -> Item {
        let Value::Object(item) = json!({"pk": pk, "sk": sk}) else { unreachable!() };
        item
    }

    fn sks(page: &QueryPage) -> Vec<&str> {
        page.items.iter().filter_map(|i| i.get("sk").and_then(Value::as_str)).collect()
    }

    #[tokio::test]
    async fn ascending_query_pages_through_one_prefix_of_one_partition() -> Result<(), TableError> {
        let table = MemoryTable::new();
        for (pk, sk) in [
            ("TENANT#a", "CAMPAIGN#c3"),
            ("TENANT#a", "CAMPAIGN#c1"),
            ("TENANT#a", "CAMPAIGN#c2"),
            ("TENANT#a", "AUDIT#1"),
            ("TENANT#a", "SETTINGS"),
            ("TENANT#a", "CAMPAIGN"),
            ("TENANT#ab", "CAMPAIGN#c0"),
            ("TENANT#", "CAMPAIGN#c0"),
        ] {
            table.put(item(pk, sk), Condition::None).await?;
        }
        let first = table.query_asc("TENANT#a", "CAMPAIGN#", 2, None).await?;
        assert_eq!(sks(&first), ["CAMPAIGN#c1", "CAMPAIGN#c2"]);
        assert_eq!(first.last_sk.as_deref(), Some("CAMPAIGN#c2"));
        let rest = table.query_asc("TENANT#a", "CAMPAIGN#", 2, first.last_sk.as_deref()).await?;
        assert_eq!(sks(&rest), ["CAMPAIGN#c3"]);
        assert_eq!(rest.last_sk, None);
        // Exactly `limit` left: no cursor, because there is nothing more.
        let exact = table.query_asc("TENANT#a", "CAMPAIGN#", 3, None).await?;
        assert_eq!((exact.items.len(), exact.last_sk), (3, None));
        // A cursor that is not a stored key still continues after it.
        let after = table.query_asc("TENANT#a", "CAMPAIGN#", 10, Some("CAMPAIGN#c15")).await?;
        assert_eq!(sks(&after), ["CAMPAIGN#c2", "CAMPAIGN#c3"]);
        assert!(table.query_asc("TENANT#zzz", "CAMPAIGN#", 10, None).await?.items.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn set_attributes_creates_or_merges_and_never_touches_the_key() -> Result<(), TableError> {
        let table = MemoryTable::new();
        let set = |v: Value| match v {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        table.set_attributes("TENANT#a", "HEALTH", set(json!({"x": 1}))).await?;
        table.set_attributes("TENANT#a", "HEALTH", set(json!({"y": {"z": "w"}}))).await?;
        table.set_attributes("TENANT#a", "HEALTH", set(json!({"x": 2}))).await?;
        table.set_attributes("TENANT#a", "HEALTH", Item::new()).await?;
        let stored = table.get("TENANT#a", "HEALTH").await?;
        assert_eq!(stored.map(Value::Object), Some(json!({"pk": "TENANT#a", "sk": "HEALTH", "x": 2, "y": {"z": "w"}})));
        assert!(matches!(
            table.set_attributes("TENANT#a", "HEALTH", set(json!({"pk": "TENANT#b"}))).await,
            Err(TableError::Corrupt(_))
        ));
        // Nothing is created for an empty set.
        table.set_attributes("TENANT#b", "HEALTH", Item::new()).await?;
        assert!(table.get("TENANT#b", "HEALTH").await?.is_none());
        Ok(())
    }
}
