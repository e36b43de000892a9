//! A subset of SOQL (salesforce.md §6), enough to match people by email and more:
//!
//! ```text
//! SELECT field, ... | COUNT() FROM Object
//!   [WHERE condition]            -- =, !=, <>, <, <=, >, >=, LIKE, IN (...), NOT IN (...),
//!                                -- combined with AND, OR, NOT and parentheses
//!   [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...]
//!   [LIMIT n] [OFFSET n]
//! ```
//!
//! Literals: `'strings'` (with SOQL's backslash escapes), numbers, `true`/`false`, `null`, and
//! unquoted dates (`2026-01-05`) and datetimes. Text comparisons ignore case, as Salesforce's do
//! (Email is not a case-sensitive field). Relationship paths (`Owner.Name`), other aggregates
//! (`COUNT(Id)`, `SUM`), subqueries, date literals such as `TODAY` and `WITH`/`GROUP BY` are not
//! supported and fail as `MALFORMED_QUERY`.
//!
//! Salesforce's rules the parser enforces (SOQL and SOSL Reference):
//!
//! - Datetime literals take the forms of "Date Formats and Date Literals in WHERE":
//!   `YYYY-MM-DDThh:mm:ss+hh:mm`, `…-hh:mm` or `…Z`, with optional fractional seconds (the XML
//!   Schema `dateTime` the page refers to). The REST API's output form `…+0000` (no colon) is not
//!   one of them and fails as `MALFORMED_QUERY`, so a watermark read from a record must be
//!   rewritten before it goes back into a query.
//! - AND and OR do not mix without parentheses ("Condition Expression Syntax (WHERE Clause)":
//!   "Client applications must specify parentheses when nesting operators. However, multiple
//!   operators of the same type do not need to be nested."): `a AND b OR c` is `MALFORMED_QUERY`,
//!   `(a AND b) OR c` is fine.
//! - `COUNT()` ("COUNT() and COUNT(fieldName)"): it "must be the only element in the SELECT list",
//!   "You can use COUNT() with a LIMIT clause", "You can't use COUNT() with an ORDER BY clause".
//! - A field selected twice is `MALFORMED_QUERY` ("duplicate field selected: Id").
//!
//! Errors carry Salesforce's row/column message (salesforce-samples/error-malformed-query.json,
//! error-invalid-field-in-query.json): the query line, a caret under the offending token,
//! `ERROR at Row:R:Column:C` and the reason.
//!
//! [`plan`] parses a query and resolves it against the schema; the [`Plan`] then filters, sorts
//! and projects records (field maps keyed by canonical field names).

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::Value;

use crate::datetime;
use crate::ids;
use crate::schema::{FieldKind, ObjectDef, Schema};

/// A query error: `errorCode` and the row/column `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoqlError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// Salesforce's row/column message for `detail` at byte offset `at` of `text`.
fn error_at(text: &str, at: usize, code: &'static str, detail: &str) -> SoqlError {
    let at = (0..=at.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    let before = text.get(..at).unwrap_or_default();
    let row = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text.get(line_start..at).unwrap_or_default().chars().count() + 1;
    let line = text.get(line_start..).unwrap_or_default().lines().next().unwrap_or_default();
    let caret = format!("{}^", " ".repeat(column - 1));
    SoqlError { code, message: format!("\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{detail}") }
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Number(f64),
    /// An unquoted date or datetime literal, as written.
    Date(String),
    LParen,
    RParen,
    Comma,
    Op(&'static str),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, SoqlError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            let mut word = String::new();
            while let Some(&(_, c)) = chars.peek().filter(|(_, c)| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            {
                word.push(c);
                chars.next();
            }
            Tok::Word(word)
        } else if c == '\'' {
            chars.next();
            Tok::Str(lex_string(text, start, &mut chars)?)
        } else if c.is_ascii_digit()
            || (c == '-' && text.get(start + 1..).is_some_and(|r| r.starts_with(|d: char| d.is_ascii_digit())))
        {
            let mut literal = String::new();
            while let Some(&(_, c)) =
                chars.peek().filter(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | ':'))
            {
                literal.push(c);
                chars.next();
            }
            lex_number_or_date(text, start, literal)?
        } else {
            chars.next();
            let next = chars.peek().map(|&(_, c)| c);
            match (c, next) {
                ('(', _) => Tok::LParen,
                (')', _) => Tok::RParen,
                (',', _) => Tok::Comma,
                ('=', _) => Tok::Op("="),
                ('!', Some('=')) => {
                    chars.next();
                    Tok::Op("!=")
                }
                ('<', Some('>')) => {
                    chars.next();
                    Tok::Op("!=")
                }
                ('<', Some('=')) => {
                    chars.next();
                    Tok::Op("<=")
                }
                ('>', Some('=')) => {
                    chars.next();
                    Tok::Op(">=")
                }
                ('<', _) => Tok::Op("<"),
                ('>', _) => Tok::Op(">"),
                _ => return Err(error_at(text, start, "MALFORMED_QUERY", &format!("unexpected token: {c}"))),
            }
        };
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        tokens.push(Token { tok, start, end });
    }
    tokens.push(Token { tok: Tok::End, start: text.len(), end: text.len() });
    Ok(tokens)
}

/// The rest of a string literal after its opening quote. `\%` and `\_` stay escaped (they only
/// mean something to LIKE).
fn lex_string(
    text: &str,
    start: usize,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<String, SoqlError> {
    let mut value = String::new();
    loop {
        match chars.next() {
            None => {
                return Err(error_at(
                    text,
                    start,
                    "MALFORMED_QUERY",
                    "unexpected token: <EOF> (unterminated string literal)",
                ))
            }
            Some((_, '\'')) => return Ok(value),
            Some((at, '\\')) => {
                let escaped = chars.next().map(|(_, c)| c);
                match escaped {
                    Some('n') => value.push('\n'),
                    Some('r') => value.push('\r'),
                    Some('t') => value.push('\t'),
                    Some('b') => value.push('\u{8}'),
                    Some('f') => value.push('\u{c}'),
                    Some(c @ ('\'' | '"' | '\\')) => value.push(c),
                    Some(c @ ('%' | '_')) => {
                        value.push('\\');
                        value.push(c);
                    }
                    Some('u') => {
                        let hex: String = (0..4).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                            Some(c) if hex.len() == 4 => value.push(c),
                            _ => return Err(illegal_escape(text, at, &format!("\\u{hex}"))),
                        }
                    }
                    other => {
                        let sequence = format!("\\{}", other.map(String::from).unwrap_or_default());
                        return Err(illegal_escape(text, at, &sequence));
                    }
                }
            }
            Some((_, c)) => value.push(c),
        }
    }
}

fn illegal_escape(text: &str, at: usize, sequence: &str) -> SoqlError {
    error_at(text, at, "MALFORMED_QUERY", &format!("Illegal character sequence '{sequence}' in string literal."))
}

fn lex_number_or_date(text: &str, start: usize, literal: String) -> Result<Tok, SoqlError> {
    if literal.len() >= 10 && literal.as_bytes().get(4) == Some(&b'-') {
        let valid = if literal.len() == 10 {
            datetime::parse_date(&literal).is_some()
        } else {
            has_soql_zone(&literal) && datetime::parse_datetime_millis(&literal).is_some()
        };
        if valid {
            return Ok(Tok::Date(literal));
        }
    } else if let Ok(number) = literal.parse::<f64>() {
        if number.is_finite() {
            return Ok(Tok::Number(number));
        }
    }
    Err(error_at(text, start, "MALFORMED_QUERY", &format!("unexpected token: {literal}")))
}

/// Whether a datetime literal ends as SOQL requires: `Z`, or an offset `+hh:mm` / `-hh:mm` with
/// its colon ("Date Formats and Date Literals in WHERE").
fn has_soql_zone(literal: &str) -> bool {
    if literal.ends_with('Z') {
        return true;
    }
    let bytes = literal.as_bytes();
    let Some(zone) = bytes.len().checked_sub(6).and_then(|at| bytes.get(at..)) else { return false };
    matches!(zone, [b'+' | b'-', h1, h2, b':', m1, m2] if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()))
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

/// A name as written, and where.
#[derive(Debug, Clone)]
struct Name {
    text: String,
    at: usize,
}

#[derive(Debug, Clone)]
enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    Date(String),
}

#[derive(Debug, Clone)]
enum Condition {
    /// n-ary, so a long chain of ANDs is a flat list, not a deep tree.
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare {
        field: Name,
        op: &'static str,
        value: (Literal, usize),
    },
    In {
        field: Name,
        negated: bool,
        values: Vec<(Literal, usize)>,
    },
}

#[derive(Debug, Clone)]
struct OrderItem {
    field: Name,
    descending: bool,
    nulls_first: Option<bool>,
}

#[derive(Debug, Clone)]
struct Query {
    /// The selected fields; empty for `SELECT COUNT()`.
    fields: Vec<Name>,
    count: bool,
    object: Name,
    filter: Option<Condition>,
    order_by: Vec<OrderItem>,
    limit: Option<usize>,
    offset: Option<usize>,
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    next: usize,
    /// Nesting of parentheses and NOTs, bounded by [`MAX_DEPTH`] so no query exhausts the stack.
    depth: usize,
}

/// Deeper nesting than any real query uses.
const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // `lex` always ends with `End`, and `advance` never moves past it.
        self.tokens.get(self.next).or_else(|| self.tokens.last()).unwrap_or(&END)
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.tok != Tok::End {
            self.next += 1;
        }
        token
    }

    fn unexpected(&self, token: &Token) -> SoqlError {
        let shown = match token.tok {
            Tok::End => "<EOF>",
            _ => self.text.get(token.start..token.end).unwrap_or_default(),
        };
        error_at(self.text, token.start, "MALFORMED_QUERY", &format!("unexpected token: {shown}"))
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn keyword(&mut self, keyword: &str) -> Result<(), SoqlError> {
        if self.is_keyword(keyword) {
            self.advance();
            Ok(())
        } else {
            Err(self.unexpected(self.peek()))
        }
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.is_keyword(keyword);
        if found {
            self.advance();
        }
        found
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), SoqlError> {
        if &self.peek().tok == tok {
            self.advance();
            Ok(())
        } else {
            Err(self.unexpected(self.peek()))
        }
    }

    /// A field or object name (not a reserved word).
    fn name(&mut self) -> Result<Name, SoqlError> {
        let token = self.peek().clone();
        match &token.tok {
            Tok::Word(w) if !is_reserved(w) => {
                self.advance();
                Ok(Name { text: w.clone(), at: token.start })
            }
            _ => Err(self.unexpected(&token)),
        }
    }

    fn query(&mut self) -> Result<Query, SoqlError> {
        self.keyword("SELECT")?;
        let count = self.count_function()?;
        let mut fields = Vec::new();
        if !count {
            fields.push(self.name()?);
            while self.peek().tok == Tok::Comma {
                self.advance();
                fields.push(self.name()?);
            }
        }
        if count && self.peek().tok == Tok::Comma {
            let at = self.peek().start;
            return Err(error_at(self.text, at, "MALFORMED_QUERY", "COUNT() must be the only element in the SELECT list"));
        }
        self.keyword("FROM")?;
        let object = self.name()?;
        let filter = if self.eat_keyword("WHERE") { Some(self.or_condition()?) } else { None };
        let mut order_by = Vec::new();
        if count && self.is_keyword("ORDER") {
            let at = self.peek().start;
            return Err(error_at(self.text, at, "MALFORMED_QUERY", "You can't use COUNT() with an ORDER BY clause"));
        }
        if self.eat_keyword("ORDER") {
            self.keyword("BY")?;
            loop {
                order_by.push(self.order_item()?);
                if self.peek().tok != Tok::Comma {
                    break;
                }
                self.advance();
            }
        }
        let limit = if self.eat_keyword("LIMIT") { Some(self.count()?) } else { None };
        let offset = if self.eat_keyword("OFFSET") { Some(self.count()?) } else { None };
        if self.peek().tok != Tok::End {
            return Err(self.unexpected(self.peek()));
        }
        Ok(Query { fields, count, object, filter, order_by, limit, offset })
    }

    /// `COUNT()` as the select list: consumed, true. Another aggregate (`COUNT(Id)`) is refused.
    fn count_function(&mut self) -> Result<bool, SoqlError> {
        let opens = self.tokens.get(self.next + 1).is_some_and(|t| t.tok == Tok::LParen);
        if !self.is_keyword("COUNT") || !opens {
            return Ok(false);
        }
        let at = self.peek().start;
        self.advance();
        self.advance();
        if self.peek().tok != Tok::RParen {
            let detail = "aggregate functions other than COUNT() are not supported by salesforce-sim";
            return Err(error_at(self.text, at, "MALFORMED_QUERY", detail));
        }
        self.advance();
        Ok(true)
    }

    fn order_item(&mut self) -> Result<OrderItem, SoqlError> {
        let field = self.name()?;
        let descending = if self.eat_keyword("DESC") {
            true
        } else {
            self.eat_keyword("ASC");
            false
        };
        let nulls_first = if self.eat_keyword("NULLS") {
            if self.eat_keyword("FIRST") {
                Some(true)
            } else {
                self.keyword("LAST")?;
                Some(false)
            }
        } else {
            None
        };
        Ok(OrderItem { field, descending, nulls_first })
    }

    /// A non-negative integer (LIMIT, OFFSET).
    fn count(&mut self) -> Result<usize, SoqlError> {
        let token = self.advance();
        match token.tok {
            Tok::Number(n) if n >= 0.0 && n.fract() == 0.0 && n <= 1e15 => Ok(n as usize),
            _ => Err(self.unexpected(&token)),
        }
    }

    /// ORs of ANDs; an AND and an OR at the same level (no parentheses between them) are
    /// refused at whichever of the two comes second, as Salesforce requires parentheses there.
    fn or_condition(&mut self) -> Result<Condition, SoqlError> {
        let (first, mut bare_and) = self.and_condition()?;
        let mut terms = vec![first];
        let mut first_or = None;
        while self.is_keyword("OR") {
            first_or.get_or_insert(self.peek().start);
            self.advance();
            let (term, and_at) = self.and_condition()?;
            bare_and = bare_and.or(and_at);
            terms.push(term);
        }
        if let (Some(or_at), Some(and_at)) = (first_or, bare_and) {
            let (at, word) = if or_at > and_at { (or_at, "OR") } else { (and_at, "AND") };
            return Err(error_at(self.text, at, "MALFORMED_QUERY", &format!("unexpected token: {word}")));
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Condition::Or(terms) })
    }

    /// ANDs of unary conditions, and where the first AND is (if any).
    fn and_condition(&mut self) -> Result<(Condition, Option<usize>), SoqlError> {
        let mut terms = vec![self.unary_condition()?];
        let mut first_and = None;
        while self.is_keyword("AND") {
            first_and.get_or_insert(self.peek().start);
            self.advance();
            terms.push(self.unary_condition()?);
        }
        Ok((if terms.len() == 1 { terms.remove(0) } else { Condition::And(terms) }, first_and))
    }

    fn unary_condition(&mut self) -> Result<Condition, SoqlError> {
        let nests = self.is_keyword("NOT") || self.peek().tok == Tok::LParen;
        if nests {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                let at = self.peek().start;
                return Err(error_at(self.text, at, "MALFORMED_QUERY", "the condition is nested too deeply"));
            }
        }
        let result = self.nested_condition();
        if nests {
            self.depth -= 1;
        }
        result
    }

    fn nested_condition(&mut self) -> Result<Condition, SoqlError> {
        if self.eat_keyword("NOT") {
            return Ok(Condition::Not(Box::new(self.unary_condition()?)));
        }
        if self.peek().tok == Tok::LParen {
            self.advance();
            let inner = self.or_condition()?;
            self.expect(&Tok::RParen)?;
            return Ok(inner);
        }
        let field = self.name()?;
        if self.eat_keyword("IN") {
            return Ok(Condition::In { field, negated: false, values: self.literal_list()? });
        }
        if self.eat_keyword("NOT") {
            self.keyword("IN")?;
            return Ok(Condition::In { field, negated: true, values: self.literal_list()? });
        }
        let op = if self.eat_keyword("LIKE") {
            "LIKE"
        } else {
            let token = self.advance();
            match token.tok {
                Tok::Op(op) => op,
                _ => return Err(self.unexpected(&token)),
            }
        };
        Ok(Condition::Compare { field, op, value: self.literal()? })
    }

    fn literal_list(&mut self) -> Result<Vec<(Literal, usize)>, SoqlError> {
        self.expect(&Tok::LParen)?;
        let mut values = vec![self.literal()?];
        while self.peek().tok == Tok::Comma {
            self.advance();
            values.push(self.literal()?);
        }
        self.expect(&Tok::RParen)?;
        Ok(values)
    }

    fn literal(&mut self) -> Result<(Literal, usize), SoqlError> {
        let token = self.advance();
        let literal = match &token.tok {
            Tok::Str(s) => Literal::Str(s.clone()),
            Tok::Number(n) => Literal::Number(*n),
            Tok::Date(d) => Literal::Date(d.clone()),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Literal::Null,
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => return Err(self.unexpected(&token)),
        };
        Ok((literal, token.start))
    }
}

static END: Token = Token { tok: Tok::End, start: 0, end: 0 };

fn is_reserved(word: &str) -> bool {
    const RESERVED: &[&str] = &[
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS", "LIMIT",
        "OFFSET", "NULL", "TRUE", "FALSE", "GROUP", "HAVING", "WITH",
    ];
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

// ---------------------------------------------------------------------------------------------
// Plan: the query resolved against the schema
// ---------------------------------------------------------------------------------------------

/// A comparable value: a record's field or a query literal, read as the field's type.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    /// Lower-cased: text comparisons ignore case.
    Text(String),
    /// A canonical 18-character id (or the raw text when it is not a valid id).
    Id(String),
    Number(f64),
    Bool(bool),
    Date(String),
    DateTime(i64),
}

impl Val {
    fn of(kind: FieldKind, value: Option<&Value>) -> Self {
        let Some(value) = value.filter(|v| !v.is_null()) else { return Self::Null };
        match (kind, value) {
            (FieldKind::Boolean, Value::Bool(b)) => Self::Bool(*b),
            (k, Value::Number(n)) if k.is_numeric() => n.as_f64().map_or(Self::Null, Self::Number),
            (k, Value::String(s)) if k.is_id() => Self::Id(ids::normalize(s).unwrap_or_else(|| s.clone())),
            (FieldKind::Date, Value::String(s)) => Self::Date(s.clone()),
            (FieldKind::DateTime, Value::String(s)) => {
                datetime::parse_datetime_millis(s).map_or(Self::Null, Self::DateTime)
            }
            (_, Value::String(s)) => Self::Text(s.to_lowercase()),
            (_, other) => Self::Text(other.to_string().to_lowercase()),
        }
    }

    fn compare(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Self::Text(a), Self::Text(b)) | (Self::Id(a), Self::Id(b)) | (Self::Date(a), Self::Date(b)) => {
                Some(a.cmp(b))
            }
            (Self::Number(a), Self::Number(b)) => a.partial_cmp(b),
            (Self::Bool(a), Self::Bool(b)) => Some(a.cmp(b)),
            (Self::DateTime(a), Self::DateTime(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Test {
    Compare(&'static str, Val),
    /// The values, and the text of the text and id ones for fast lookups (an IN list of a few
    /// hundred emails is tested against every record).
    In(Vec<Val>, HashSet<String>),
    /// A LIKE pattern, lower-cased: `%` any run, `_` one character, `\%`/`\_` themselves.
    Like(Vec<LikeToken>),
}

#[derive(Debug, Clone, PartialEq)]
enum LikeToken {
    Char(char),
    One,
    Any,
}

#[derive(Debug, Clone)]
enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Test { field: String, kind: FieldKind, test: Test, negated: bool },
}

#[derive(Debug, Clone)]
struct Sort {
    field: String,
    kind: FieldKind,
    descending: bool,
    nulls_first: bool,
}

/// A query ready to run against one object's records.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The object's canonical name.
    pub(crate) object: String,
    /// The selected fields' canonical names, in the order asked; empty for `SELECT COUNT()`.
    pub(crate) columns: Vec<String>,
    /// The selected fields as the query wrote them (Bulk API 2.0's CSV header).
    pub(crate) headers: Vec<String>,
    /// `SELECT COUNT()`: the answer is the number of matching rows, not the rows.
    pub(crate) count: bool,
    filter: Option<Filter>,
    sorts: Vec<Sort>,
    pub(crate) limit: Option<usize>,
    pub(crate) offset: Option<usize>,
}

/// Parses `text` and resolves it against `schema`.
pub(crate) fn plan(text: &str, schema: &Schema) -> Result<Plan, SoqlError> {
    let tokens = lex(text)?;
    let query = Parser { text, tokens, next: 0, depth: 0 }.query()?;
    let Some(object) = schema.object(&query.object.text) else {
        let detail = format!(
            "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
            query.object.text
        );
        return Err(error_at(text, query.object.at, "INVALID_TYPE", &detail));
    };
    let resolve = Resolver { text, object };
    let mut columns: Vec<String> = Vec::new();
    for name in &query.fields {
        let (field, _) = resolve.field(name)?;
        if columns.contains(&field) {
            return Err(error_at(text, name.at, "MALFORMED_QUERY", &format!("duplicate field selected: {field}")));
        }
        columns.push(field);
    }
    let headers = query.fields.iter().map(|name| name.text.clone()).collect();
    let filter = query.filter.as_ref().map(|c| resolve.condition(c)).transpose()?;
    let mut sorts = Vec::new();
    for item in &query.order_by {
        let (field, kind) = resolve.field(&item.field)?;
        if kind == FieldKind::TextArea {
            let detail = format!("field '{field}' can not be sorted in a query call");
            return Err(error_at(text, item.field.at, "INVALID_FIELD", &detail));
        }
        sorts.push(Sort {
            field,
            kind,
            descending: item.descending,
            nulls_first: item.nulls_first.unwrap_or(!item.descending),
        });
    }
    Ok(Plan {
        object: object.name.clone(),
        columns,
        headers,
        count: query.count,
        filter,
        sorts,
        limit: query.limit,
        offset: query.offset,
    })
}

struct Resolver<'a> {
    text: &'a str,
    object: &'a ObjectDef,
}

impl Resolver<'_> {
    fn field(&self, name: &Name) -> Result<(String, FieldKind), SoqlError> {
        if let Some(field) = self.object.field(&name.text) {
            return Ok((field.name.clone(), field.kind));
        }
        if let Some((relationship, _)) = name.text.split_once('.') {
            let known = self
                .object
                .fields
                .iter()
                .any(|f| f.relationship_name.is_some_and(|r| r.eq_ignore_ascii_case(relationship)));
            let (code, detail) = if known {
                (
                    "MALFORMED_QUERY",
                    format!("relationship field paths such as '{}' are not supported by salesforce-sim", name.text),
                )
            } else {
                ("INVALID_FIELD", format!("Didn't understand relationship '{relationship}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."))
            };
            return Err(error_at(self.text, name.at, code, &detail));
        }
        let detail = format!(
            "No such column '{}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
            name.text, self.object.name
        );
        Err(error_at(self.text, name.at, "INVALID_FIELD", &detail))
    }

    fn condition(&self, condition: &Condition) -> Result<Filter, SoqlError> {
        Ok(match condition {
            Condition::And(terms) => Filter::And(terms.iter().map(|t| self.condition(t)).collect::<Result<_, _>>()?),
            Condition::Or(terms) => Filter::Or(terms.iter().map(|t| self.condition(t)).collect::<Result<_, _>>()?),
            Condition::Not(a) => Filter::Not(Box::new(self.condition(a)?)),
            Condition::Compare { field, op, value } => {
                let (name, kind) = self.field(field)?;
                let test = if *op == "LIKE" {
                    match &value.0 {
                        Literal::Str(pattern) if kind.is_text() => Test::Like(like_pattern(pattern)),
                        _ => {
                            let detail = format!(
                                "invalid operator on field '{name}': LIKE needs a text field and a quoted pattern"
                            );
                            return Err(error_at(self.text, field.at, "INVALID_QUERY_FILTER_OPERATOR", &detail));
                        }
                    }
                } else {
                    Test::Compare(op, self.literal(&name, kind, value)?)
                };
                Filter::Test { field: name, kind, test, negated: false }
            }
            Condition::In { field, negated, values } => {
                let (name, kind) = self.field(field)?;
                let values: Vec<Val> = values.iter().map(|v| self.literal(&name, kind, v)).collect::<Result<_, _>>()?;
                let texts = values
                    .iter()
                    .filter_map(|v| match v {
                        Val::Text(t) | Val::Id(t) => Some(t.clone()),
                        _ => None,
                    })
                    .collect();
                Filter::Test { field: name, kind, test: Test::In(values, texts), negated: *negated }
            }
        })
    }

    /// A literal read as `kind`, or Salesforce's type-mismatch error.
    fn literal(&self, field: &str, kind: FieldKind, (literal, at): &(Literal, usize)) -> Result<Val, SoqlError> {
        let type_name = match kind {
            k if k.is_text() => "string",
            FieldKind::Id | FieldKind::Reference => "id",
            FieldKind::Boolean => "boolean",
            FieldKind::Int => "int",
            FieldKind::Date => "date",
            FieldKind::DateTime => "dateTime",
            _ => "double",
        };
        let quoted = matches!(type_name, "string" | "id");
        let mismatch = || {
            let how = if quoted { "should be enclosed in quotes" } else { "should not be enclosed in quotes" };
            let detail = format!("value of filter criterion for field '{field}' must be of type {type_name} and {how}");
            error_at(self.text, *at, "INVALID_QUERY_FILTER_OPERATOR", &detail)
        };
        match (literal, kind) {
            (Literal::Null, _) => Ok(Val::Null),
            (Literal::Str(s), k) if k.is_text() => Ok(Val::Text(unescape_like(s).to_lowercase())),
            (Literal::Str(s), k) if k.is_id() => match ids::normalize(s) {
                Some(id) => Ok(Val::Id(id)),
                None => {
                    Err(error_at(self.text, *at, "INVALID_QUERY_FILTER_OPERATOR", &format!("invalid ID field: {s}")))
                }
            },
            (Literal::Bool(b), FieldKind::Boolean) => Ok(Val::Bool(*b)),
            (Literal::Number(n), k) if k.is_numeric() => Ok(Val::Number(*n)),
            (Literal::Date(d), FieldKind::Date) if d.len() == 10 => Ok(Val::Date(d.clone())),
            (Literal::Date(d), FieldKind::DateTime) => {
                datetime::parse_datetime_millis(d).map(Val::DateTime).ok_or_else(mismatch)
            }
            _ => Err(mismatch()),
        }
    }
}

/// `\%` and `\_` are LIKE escapes; elsewhere they are the characters themselves.
fn unescape_like(text: &str) -> String {
    text.replace("\\%", "%").replace("\\_", "_")
}

fn like_pattern(pattern: &str) -> Vec<LikeToken> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '%' => LikeToken::Any,
            '_' => LikeToken::One,
            '\\' => match chars.next() {
                Some(escaped) => LikeToken::Char(escaped),
                None => LikeToken::Char('\\'),
            },
            c => LikeToken::Char(c),
        });
    }
    // Compare lower-cased.
    tokens
        .into_iter()
        .flat_map(|t| match t {
            LikeToken::Char(c) => c.to_lowercase().map(LikeToken::Char).collect::<Vec<_>>(),
            other => vec![other],
        })
        .collect()
}

/// Whether `text` (lower-cased) matches the pattern; iterative, with backtracking on `%`.
fn like_matches(pattern: &[LikeToken], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(LikeToken::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(LikeToken::One) => {
                p += 1;
                t += 1;
            }
            Some(LikeToken::Char(c)) if text.get(t) == Some(c) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).unwrap_or_default().iter().all(|t| *t == LikeToken::Any)
}

impl Filter {
    fn matches(&self, record: &serde_json::Map<String, Value>) -> bool {
        match self {
            Self::And(terms) => terms.iter().all(|t| t.matches(record)),
            Self::Or(terms) => terms.iter().any(|t| t.matches(record)),
            Self::Not(a) => !a.matches(record),
            Self::Test { field, kind, test, negated } => {
                let value = Val::of(*kind, record.get(field));
                let result = match test {
                    Test::In(values, texts) => match &value {
                        Val::Text(t) | Val::Id(t) => texts.contains(t),
                        other => values.contains(other),
                    },
                    Test::Like(pattern) => matches!(&value, Val::Text(t) if like_matches(pattern, t)),
                    Test::Compare("=", literal) => value == *literal,
                    Test::Compare("!=", literal) => value != *literal,
                    Test::Compare(op, literal) => {
                        let ordering = value.compare(literal);
                        match *op {
                            "<" => ordering == Some(Ordering::Less),
                            "<=" => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
                            ">" => ordering == Some(Ordering::Greater),
                            ">=" => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
                            _ => false,
                        }
                    }
                };
                result != *negated
            }
        }
    }
}

impl Filter {
    fn fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Self::And(terms) | Self::Or(terms) => terms.iter().for_each(|t| t.fields(out)),
            Self::Not(inner) => inner.fields(out),
            Self::Test { field, .. } => out.push(field),
        }
    }
}

impl Plan {
    /// The fields the WHERE clause reads.
    pub(crate) fn filter_fields(&self) -> Vec<&str> {
        let mut fields = Vec::new();
        if let Some(filter) = &self.filter {
            filter.fields(&mut fields);
        }
        fields
    }

    /// Whether a record passes the WHERE clause.
    pub(crate) fn matches(&self, record: &serde_json::Map<String, Value>) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(record))
    }

    /// Sorts by ORDER BY (stable: ties keep their order, which is creation order). Each row's
    /// sort key is read once, not at every comparison: a datetime is parsed once per row.
    pub(crate) fn sort(&self, records: &mut Vec<serde_json::Map<String, Value>>) {
        if self.sorts.is_empty() {
            return;
        }
        let mut keyed: Vec<(Vec<Val>, serde_json::Map<String, Value>)> = records
            .drain(..)
            .map(|record| (self.sorts.iter().map(|sort| Val::of(sort.kind, record.get(&sort.field))).collect(), record))
            .collect();
        keyed.sort_by(|(a, _), (b, _)| {
            for ((sort, x), y) in self.sorts.iter().zip(a).zip(b) {
                let ordering = match (x, y) {
                    (Val::Null, Val::Null) => Ordering::Equal,
                    (Val::Null, _) => {
                        if sort.nulls_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (_, Val::Null) => {
                        if sort.nulls_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    _ => {
                        let ordering = x.compare(y).unwrap_or(Ordering::Equal);
                        if sort.descending {
                            ordering.reverse()
                        } else {
                            ordering
                        }
                    }
                };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            Ordering::Equal
        });
        records.extend(keyed.into_iter().map(|(_, record)| record));
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::default()
    }

    fn record(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn email_in_is_case_insensitive_and_and_applies() {
        let plan = plan(
            "select Id, email from LEAD where Email IN ('A@X.com', 'b@x.com') and IsConverted = false order by CreatedDate desc limit 5",
            &schema(),
        );
        let Ok(plan) = plan else { panic!("{plan:?}") };
        assert_eq!(plan.object, "Lead");
        assert_eq!(plan.columns, ["Id", "Email"]);
        assert_eq!(plan.limit, Some(5));
        assert!(plan.matches(&record(json!({"Email": "a@x.COM", "IsConverted": false}))));
        assert!(!plan.matches(&record(json!({"Email": "a@x.com", "IsConverted": true}))));
        assert!(!plan.matches(&record(json!({"Email": "c@x.com", "IsConverted": false}))));
        assert!(!plan.matches(&record(json!({"Email": null, "IsConverted": false}))));
    }

    #[test]
    fn errors_use_the_row_column_format_of_the_samples() {
        let malformed = plan("SELECT Id FORM Contact WHERE Email = 'a@b.com'", &schema()).err();
        assert_eq!(
            malformed,
            Some(SoqlError {
                code: "MALFORMED_QUERY",
                message: "\nSELECT Id FORM Contact WHERE Email = 'a@b.com'\n          ^\nERROR at Row:1:Column:11\nunexpected token: FORM".into()
            })
        );
        let invalid = plan("SELECT Id, Score__c FROM Contact", &schema()).err();
        assert_eq!(
            invalid,
            Some(SoqlError {
                code: "INVALID_FIELD",
                message: "\nSELECT Id, Score__c FROM Contact\n           ^\nERROR at Row:1:Column:12\nNo such column 'Score__c' on entity 'Contact'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.".into()
            })
        );
        assert!(
            matches!(plan("SELECT Id FROM Contact WHERE", &schema()), Err(e) if e.message.ends_with("unexpected token: <EOF>"))
        );
        assert!(matches!(plan("SELECT IsConverted FROM Contact", &schema()), Err(e) if e.code == "INVALID_FIELD"));
        assert!(matches!(plan("SELECT Id FROM Account", &schema()), Err(e) if e.code == "INVALID_TYPE"));
        assert!(matches!(
            plan("SELECT Id FROM Lead WHERE IsConverted = 'false'", &schema()),
            Err(e) if e.code == "INVALID_QUERY_FILTER_OPERATOR"
        ));
        assert!(
            matches!(plan("SELECT Id FROM Lead WHERE Email = 'a\\qb'", &schema()), Err(e) if e.code == "MALFORMED_QUERY")
        );
    }

    #[test]
    fn deep_or_long_conditions_cannot_exhaust_the_stack() {
        let deep = format!("SELECT Id FROM Contact WHERE {}Email = 'a'{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(matches!(plan(&deep, &schema()), Err(e) if e.message.ends_with("nested too deeply")));
        let nots = format!("SELECT Id FROM Contact WHERE {}Email = 'a'", "NOT ".repeat(10_000));
        assert!(plan(&nots, &schema()).is_err());
        let long = format!("SELECT Id FROM Contact WHERE Email = 'a'{}", " AND Email != 'b'".repeat(20_000));
        let Ok(long) = plan(&long, &schema()) else { panic!() };
        assert!(long.matches(&record(json!({"Email": "A"}))));
        let nested = format!("SELECT Id FROM Contact WHERE {}Email = 'a'{}", "(".repeat(60), ")".repeat(60));
        assert!(plan(&nested, &schema()).is_ok());
    }

    #[test]
    fn total_on_garbage() {
        for text in [
            "",
            "'",
            "SELECT",
            "SELECT Id FROM Contact LIMIT -1",
            "é'\\",
            "SELECT Id FROM Contact WHERE Id IN ()",
            "SELECT Id FROM Contact WHERE Email LIKE 5",
            "\n\n'",
        ] {
            assert!(plan(text, &schema()).is_err(), "{text}");
        }
    }

    #[test]
    fn escapes_like_or_not_and_ordering() {
        let Ok(plan) = plan(
            "SELECT Id FROM Contact WHERE (Email LIKE '%@X.COM' OR LastName = 'O\\'Brien') AND NOT FirstName = null ORDER BY LastName ASC NULLS LAST, FirstName DESC",
            &schema(),
        ) else {
            panic!()
        };
        assert!(plan.matches(&record(json!({"Email": "a@x.com", "FirstName": "A"}))));
        assert!(plan.matches(&record(json!({"Email": "a@y.com", "LastName": "o'brien", "FirstName": "A"}))));
        assert!(!plan.matches(&record(json!({"Email": "a@x.com", "FirstName": null}))));
        let mut rows = vec![
            record(json!({"LastName": null, "FirstName": "z"})),
            record(json!({"LastName": "b", "FirstName": "a"})),
            record(json!({"LastName": "B", "FirstName": "c"})),
            record(json!({"LastName": "a", "FirstName": "x"})),
        ];
        plan.sort(&mut rows);
        let order: Vec<_> = rows.iter().map(|r| r.get("FirstName").cloned().unwrap_or_default()).collect();
        assert_eq!(order, [json!("x"), json!("c"), json!("a"), json!("z")]);
        assert!(like_matches(&like_pattern("a\\%b_"), "a%bc"));
        assert!(!like_matches(&like_pattern("a\\%b_"), "axbc"));
    }

    fn error_of(text: &str) -> (String, String) {
        match plan(text, &schema()) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => (e.code.to_owned(), e.message.lines().last().unwrap_or_default().to_owned()),
        }
    }

    #[test]
    fn count_is_alone_takes_limit_and_refuses_order_by() {
        let Ok(count) = plan("SELECT COUNT() FROM Contact WHERE Email = 'a@x.com' LIMIT 3", &schema()) else { panic!() };
        assert!(count.count && count.columns.is_empty());
        assert_eq!(count.limit, Some(3));
        let malformed = |detail: &str| ("MALFORMED_QUERY".to_owned(), detail.to_owned());
        assert_eq!(error_of("SELECT COUNT(), Id FROM Contact"), malformed("COUNT() must be the only element in the SELECT list"));
        assert_eq!(error_of("SELECT COUNT() FROM Contact ORDER BY Id"), malformed("You can't use COUNT() with an ORDER BY clause"));
        assert_eq!(error_of("SELECT Id, COUNT() FROM Contact"), malformed("unexpected token: ("));
        assert_eq!(error_of("SELECT COUNT(Id) FROM Contact").0, "MALFORMED_QUERY");
        // COUNT is a field name like any other when no parenthesis follows.
        assert_eq!(error_of("SELECT Count FROM Contact").0, "INVALID_FIELD");
    }

    #[test]
    fn datetime_literals_take_soqls_zones_only() {
        let at = |literal: &str| plan(&format!("SELECT Id FROM Contact WHERE SystemModstamp > {literal}"), &schema());
        for fine in ["2026-12-05T10:00:00Z", "2026-12-05T10:00:00.000Z", "2026-12-05T11:00:00+01:00", "2026-12-05T02:00:00.5-08:00"] {
            assert!(at(fine).is_ok(), "{fine}");
        }
        for refused in ["2026-12-05T10:00:00.000+0000", "2026-12-05T10:00:00", "2026-12-05T10:00:00+01", "2026-12-05T10:00Z"] {
            assert!(matches!(at(refused), Err(e) if e.code == "MALFORMED_QUERY"), "{refused}");
        }
        let Ok(after) = at("2026-12-05T11:00:00.000+01:00") else { panic!() };
        assert!(after.matches(&record(json!({"SystemModstamp": "2026-12-05T10:00:00.001+0000"}))));
        assert!(!after.matches(&record(json!({"SystemModstamp": "2026-12-05T10:00:00.000+0000"}))));
    }

    #[test]
    fn and_and_or_need_parentheses_to_mix() {
        assert_eq!(
            error_of("SELECT Id FROM Contact WHERE Email = 'a' AND LastName = 'b' OR FirstName = 'c'"),
            ("MALFORMED_QUERY".to_owned(), "unexpected token: OR".to_owned())
        );
        assert_eq!(
            error_of("SELECT Id FROM Contact WHERE Email = 'a' OR LastName = 'b' AND FirstName = 'c'"),
            ("MALFORMED_QUERY".to_owned(), "unexpected token: AND".to_owned())
        );
        let stamp = "2026-12-05T10:00:00.000Z";
        let keyset = format!(
            "SELECT Id FROM Contact WHERE (SystemModstamp = {stamp} AND Id > '0035g0000000001') OR SystemModstamp > {stamp} ORDER BY SystemModstamp, Id"
        );
        let Ok(keyset) = plan(&keyset, &schema()) else { panic!() };
        let row = |stamp: &str, id: &str| record(json!({"SystemModstamp": stamp, "Id": id}));
        assert!(keyset.matches(&row("2026-12-05T10:00:00.000+0000", &crate::ids::mint("003", 2))));
        assert!(!keyset.matches(&row("2026-12-05T10:00:00.000+0000", &crate::ids::mint("003", 1))));
        assert!(keyset.matches(&row("2026-12-05T10:00:00.001+0000", &crate::ids::mint("003", 0))));
        assert!(plan("SELECT Id FROM Contact WHERE Email = 'a' AND LastName = 'b' AND (FirstName = 'c' OR Title = 'd')", &schema()).is_ok());
    }

    #[test]
    fn a_field_selected_twice_is_refused_and_headers_keep_the_query_spelling() {
        assert_eq!(
            error_of("SELECT Id, email, EMAIL FROM Contact"),
            ("MALFORMED_QUERY".to_owned(), "duplicate field selected: Email".to_owned())
        );
        let Ok(plan) = plan("SELECT id, EMAIL FROM contact", &schema()) else { panic!() };
        assert_eq!((plan.columns, plan.headers), (vec!["Id".to_owned(), "Email".to_owned()], vec!["id".to_owned(), "EMAIL".to_owned()]));
    }

    #[test]
    fn ids_match_in_either_form() {
        let Ok(by_id) = plan("SELECT Id FROM Contact WHERE Id = '003RO0000035WQg'", &schema()) else { panic!() };
        assert!(by_id.matches(&record(json!({"Id": "003RO0000035WQgYAM"}))));
        let dates = "SELECT Id FROM Task WHERE ActivityDate >= 2026-01-01 AND CreatedDate < 2026-01-05T00:00:00Z";
        let Ok(by_date) = plan(dates, &schema()) else { panic!() };
        assert!(by_date
            .matches(&record(json!({"ActivityDate": "2026-01-02", "CreatedDate": "2026-01-04T23:00:00.000+0000"}))));
        assert!(!by_date
            .matches(&record(json!({"ActivityDate": "2025-12-31", "CreatedDate": "2026-01-04T23:00:00.000+0000"}))));
    }
}
