-- The words the pages show for what the audit log stores as codes: states,
-- reasons and the object an action concerns.  Functions, so that the page
-- and the CSV export say the same.

CREATE FUNCTION vbp_state_title(s text)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN s IS NULL THEN NULL
        WHEN s = 'active' THEN '启用'
        WHEN s = 'disabled' THEN '停用'
        WHEN s = 'locked' THEN '已锁定'
        WHEN s = 'unlocked' THEN '已解锁'
        -- a list of permissions, as permissions_granted stores it
        WHEN s LIKE '{%}' THEN COALESCE(
            (SELECT string_agg(p.name, '、' ORDER BY p.sort)
               FROM permissions p WHERE p.code = ANY (s::text[])), '无权限')
        ELSE s
    END
$$;

CREATE FUNCTION vbp_reason_title(r text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE r
        WHEN 'password' THEN '密码错误'
        WHEN 'captcha' THEN '验证码错误'
        WHEN 'disabled' THEN '账号已停用'
        WHEN 'locked' THEN '已锁定'
        WHEN 'old_password' THEN '原密码错误'
        ELSE r
    END
$$;

-- the object of an audit row by its name: an account by its username, a
-- region by name and code, an import by its rows (the file's hash stays in
-- the detail for whoever compares files)
CREATE FUNCTION vbp_target_title(target_type text, target_id text,
                                 detail jsonb)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE target_type
        WHEN 'user' THEN COALESCE(detail->>'username',
            (SELECT u.username FROM users u
              WHERE target_id ~ '^[0-9]{1,9}$' AND u.id = target_id::integer),
            target_id)
        WHEN 'region' THEN concat(COALESCE(detail->>'name',
            (SELECT r.name FROM regions r WHERE r.code = target_id)),
            '（', target_id, '）')
        WHEN 'import' THEN concat('导入文件（',
            CASE detail->>'kind' WHEN 'manufacturer' THEN '生产企业'
                 ELSE '医疗机构' END, '，', detail->>'rows', ' 行）')
        ELSE target_id
    END
$$;
