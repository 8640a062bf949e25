-- Account management: who manages whom, the permission tree for
-- sub-accounts, org imports and a scope on every audit row.

-- Who may manage an org (its accounts, its directory entry): the alliance
-- every org but itself, a province its cities (and 省本级) and their
-- hospitals, a city its hospitals.  Paths are region paths ('/1/2/4/'), so
-- "below" is a prefix test.  vbp_manages() is the rule; lists spell it out
-- as "kind = ANY (vbp_managed_kinds(k)) AND region in the subtree", the
-- same test in a form the planner can drive from the indexes.
CREATE FUNCTION vbp_managed_kinds(actor_kind text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE actor_kind
        WHEN 'alliance' THEN '{province_bureau,city_bureau,hospital,manufacturer}'
        WHEN 'province_bureau' THEN '{city_bureau,hospital}'
        WHEN 'city_bureau' THEN '{hospital}'
        ELSE '{}'
    END::text[]
$$;

CREATE FUNCTION vbp_manages(actor_kind text, actor_path text,
                            target_kind text, target_path text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT target_kind = ANY (vbp_managed_kinds(actor_kind))
           AND starts_with(target_path, actor_path)
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

-- "ABC" and "abc" are one username: a second spelling would confuse every
-- clerk who reads it aloud over the phone
CREATE UNIQUE INDEX users_username_folded ON users (lower(username));
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

-- Every account carries its org's kind and region path, kept by triggers,
-- so that a province's list of 10,000 accounts is one index range instead
-- of a join through every org.  Region paths are '/' and digits, so the
-- accounts below path P are exactly those in [P, P || ':') in byte order.
ALTER TABLE users ADD COLUMN org_kind text, ADD COLUMN scope_path text;

UPDATE users u SET org_kind = o.kind, scope_path = r.path
FROM orgs o JOIN regions r ON r.id = o.region_id WHERE o.id = u.org_id;

ALTER TABLE users ALTER COLUMN org_kind SET NOT NULL,
                  ALTER COLUMN scope_path SET NOT NULL;

CREATE INDEX users_scope ON users (org_kind, scope_path COLLATE "C", id);

CREATE FUNCTION vbp_users_scope_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT o.kind, r.path INTO NEW.org_kind, NEW.scope_path
    FROM orgs o JOIN regions r ON r.id = o.region_id WHERE o.id = NEW.org_id;
    RETURN NEW;
END
$$;

CREATE TRIGGER users_scope_fill BEFORE INSERT OR UPDATE OF org_id ON users
    FOR EACH ROW EXECUTE FUNCTION vbp_users_scope_fill();

CREATE FUNCTION vbp_orgs_scope_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users u SET org_kind = NEW.kind, scope_path = r.path
    FROM regions r WHERE r.id = NEW.region_id AND u.org_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER orgs_scope_sync AFTER UPDATE OF kind, region_id ON orgs
    FOR EACH ROW WHEN (OLD.kind IS DISTINCT FROM NEW.kind
                       OR OLD.region_id IS DISTINCT FROM NEW.region_id)
    EXECUTE FUNCTION vbp_orgs_scope_sync();
