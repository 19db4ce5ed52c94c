-- cached-etag: `cameras` announces what each statement changed on channel 'cached_etag'.
CREATE OR REPLACE FUNCTION cached_etag_text(value timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT trim_scale(extract(epoch FROM value))::text $$;
CREATE OR REPLACE FUNCTION cached_etag_text(value timestamp) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT trim_scale(extract(epoch FROM value))::text $$;
CREATE OR REPLACE FUNCTION cached_etag_text(value anyelement) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT value::text $$;

CREATE OR REPLACE FUNCTION "cached_etag_notify_cameras"() RETURNS trigger LANGUAGE plpgsql AS $cached_etag$
DECLARE
    fresh jsonb;
    gone jsonb;
    payload text;
BEGIN
    -- Rows with their new version: [etag, tag, ...] each.
    IF TG_OP <> 'DELETE' THEN
        SELECT jsonb_agg(DISTINCT to_jsonb(ARRAY[cached_etag_text(r."id") || '-' || cached_etag_text(r."updated_at")]::text[] || ARRAY['camera:' || cached_etag_text(r."id")])) INTO fresh FROM new_rows AS r;
    END IF;
    -- Tags no row carries any more: deleted rows, and keys an UPDATE moved.
    IF TG_OP = 'DELETE' THEN
        SELECT jsonb_agg(DISTINCT t) INTO gone FROM old_rows AS r, unnest(ARRAY['camera:' || cached_etag_text(r."id")]) AS t;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT jsonb_agg(t) INTO gone FROM (
            SELECT unnest(ARRAY['camera:' || cached_etag_text(r."id")]) FROM old_rows AS r
            EXCEPT SELECT unnest(ARRAY['camera:' || cached_etag_text(r."id")]) FROM new_rows AS r
        ) AS moved(t);
    END IF;
    IF fresh IS NULL AND gone IS NULL THEN
        RETURN NULL; -- the statement touched no row
    END IF;
    payload := jsonb_build_object('rows', fresh, 'gone', gone, 'tags', '["cameras:list"]'::jsonb)::text;
    IF octet_length(payload) >= 8000 THEN
        payload := jsonb_build_object('tags', '["cameras"]'::jsonb)::text;
    END IF;
    PERFORM pg_notify('cached_etag', payload);
    RETURN NULL;
END
$cached_etag$;

DROP TRIGGER IF EXISTS cached_etag_insert ON "cameras";
DROP TRIGGER IF EXISTS cached_etag_update ON "cameras";
DROP TRIGGER IF EXISTS cached_etag_delete ON "cameras";
CREATE TRIGGER cached_etag_insert AFTER INSERT ON "cameras"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "cached_etag_notify_cameras"();
CREATE TRIGGER cached_etag_update AFTER UPDATE ON "cameras"
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "cached_etag_notify_cameras"();
CREATE TRIGGER cached_etag_delete AFTER DELETE ON "cameras"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "cached_etag_notify_cameras"();
