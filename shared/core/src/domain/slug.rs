//! Ids that become part of storage keys (`TENANT#{t}`, `CAMPAIGN#{c}`) and of KMS encryption
//! contexts: 1 to 64 of `A-Z a-z 0-9 _ -`, so never a key separator (`#`) or anything exotic.

/// Defines a key-safe id newtype: `slug_id!(Name, "what it is called in messages")`.
macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = 64;

            pub fn parse(value: &str) -> Result<Self, $crate::domain::InvalidValue> {
                let valid_chars = value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if value.is_empty() || value.len() > Self::MAX_LEN || !valid_chars {
                    return Err($crate::domain::InvalidValue::new(format!(
                        concat!($label, " must be 1 to {} characters of A-Z, a-z, 0-9, '_' or '-'"),
                        Self::MAX_LEN
                    )));
                }
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::domain::InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

pub(crate) use slug_id;
