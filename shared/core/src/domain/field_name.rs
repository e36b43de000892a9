use super::InvalidValue;

string_newtype! {
    /// The API name of a field on a Salesforce object (`HasOptedOutOfEmail`, `Total_Clicks__c`): what
    /// SOQL and the REST API take, not the label shown in the UI. Salesforce's rules: a letter first,
    /// then letters, digits and underscores, no two underscores in a row and no trailing underscore,
    /// at most 40 characters, plus `__c` for custom fields; a custom field of a managed package
    /// starts with its namespace prefix and two underscores (`ns__Field__c`). The `__c` suffix is
    /// stored in lower case (Salesforce matches API names case-insensitively).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct FieldName;
}

string_newtype! {
    /// The API name of a Salesforce object (`Contact`, `Campaign`, `Engagement_Event__c`,
    /// `ns__Engagement_Event__c`): the same rules as [`FieldName`].
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct ObjectName;
}

impl ObjectName {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        api_name(value, "object").map(Self)
    }

    /// A custom object (`…__c`).
    pub fn is_custom(&self) -> bool {
        self.0.ends_with(CUSTOM_SUFFIX)
    }
}

// What `api_name` accepts, spelt as a pattern: surrounding whitespace (trimmed), then a standard
// name, or a custom one with an optional namespace and `__c` in any case; the lookaheads hold the
// lengths (40 before `__c`, 15 for the namespace). Shared by fields and objects.
const API_NAME_PATTERN: &str = r"^\s*(?:(?=[A-Za-z0-9_]{1,40}\s*$)[A-Za-z](?:_?[A-Za-z0-9])*|(?:(?=[A-Za-z0-9_]{1,15}__)[A-Za-z](?:_?[A-Za-z0-9])*__)?(?=[A-Za-z0-9_]{1,40}__[cC]\s*$)[A-Za-z](?:_?[A-Za-z0-9])*__[cC])\s*$";

super::string_schema!(FieldName, {
    "description": "A field's API name (Setup → Object Manager), e.g. Total_Clicks__c",
    "type": "string",
    "pattern": API_NAME_PATTERN
});

super::string_schema!(ObjectName, {
    "description": "An object's API name (Setup → Object Manager), e.g. Engagement_Event__c",
    "type": "string",
    "pattern": API_NAME_PATTERN
});

/// The longest namespace prefix Salesforce allows.
const MAX_NAMESPACE_LEN: usize = 15;

const CUSTOM_SUFFIX: &str = "__c";

impl FieldName {
    /// The longest name Salesforce allows, not counting `__c`.
    pub(crate) const MAX_LEN: usize = 40;

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        api_name(value, "field").map(Self)
    }

    /// A custom field (`…__c`), as opposed to a standard one like `HasOptedOutOfEmail`.
    pub fn is_custom(&self) -> bool {
        self.0.ends_with(CUSTOM_SUFFIX)
    }

    /// Whether two names denote the same field (Salesforce compares API names case-insensitively).
    pub fn same_field(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

/// Parses a field or object API name (`what`: "field" or "object").
fn api_name(value: &str, what: &str) -> Result<String, InvalidValue> {
    let trimmed = value.trim();
    let (full_base, custom) = split_custom_suffix(trimmed);
    if trimmed.is_empty() {
        return Err(InvalidValue::new(format!(
            "the {what} API name is empty; use the API name from Setup → Object Manager, e.g. {}",
            suggestion("", what)
        )));
    }
    // A managed package's custom field or object: `ns__Name__c`.
    let (namespace, base) = match full_base.split_once("__") {
        Some((ns, rest)) if custom => (Some(ns), rest),
        _ => (None, full_base),
    };
    let generic = || {
        InvalidValue::new(format!(
            "{} is not a Salesforce {what} API name; use the API name from Setup → Object Manager, e.g. {}",
            shown(value),
            suggestion(full_base, what)
        ))
    };
    let well_formed =
        |part: &str| part.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !part.ends_with('_');
    if !well_formed(base) || namespace.is_some_and(|ns| !well_formed(ns)) {
        return Err(generic());
    }
    if base.contains("__") || namespace.is_some_and(|ns| ns.contains("__")) {
        return Err(InvalidValue::new(format!(
            "{} is not a {what} API name sfbridge accepts: two underscores in a row are only allowed after a \
             managed package's namespace prefix (ns__Name__c) and in the __c suffix",
            shown(value)
        )));
    }
    if let Some(ns) = namespace.filter(|ns| ns.len() > MAX_NAMESPACE_LEN) {
        return Err(InvalidValue::new(format!(
            "{} has a namespace prefix of {} characters; Salesforce namespace prefixes have at most {MAX_NAMESPACE_LEN}",
            shown(value),
            ns.len()
        )));
    }
    if base.len() > FieldName::MAX_LEN {
        return Err(InvalidValue::new(format!(
            "{} is {} characters long{}; Salesforce {what} API names have at most {}",
            shown(value),
            base.len(),
            if custom { " before __c" } else { "" },
            FieldName::MAX_LEN
        )));
    }
    let name = if custom { format!("{base}{CUSTOM_SUFFIX}") } else { base.to_owned() };
    Ok(match namespace {
        Some(ns) => format!("{ns}__{name}"),
        None => name,
    })
}

/// (`name` without a trailing `__c` in any case, whether it had one).
fn split_custom_suffix(name: &str) -> (&str, bool) {
    let n = name.len();
    if n > CUSTOM_SUFFIX.len()
        && name.is_char_boundary(n - CUSTOM_SUFFIX.len())
        && name[n - CUSTOM_SUFFIX.len()..].eq_ignore_ascii_case(CUSTOM_SUFFIX)
    {
        (&name[..n - CUSTOM_SUFFIX.len()], true)
    } else {
        (name, false)
    }
}

/// The value quoted for an error message, cut short so an error never repeats a whole body.
fn shown(value: &str) -> String {
    const MAX_SHOWN: usize = 60;
    if value.chars().count() <= MAX_SHOWN {
        format!("{value:?}")
    } else {
        format!("{:?}…", value.chars().take(MAX_SHOWN).collect::<String>())
    }
}

/// The API name Salesforce would generate from a label like `value` (Setup does the same:
/// other characters become `_`, runs collapse, a leading digit gets an `X`), as a custom field.
fn suggestion(value: &str, what: &str) -> String {
    let mut name = String::new();
    for c in value.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('_') {
            name.push('_');
        }
    }
    let mut name = name.trim_end_matches('_').to_owned();
    if name.is_empty() {
        name = if what == "object" { "Engagement_Event" } else { "Total_Clicks" }.to_owned();
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'X');
    }
    name.truncate(FieldName::MAX_LEN);
    format!("{}{CUSTOM_SUFFIX}", name.trim_end_matches('_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(v: &str) -> Result<String, InvalidValue> {
        FieldName::parse(v).map(|f| f.to_string())
    }

    #[test]
    fn accepts_standard_and_custom_api_names() {
        for ok in [
            "HasOptedOutOfEmail",
            "Title",
            "A",
            "PenguinMails_Last_Email_Opened__c",
            "PenguinMails_Total_Clicks__c",
            "Score2__c",
            "a1_b2_c3",
            &"x".repeat(40),
            &format!("{}__c", "x".repeat(40)),
            "pi__score__c",
            "et4ae5__Has_Opted_Out__c",
            &format!("{}__{}__c", "n".repeat(15), "x".repeat(40)),
        ] {
            assert_eq!(parsed(ok), Ok(ok.to_owned()), "{ok:?}");
        }
        assert_eq!(parsed("pi__Score__C"), Ok("pi__Score__c".to_owned()));
    }

    #[test]
    fn object_names_follow_the_same_rules() {
        for ok in ["Contact", "Campaign", "Engagement_Event__c", "ns__Engagement_Event__c"] {
            assert_eq!(ObjectName::parse(ok).map(|o| o.to_string()), Ok(ok.to_owned()));
        }
        assert!(ObjectName::parse("Engagement_Event__c").is_ok_and(|o| o.is_custom()));
        let message = ObjectName::parse("Engagement Event").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("object API name") && message.ends_with("e.g. Engagement_Event__c"), "{message}");
        for bad in ["", "Contact;", "Contact.Name", "a__b__c__c", "Custom__x"] {
            assert!(ObjectName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn normalizes_the_suffix_and_whitespace() {
        assert_eq!(parsed(" Total_Clicks__C "), Ok("Total_Clicks__c".to_owned()));
        let name = FieldName::parse("Total_Clicks__c").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(name.is_custom());
        assert!(!FieldName::parse("Title").is_ok_and(|f| f.is_custom()));
        let other = FieldName::parse("total_clicks__c").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(name.same_field(&other));
    }

    #[test]
    fn rejects_labels_and_malformed_names() {
        for bad in [
            "",
            "   ",
            "__c",
            "Total Clicks",
            "Total-Clicks__c",
            "1st_Touch__c",
            "_Total__c",
            "Total___c",
            "Total_Clicks_",
            "a__b__c__c",
            "_ns__Score__c",
            "ns___Score__c",
            "ns__Score",
            &format!("{}__Score__c", "n".repeat(16)),
            "Größe__c",
            "Total_Clicks__x",
            "Name__r",
            "Account.Name",
            "Total_Clicks__c;DELETE",
            &"x".repeat(41),
            &format!("{}__c", "x".repeat(41)),
        ] {
            assert!(FieldName::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn messages_say_what_to_use_instead() {
        let message = |v: &str| FieldName::parse(v).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            message("Total Clicks"),
            "\"Total Clicks\" is not a Salesforce field API name; use the API name from Setup → Object Manager, \
             e.g. Total_Clicks__c"
        );
        assert!(message("1st touch").ends_with("e.g. X1st_touch__c"), "{}", message("1st touch"));
        assert!(message(&"y".repeat(45)).contains("at most 40"));
        assert!(message("a__b__c__c").contains("namespace prefix (ns__Name__c)"));
        assert!(message(&format!("{}__Score__c", "n".repeat(16))).contains("at most 15"));
        // A long value is not repeated in full.
        assert!(message(&format!("{} x", "y".repeat(500))).len() < 200);
    }
}
