-- fragment: trusted-function(p, fo, quarantine)
-- Code the successor may run as it is: internal functions, functions of superusers, of the successor ($2) and of the
-- connected admin, and functions that belong to an extension (their code comes from the extension's script; the
-- extension's creator cannot rewrite them in place). The roles $1 (the leavers) and the quarantine role never own
-- trusted extension code.
-- p: a pg_proc row. fo: its owner's pg_roles row. quarantine: the quarantine role's name (a parameter of the statement).
-- The including statement's $1 is the leavers (text[]) and $2 the successor (text).
({{p}}.prolang = (SELECT oid FROM pg_language WHERE lanname = 'internal') OR {{fo}}.rolsuper OR {{fo}}.rolname = $2 OR {{fo}}.rolname = current_user
    OR (EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = 'pg_proc'::regclass AND x.objid = {{p}}.oid AND x.deptype = 'e')
        AND NOT ({{fo}}.rolname = ANY($1::text[]) OR {{fo}}.rolname = {{quarantine}})))
