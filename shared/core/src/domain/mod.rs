//! Values that can only hold what they claim: parse at the edge, trust inside.

/// Defines a `String` newtype whose only way in is its own `parse` (written next to it, with the
/// type's rules): the struct itself, serialized as the plain string and deserialized through
/// `parse`, plus `as_str`, `AsRef<str>`, `Display`, `TryFrom<String>` and `From<Name> for String`.
///
/// ```text
/// string_newtype! {
///     /// Doc comment of the type.
///     #[derive(Debug, Clone, PartialEq, Eq, Hash)]
///     pub struct Name;
/// }
/// impl Name {
///     pub fn parse(value: &str) -> Result<Self, InvalidValue> { ... }
/// }
/// ```
///
/// `TryFrom<String>` calls `Self::parse(&value)`; a type whose `parse` takes more than the string
/// says how instead, after the struct: `try_from(value) = Self::parse(&value, extra);`.
macro_rules! string_newtype {
    ($(#[$attr:meta])* $vis:vis struct $name:ident;) => {
        $crate::domain::string_newtype! {
            $(#[$attr])*
            $vis struct $name;
            try_from(value) = Self::parse(&value);
        }
    };
    (
        $(#[$attr:meta])* $vis:vis struct $name:ident;
        $(#[$try_from_attr:meta])* try_from($value:ident) = $try_from:expr;
    ) => {
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        $(#[$attr])*
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        $vis struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::domain::InvalidValue;
            $(#[$try_from_attr])*
            fn try_from($value: String) -> Result<Self, Self::Error> {
                $try_from
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

pub(crate) use string_newtype;

/// The JSON Schema of a string newtype, for the queue messages' schemas (docs/schemas/): what its
/// `parse` accepts, as far as a pattern can say it. Written beside `parse`, so the two change
/// together; `string_schema!(Name, {"type": "string", "pattern": "..."})`. Each is one `$defs`
/// entry named after the type.
macro_rules! string_schema {
    ($name:ident, $schema:tt) => {
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    };
}

pub(crate) use string_schema;

mod campaign_id;
mod email;
mod event_id;
mod field_name;
mod host;
mod ids;
mod import;
mod pending_trigger_id;
mod push;
mod salesforce_id;
mod sequence_id;
mod slug;
mod tenant_id;

pub use campaign_id::CampaignId;
pub use email::Email;
pub use event_id::EventId;
pub use field_name::{FieldName, ObjectName};
pub use host::{HostPolicy, InstanceUrl, LoginHost, SalesforceUrl};
pub use ids::{FlowId, OAuthState};
pub use import::{ImportId, SegmentName};
pub use pending_trigger_id::PendingTriggerId;
pub use push::{ApexPath, AttributeName, EndpointName, ProductState};
pub use salesforce_id::SalesforceId;
pub use sequence_id::SequenceId;
pub use tenant_id::TenantId;

/// Why a value was refused, worded for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl InvalidValue {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
