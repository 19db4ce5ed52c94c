//! The SQL a user installs once per table: statement-level triggers that
//! `pg_notify` the tags of the rows a statement touched and their new ETags.
//!
//! One notification per statement, not per row: the three triggers
//! (`AFTER INSERT`, `AFTER UPDATE`, `AFTER DELETE`, each `FOR EACH
//! STATEMENT`) read the statement's transition tables, the pattern of the
//! PostgreSQL manual's audit example (§43.10, "Auditing with Transition
//! Tables"; a trigger with transition tables may name one event only,
//! `CREATE TRIGGER`'s notes). A payload that would reach `NOTIFY`'s 8,000-byte
//! limit is replaced by the table's coarse tags, so a bulk update costs one
//! small notification and invalidates every entry it may have touched.
//!
//! Requires PostgreSQL 14 or later, where `extract(epoch …)` is an exact
//! `numeric`: a timestamp renders as the ETag styles write it
//! (`1732442400.25`, trailing zeros trimmed by `trim_scale`).

use std::fmt::{self, Write};

/// `NOTIFY`'s payload must be shorter than this many bytes in the default
/// configuration (PostgreSQL manual, `NOTIFY`).
pub const PAYLOAD_LIMIT: usize = 8000;

/// The channel [`Trigger`] and [`Notifications`](super::Notifications) use
/// unless told otherwise.
pub const DEFAULT_CHANNEL: &str = "cached_etag";

/// The triggers that make a table announce its changes.
///
/// Templates name columns in braces, as the attribute's tags name handler
/// arguments: `camera:{id}`. A timestamp column renders as the ETag styles
/// render times, any other column as its text, so the ETag template
/// `{id}-{updated_at}` gives exactly what `etag = "composite"` shows for a
/// row with an `id` and a `timestamptz` `updated_at`.
///
/// ```
/// use cached_etag_runtime::source::postgres::Trigger;
///
/// let sql = Trigger::new("cameras")
///     .row_tag("camera:{id}")
///     .etag("{id}-{updated_at}")
///     .table_tag("cameras:list")
///     .coarse_tag("cameras")
///     .sql()
///     .unwrap();
/// assert!(sql.contains("CREATE TRIGGER"));
/// ```
#[derive(Debug, Clone)]
pub struct Trigger {
    table: String,
    channel: String,
    row_tags: Vec<String>,
    etag: Option<String>,
    table_tags: Vec<String>,
    coarse_tags: Vec<String>,
}

/// A [`Trigger`] that cannot be written as SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerError(String);

impl fmt::Display for TriggerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TriggerError {}

impl Trigger {
    /// Triggers on `table` (a plain name, or `schema.table`), notifying
    /// [`DEFAULT_CHANNEL`].
    pub fn new(table: &str) -> Self {
        Trigger {
            table: table.to_owned(),
            channel: DEFAULT_CHANNEL.to_owned(),
            row_tags: Vec::new(),
            etag: None,
            table_tags: Vec::new(),
            coarse_tags: Vec::new(),
        }
    }

    /// Notifies `channel` instead of [`DEFAULT_CHANNEL`].
    pub fn channel(mut self, channel: &str) -> Self {
        channel.clone_into(&mut self.channel);
        self
    }

    /// A tag of each touched row, templated from its columns
    /// (`camera:{id}`): invalidated with the row's new ETag, so entries
    /// already showing it are kept.
    pub fn row_tag(mut self, template: &str) -> Self {
        self.row_tags.push(template.to_owned());
        self
    }

    /// The row's ETag, templated from its columns (`{id}-{updated_at}`,
    /// `{version}`); its opaque part, read with
    /// [`ETag::from_string`](crate::ETag::from_string). Without it, row tags
    /// are invalidated unconditionally.
    pub fn etag(mut self, template: &str) -> Self {
        self.etag = Some(template.to_owned());
        self
    }

    /// A tag invalidated by every statement that touches the table (a list
    /// or a count: `cameras:list`).
    pub fn table_tag(mut self, tag: &str) -> Self {
        self.table_tags.push(tag.to_owned());
        self
    }

    /// A tag that covers every entry the table's rows feed, sent instead of
    /// the detailed payload when that would reach [`PAYLOAD_LIMIT`]. Without
    /// one, the table tags and the row tags' constant prefixes are not
    /// enough to be safe, so [`sql`](Self::sql) asks for one.
    pub fn coarse_tag(mut self, tag: &str) -> Self {
        self.coarse_tags.push(tag.to_owned());
        self
    }

    /// The name of the trigger function: `cached_etag_notify_<table>`.
    fn function_name(&self) -> String {
        format!("cached_etag_notify_{}", self.table.replace('.', "_"))
    }

    /// The SQL that installs (or replaces) the triggers: run it once, for
    /// example as a migration.
    pub fn sql(&self) -> Result<String, TriggerError> {
        if self.row_tags.is_empty() && self.table_tags.is_empty() {
            return Err(TriggerError(format!(
                "the trigger on {} names no tag: add a row_tag or a table_tag",
                self.table
            )));
        }
        if self.coarse_tags.is_empty() {
            return Err(TriggerError(format!(
                "the trigger on {} needs a coarse_tag for statements too large to describe",
                self.table
            )));
        }
        if json_array(&self.coarse_tags).len() + 16 >= PAYLOAD_LIMIT {
            return Err(TriggerError(format!(
                "the coarse tags of {} do not fit in one notification",
                self.table
            )));
        }
        if self.channel.is_empty() || self.channel.len() > 63 {
            return Err(TriggerError(format!(
                "channel {:?} is not a PostgreSQL identifier (1 to 63 bytes)",
                self.channel
            )));
        }
        let table = self
            .table
            .split('.')
            .map(identifier)
            .collect::<Vec<_>>()
            .join(".");
        let function = identifier(&self.function_name());
        let row_tags = self
            .row_tags
            .iter()
            .map(|t| template(t))
            .collect::<Result<Vec<_>, _>>()?;
        let etag = match &self.etag {
            Some(t) => template(t)?,
            None => "NULL::text".to_owned(),
        };
        let tags_array = if row_tags.is_empty() {
            "ARRAY[]::text[]".to_owned()
        } else {
            format!("ARRAY[{}]", row_tags.join(", "))
        };
        let row_array = format!("to_jsonb(ARRAY[{etag}]::text[] || {tags_array})");
        let table_tags = json_array(&self.table_tags);
        let coarse_tags = json_array(&self.coarse_tags);
        let channel = literal(&self.channel);

        let mut sql = String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            sql,
            "\
-- cached-etag: `{table_text}` announces what each statement changed on channel {channel}.
CREATE OR REPLACE FUNCTION cached_etag_text(value timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT trim_scale(extract(epoch FROM value))::text $$;
CREATE OR REPLACE FUNCTION cached_etag_text(value timestamp) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT trim_scale(extract(epoch FROM value))::text $$;
CREATE OR REPLACE FUNCTION cached_etag_text(value anyelement) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT value::text $$;

CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $cached_etag$
DECLARE
    fresh jsonb;
    gone jsonb;
    payload text;
BEGIN
    -- Rows with their new version: [etag, tag, ...] each.
    IF TG_OP <> 'DELETE' THEN
        SELECT jsonb_agg(DISTINCT {row_array}) INTO fresh FROM new_rows AS r;
    END IF;
    -- Tags no row carries any more: deleted rows, and keys an UPDATE moved.
    IF TG_OP = 'DELETE' THEN
        SELECT jsonb_agg(DISTINCT t) INTO gone FROM old_rows AS r, unnest({tags_array}) AS t;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT jsonb_agg(t) INTO gone FROM (
            SELECT unnest({tags_array}) FROM old_rows AS r
            EXCEPT SELECT unnest({tags_array}) FROM new_rows AS r
        ) AS moved(t);
    END IF;
    IF fresh IS NULL AND gone IS NULL THEN
        RETURN NULL; -- the statement touched no row
    END IF;
    payload := jsonb_build_object('rows', fresh, 'gone', gone, 'tags', '{table_tags}'::jsonb)::text;
    IF octet_length(payload) >= {limit} THEN
        payload := jsonb_build_object('tags', '{coarse_tags}'::jsonb)::text;
    END IF;
    PERFORM pg_notify({channel}, payload);
    RETURN NULL;
END
$cached_etag$;

DROP TRIGGER IF EXISTS cached_etag_insert ON {table};
DROP TRIGGER IF EXISTS cached_etag_update ON {table};
DROP TRIGGER IF EXISTS cached_etag_delete ON {table};
CREATE TRIGGER cached_etag_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER cached_etag_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER cached_etag_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
",
            table_text = self.table,
            limit = PAYLOAD_LIMIT,
        );
        Ok(sql)
    }
}

/// A SQL expression for `template`: literal text and `{column}` values of
/// the row `r`, with `{{` and `}}` for literal braces.
fn template(template: &str) -> Result<String, TriggerError> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut column = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) if c.is_ascii_alphanumeric() || c == '_' => column.push(c),
                        _ => {
                            return Err(TriggerError(format!(
                                "{template:?}: `{{` must start a column name and `}}` end it"
                            )));
                        }
                    }
                }
                if column.is_empty() || column.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(TriggerError(format!(
                        "{template:?}: {{{column}}} is not a column name"
                    )));
                }
                if !text.is_empty() {
                    parts.push(literal(&std::mem::take(&mut text)));
                }
                parts.push(format!("cached_etag_text(r.{})", identifier(&column)));
            }
            '}' => {
                return Err(TriggerError(format!(
                    "{template:?}: a lone `}}` (write `}}}}` for a brace)"
                )));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() || parts.is_empty() {
        parts.push(literal(&text));
    }
    Ok(parts.join(" || "))
}

/// A quoted SQL identifier.
fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A quoted SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `tags` as a JSON array, quoted for a SQL literal.
fn json_array(tags: &[String]) -> String {
    let mut json = String::from("[");
    for (i, tag) in tags.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push('"');
        for c in tag.chars() {
            match c {
                '"' => json.push_str("\\\""),
                '\\' => json.push_str("\\\\"),
                c if c.is_control() => {
                    let _ = write!(json, "\\u{:04x}", u32::from(c));
                }
                c => json.push(c),
            }
        }
        json.push('"');
    }
    json.push(']');
    json.replace('\'', "''")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_become_concatenations() {
        assert_eq!(
            template("camera:{id}").unwrap(),
            "'camera:' || cached_etag_text(r.\"id\")"
        );
        assert_eq!(
            template("{id}-{updated_at}").unwrap(),
            "cached_etag_text(r.\"id\") || '-' || cached_etag_text(r.\"updated_at\")"
        );
        assert_eq!(template("it's {{x}}").unwrap(), "'it''s {x}'");
        assert_eq!(template("").unwrap(), "''");
    }

    #[test]
    fn bad_templates_are_errors() {
        for bad in ["{", "{}", "{1a}", "a}", "{a-b}"] {
            assert!(template(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("o'clock"), "'o''clock'");
        assert_eq!(json_array(&["a\"'".into(), "b".into()]), r#"["a\"''","b"]"#);
    }

    #[test]
    fn a_trigger_needs_tags_and_a_coarse_tag() {
        assert!(Trigger::new("t").coarse_tag("t").sql().is_err());
        assert!(Trigger::new("t").row_tag("t:{id}").sql().is_err());
        assert!(
            Trigger::new("t")
                .row_tag("t:{id}")
                .coarse_tag("t")
                .channel("")
                .sql()
                .is_err()
        );
        let sql = Trigger::new("app.t")
            .row_tag("t:{id}")
            .coarse_tag("t")
            .sql()
            .unwrap();
        assert!(sql.contains("ON \"app\".\"t\""));
        assert!(sql.contains("\"cached_etag_notify_app_t\"()"));
    }
}

#[cfg(test)]
mod example {
    use super::Trigger;

    /// The trigger the README shows, as a migration file to copy.
    pub(super) fn cameras() -> Trigger {
        Trigger::new("cameras")
            .row_tag("camera:{id}")
            .etag("{id}-{updated_at}")
            .table_tag("cameras:list")
            .coarse_tag("cameras")
    }

    #[test]
    fn the_migration_file_is_what_the_generator_writes() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/sql/cameras_trigger.sql");
        let generated = cameras().sql().unwrap();
        if std::env::var_os("CACHED_ETAG_BLESS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let file = std::fs::read_to_string(path).unwrap();
        assert_eq!(
            file, generated,
            "{path} is stale: regenerate with CACHED_ETAG_BLESS=1 cargo test -p cached-etag-runtime --features postgres --lib migration_file"
        );
        let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(readme).unwrap();
        assert!(
            readme.contains(&generated),
            "the README's copy of {path} is stale"
        );
    }
}
