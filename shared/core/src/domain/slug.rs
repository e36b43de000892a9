//! Ids that become part of storage keys (`TENANT#{t}`, `CAMPAIGN#{c}`) and of KMS encryption
//! contexts: 1 to 64 of `A-Z a-z 0-9 _ -`, so never a key separator (`#`) or anything exotic.

/// Defines a key-safe id newtype: `slug_id!(Name, "what it is called in messages")`.
macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $crate::domain::string_newtype! {
            $(#[$doc])*
            #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{1,64}$"))]
            #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
            pub struct $name;
        }

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
        }

        $crate::domain::string_schema!($name, {
            "description": concat!($label, ": 1 to 64 of A-Z a-z 0-9 _ -"),
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{1,64}$"
        });
    };
}

pub(crate) use slug_id;
