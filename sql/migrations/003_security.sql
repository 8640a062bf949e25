-- What the attack on the accounts area taught (issue 8): locks that hurt
-- the failing client rather than the account, and the rule that an account
-- acts only on accounts no stronger than itself.

-- A lock belongs to the pair (typed username, client address): five wrong
-- passwords from one client lock that username for that client only, so an
-- attacker elsewhere cannot lock the owner out.  client is the address
-- nginx saw ('' when it saw none).  Rows of unknown usernames are kept the
-- same way (no enumeration); stale rows are swept by later failures.
ALTER TABLE login_locks ADD COLUMN client text NOT NULL DEFAULT '';
ALTER TABLE login_locks DROP CONSTRAINT login_locks_pkey;
ALTER TABLE login_locks ADD PRIMARY KEY (username, client);
CREATE INDEX login_locks_stale ON login_locks (window_start);

-- May the account actor_uid act on the account target_uid (reset, enable or
-- disable, edit, grant, revoke, unlock)?  Only if the target holds nothing
-- the actor does not: a main account holds every permission of its kind and
-- so covers all its sub-accounts; a sub-account covers a sibling whose
-- grants are a subset of its own.  Used where both are of one org (the
-- sub-account mode of vbp_user_scope); across orgs the scope rule decides.
CREATE FUNCTION vbp_user_covers(actor_uid integer, target_uid integer)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT 1 FROM users a
                   WHERE a.id = actor_uid AND a.parent_user_id IS NULL)
        OR NOT EXISTS (SELECT 1 FROM user_permissions t
                       WHERE t.user_id = target_uid
                         AND NOT EXISTS (SELECT 1 FROM user_permissions g
                                         WHERE g.user_id = actor_uid
                                           AND g.permission = t.permission))
$$;
