-- Rules, and triggers running functions that are not trusted (trusted-function.sql), on tables the roles $1 own: a
-- rule's actions run with the table owner's rights, a trigger's function with the rights of whoever writes to the
-- table, the successor included. Only those still enabled: offboarding disables them, it does not drop them.
-- $1 text[]: the owners. $2 text: the successor role. $3 text: the quarantine role.
SELECT o.rolname::text AS owner, t.identity::text AS "table", 'rule' AS kind, r.rulename::text AS name, NULL::text AS function
  FROM pg_rewrite r
  JOIN pg_class c ON c.oid = r.ev_class
  JOIN pg_roles o ON o.oid = c.relowner
 CROSS JOIN LATERAL pg_identify_object('pg_class'::regclass, c.oid, 0) t
 WHERE o.rolname = ANY($1::text[]) AND c.relkind IN ('r', 'p') AND r.ev_enabled <> 'D'
UNION ALL
SELECT o.rolname::text, t.identity::text, 'trigger', tg.tgname::text, f.identity::text
  FROM pg_trigger tg
  JOIN pg_class c ON c.oid = tg.tgrelid
  JOIN pg_roles o ON o.oid = c.relowner
  JOIN pg_proc p ON p.oid = tg.tgfoid
  JOIN pg_roles fo ON fo.oid = p.proowner
 CROSS JOIN LATERAL pg_identify_object('pg_class'::regclass, c.oid, 0) t
 CROSS JOIN LATERAL pg_identify_object('pg_proc'::regclass, p.oid, 0) f
 WHERE o.rolname = ANY($1::text[]) AND c.relkind IN ('r', 'p') AND NOT tg.tgisinternal AND tg.tgenabled <> 'D'
   AND NOT {{trusted-function(p, fo, $3)}}
 ORDER BY 1, 2, 3, 4
