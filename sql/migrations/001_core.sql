-- Regions, organizations, accounts, permissions, sign-in state and audit.
-- Applied once by tools/migrate, which records it in schema_migrations.

CREATE TABLE regions (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-Za-z]{1,12}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    level       text NOT NULL CHECK (level IN ('nation', 'province', 'city')),
    parent_id   integer REFERENCES regions (id),
    -- ids from the root down, e.g. '/1/2/5/': a scope check is a prefix match
    path        text NOT NULL,
    -- the pseudo-city 省本级 for hospitals directly under a province
    provincial  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((level = 'nation') = (parent_id IS NULL)),
    CHECK (NOT provincial OR level = 'city')
);

CREATE INDEX regions_parent ON regions (parent_id);
CREATE INDEX regions_path ON regions (path text_pattern_ops);

CREATE TABLE orgs (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-Za-z_-]{1,32}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind        text NOT NULL CHECK (kind IN ('alliance', 'province_bureau',
                    'city_bureau', 'hospital', 'manufacturer')),
    region_id   integer NOT NULL REFERENCES regions (id),
    -- hospital grade (三级甲等 ...) or company type; free text from imports
    category    text NOT NULL DEFAULT '' CHECK (length(category) <= 32),
    status      text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'disabled')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orgs_region ON orgs (region_id, kind);

CREATE TABLE users (
    id                    integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username              text NOT NULL UNIQUE
                              CHECK (username ~ '^[A-Za-z0-9_.@-]{3,32}$'),
    display_name          text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 64),
    phone                 text NOT NULL DEFAULT ''
                              CHECK (phone ~ '^(|1[3-9][0-9]{9})$'),
    org_id                integer NOT NULL REFERENCES orgs (id),
    -- NULL for the org's main account; the main account for a sub-account
    parent_user_id        integer REFERENCES users (id),
    status                text NOT NULL DEFAULT 'active'
                              CHECK (status IN ('active', 'disabled')),
    password_hash         text NOT NULL,
    must_change_password  boolean NOT NULL DEFAULT true,
    password_changed_at   timestamptz,
    last_login_at         timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- one main account per org
CREATE UNIQUE INDEX users_main_account ON users (org_id) WHERE parent_user_id IS NULL;
CREATE INDEX users_parent ON users (parent_user_id);

-- the permission tree; "kinds" says which org kinds may hold a permission
CREATE TABLE permissions (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z_.]{1,64}$'),
    name        text NOT NULL,
    parent      text REFERENCES permissions (code),
    kinds       text[] NOT NULL,
    sort        integer NOT NULL DEFAULT 0
);

-- grants of sub-accounts; a main account holds every permission of its kind
CREATE TABLE user_permissions (
    user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission  text NOT NULL REFERENCES permissions (code),
    PRIMARY KEY (user_id, permission)
);

-- failed sign-ins per typed username (known or not, so locks do not tell
-- which usernames exist); a row is removed by a successful sign-in
CREATE TABLE login_locks (
    username      text PRIMARY KEY,
    failures      integer NOT NULL,
    window_start  timestamptz NOT NULL,
    locked_until  timestamptz
);

CREATE TABLE audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor_user_id  integer REFERENCES users (id),
    actor_name     text NOT NULL,
    actor_org_id   integer REFERENCES orgs (id),
    ip             inet,
    action         text NOT NULL,
    target_type    text NOT NULL DEFAULT '',
    target_id      text NOT NULL DEFAULT '',
    from_state     text,
    to_state       text,
    reason         text,
    detail         jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor_org ON audit_log (actor_org_id, at);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id);

INSERT INTO permissions (code, name, parent, kinds, sort) VALUES
    ('home', '首页', NULL,
     '{alliance,province_bureau,city_bureau,hospital,manufacturer}', 10),
    ('account', '账户', NULL,
     '{alliance,province_bureau,city_bureau,hospital,manufacturer}', 90),
    ('account.password', '修改密码', 'account',
     '{alliance,province_bureau,city_bureau,hospital,manufacturer}', 91),
    ('org.view', '本单位信息', 'account',
     '{alliance,province_bureau,city_bureau,hospital,manufacturer}', 92);
