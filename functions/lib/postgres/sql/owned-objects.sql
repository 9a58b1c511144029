-- What the roles $1 own in the current database (with $3, also shared objects: databases, tablespaces), with what
-- deciding where each goes needs (reassign.ts): kind and identity (pg_identify_object: schema-qualified and quoted by
-- the server), who else holds privileges on it (object and column ACLs), the table a sequence belongs to, and the
-- functions it would run for its new owner.
--
-- Those functions are found by walking pg_depend from the object: into its parts (defaults, constraints, indexes,
-- policies, statistics, a domain's checks; not triggers and rules, which table-hooks.sql lists), and on to what they
-- use (types, operators, functions), transitively; other tables are not entered. Trusted code (trusted-function.sql)
-- is left out; functions of the roles $1 and of the quarantine role ($4) are "quarantined" (nobody holds EXECUTE on
-- them once offboarding ran, so a call fails); any other owner's function is "foreign": its owner could change it at
-- any time.
--
-- $1 text[]: the owners (the leaver; for the access review, every managed user and the quarantine role).
-- $2 text: the successor role. $3 boolean: include shared objects (asked in one database only).
-- $4 text: the quarantine role.
WITH RECURSIVE owned AS (
  SELECT d.classid, d.objid, o.oid AS owner_oid, o.rolname::text AS owner
    FROM pg_shdepend d
    JOIN pg_roles o ON o.oid = d.refobjid
   WHERE o.rolname = ANY($1::text[]) AND d.deptype = 'o'
     AND (d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) OR (d.dbid = 0 AND $3::boolean))
), reach (root_class, root, classid, objid, expand) AS (
  SELECT classid, objid, classid, objid, true FROM owned
  UNION
  SELECT r.root_class, r.root, e.classid, e.objid, e.expand
    FROM reach r
   CROSS JOIN LATERAL (
         SELECT d.refclassid, d.refobjid, d.refclassid <> 'pg_class'::regclass
           FROM pg_depend d
          WHERE d.classid = r.classid AND d.objid = r.objid
         UNION ALL
         SELECT d.classid, d.objid, true
           FROM pg_depend d
          WHERE d.refclassid = r.classid AND d.refobjid = r.objid AND d.deptype IN ('a', 'i')
            AND d.classid NOT IN ('pg_trigger'::regclass, 'pg_rewrite'::regclass)
         ) e (classid, objid, expand)
   WHERE r.expand
), calls AS (
  SELECT DISTINCT r.root_class, r.root, f.identity AS function,
         fo.rolname = ANY($1::text[]) OR fo.rolname = $4 AS quarantined
    FROM reach r
    JOIN pg_proc p ON r.classid = 'pg_proc'::regclass AND p.oid = r.objid
    JOIN pg_roles fo ON fo.oid = p.proowner
   CROSS JOIN LATERAL pg_identify_object('pg_proc'::regclass, p.oid, 0) f
   WHERE NOT (r.root_class = 'pg_proc'::regclass AND r.root = p.oid)
     AND NOT {{trusted-function(p, fo, $4)}}
)
SELECT o.owner,
       o.classid::regclass::text                                                AS catalog,
       x.type                                                                   AS kind,
       x.schema::text                                                           AS schema,
       x.identity::text                                                         AS identity,
       CASE o.classid
         WHEN 'pg_class'::regclass THEN (SELECT relkind::text FROM pg_class WHERE oid = o.objid)
         WHEN 'pg_proc'::regclass  THEN (SELECT prokind::text FROM pg_proc WHERE oid = o.objid)
         WHEN 'pg_type'::regclass  THEN (SELECT typtype::text FROM pg_type WHERE oid = o.objid)
       END                                                                      AS subkind,
       ARRAY(SELECT DISTINCT g.rolname::text
               FROM unnest(acl.grantees) a JOIN pg_roles g ON g.oid = a
              WHERE a <> o.owner_oid ORDER BY 1)                                AS grantees,
       (SELECT t.identity::text
          FROM pg_depend d CROSS JOIN LATERAL pg_identify_object(d.refclassid, d.refobjid, 0) t
         WHERE o.classid = 'pg_class'::regclass AND d.classid = o.classid AND d.objid = o.objid
           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
           AND (SELECT relkind FROM pg_class WHERE oid = o.objid) = 'S'
         LIMIT 1)                                                               AS follows,
       ARRAY(SELECT c.function FROM calls c WHERE c.root_class = o.classid AND c.root = o.objid AND c.quarantined ORDER BY 1)     AS calls_quarantined,
       ARRAY(SELECT c.function FROM calls c WHERE c.root_class = o.classid AND c.root = o.objid AND NOT c.quarantined ORDER BY 1) AS calls_foreign,
       coalesce((SELECT has_schema_privilege(n.oid, 'CREATE WITH GRANT OPTION') OR pg_has_role(n.nspowner, 'USAGE')
                        OR n.nspowner = o.owner_oid OR pg_get_userbyid(n.nspowner) = $2
                   FROM pg_namespace n WHERE n.nspname = x.schema), true)      AS admin_can_grant_create
  FROM owned o
 CROSS JOIN LATERAL pg_identify_object(o.classid, o.objid, 0) x
 CROSS JOIN LATERAL (
       SELECT ARRAY(SELECT (aclexplode(c.relacl)).grantee FROM pg_class c WHERE o.classid = 'pg_class'::regclass AND c.oid = o.objid
                    UNION SELECT (aclexplode(a.attacl)).grantee FROM pg_attribute a WHERE o.classid = 'pg_class'::regclass AND a.attrelid = o.objid
                    UNION SELECT (aclexplode(p.proacl)).grantee FROM pg_proc p WHERE o.classid = 'pg_proc'::regclass AND p.oid = o.objid
                    UNION SELECT (aclexplode(t.typacl)).grantee FROM pg_type t WHERE o.classid = 'pg_type'::regclass AND t.oid = o.objid
                    UNION SELECT (aclexplode(s.srvacl)).grantee FROM pg_foreign_server s WHERE o.classid = 'pg_foreign_server'::regclass AND s.oid = o.objid
              ) AS grantees) acl
 ORDER BY 1, 2, 5
