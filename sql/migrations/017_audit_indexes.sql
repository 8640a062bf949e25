-- The audit log keeps the indexes it is read by, and no more.
--
-- Every audited action -- each 暂存 of the deadline rush among them --
-- writes one audit row, and each index of audit_log is one more insert
-- into a page picked by the row's key: for (actor_org_id, at) and
-- (target_type, target_id), a page of that org's or that item's, all over
-- the index, each a page the save dirties (and, after a checkpoint, writes
-- whole into the WAL).  Nothing reads them: the audit page
-- (worker/audit.c) filters by scope (audit_log_scope) or by time
-- (audit_log_at) and joins the actor's org by the org's key; an item's
-- history is read from review_events.  A support query by target reads the
-- table whole, which at the size of a round takes a second, not a rush.

DROP INDEX audit_log_actor_org;
DROP INDEX audit_log_target;
