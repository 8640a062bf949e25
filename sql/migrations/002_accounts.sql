-- Account management: who manages whom, the permission tree for
-- sub-accounts, org imports and a scope on every audit row.

-- Who may manage an org (its accounts, its directory entry): the alliance
-- every org but itself, a province its cities (and 省本级) and their
-- hospitals, a city its hospitals.  Paths are region paths ('/1/2/4/'), so
-- "below" is a prefix test.  Every scoped statement calls this one rule.
CREATE FUNCTION vbp_manages(actor_kind text, actor_path text,
                            target_kind text, target_path text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE actor_kind
        WHEN 'alliance' THEN target_kind <> 'alliance'
        WHEN 'province_bureau' THEN target_kind IN ('city_bureau', 'hospital')
                                    AND starts_with(target_path, actor_path)
        WHEN 'city_bureau' THEN target_kind = 'hospital'
                                AND starts_with(target_path, actor_path)
        ELSE false
    END
$$;

-- permissions that group others and are not granted by themselves
ALTER TABLE permissions ADD COLUMN is_group boolean NOT NULL DEFAULT false;
UPDATE permissions SET is_group = true WHERE code = 'account';

INSERT INTO permissions (code, name, parent, kinds, sort, is_group) VALUES
    ('account.subusers', '子用户管理', 'account',
     '{alliance,province_bureau,city_bureau,hospital,manufacturer}', 93, false),
    ('admin', '系统管理', NULL,
     '{alliance,province_bureau,city_bureau}', 80, true),
    ('admin.users', '用户管理', 'admin',
     '{alliance,province_bureau,city_bureau}', 81, false),
    ('admin.orgs', '机构管理', 'admin',
     '{alliance,province_bureau,city_bureau}', 82, false),
    ('admin.audit', '操作日志', 'admin',
     '{alliance,province_bureau,city_bureau}', 83, false);

-- who created an account (NULL for demo data and removed creators).  An
-- account created by an import has password_hash '!', which never
-- verifies: its manager resets a password before first use.
ALTER TABLE users ADD COLUMN created_by integer REFERENCES users (id)
    ON DELETE SET NULL;

CREATE INDEX users_org ON users (org_id);
CREATE INDEX users_created ON users (created_at, id);

-- the region path of the org an audit row concerns: scoped lists of the
-- audit log are a prefix match on it
ALTER TABLE audit_log ADD COLUMN scope_path text;
CREATE INDEX audit_log_scope ON audit_log (scope_path text_pattern_ops, at);

-- one row per import run (the rows themselves are orgs)
CREATE TABLE org_imports (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    integer NOT NULL REFERENCES users (id),
    kind        text NOT NULL CHECK (kind IN ('hospital', 'manufacturer')),
    sha256      text NOT NULL,
    bytes       bigint NOT NULL,
    rows_total  integer NOT NULL,
    inserted    integer NOT NULL,
    updated     integer NOT NULL
);

-- held by every signed-in user, never granted: the landing page and one's
-- own password
ALTER TABLE permissions ADD COLUMN implicit boolean NOT NULL DEFAULT false;
UPDATE permissions SET implicit = true WHERE code IN ('home', 'account.password');

-- Which accounts an actor may manage: in 'admin' mode every account of an
-- org it manages (vbp_manages), in 'sub' mode the sub-accounts of its own
-- org except itself.  One rule for the list, the reads and every change.
CREATE FUNCTION vbp_user_scope(mode text, actor_kind text, actor_path text,
                               actor_org integer, actor_uid integer,
                               user_id integer, user_org integer,
                               user_parent integer, org_kind text,
                               org_path text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE mode
        WHEN 'sub' THEN user_org = actor_org AND user_parent IS NOT NULL
                        AND user_id <> actor_uid
        WHEN 'admin' THEN vbp_manages(actor_kind, actor_path, org_kind, org_path)
        ELSE false
    END
$$;

-- rows of an import being checked; filled by COPY and emptied in the same
-- transaction, so nothing here outlives its import
CREATE UNLOGGED TABLE org_import_rows (
    import_key   bigint NOT NULL,
    line         integer NOT NULL,
    code         text NOT NULL,
    name         text NOT NULL,
    region_code  text NOT NULL,
    category     text NOT NULL
);
CREATE INDEX org_import_rows_key ON org_import_rows (import_key, code);
CREATE SEQUENCE org_import_key;
