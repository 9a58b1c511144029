-- Whether the connected admin holds (inheriting) the privileges of a role: REASSIGN OWNED and DROP OWNED need those
-- of both the leaver and the successor.
-- $1 text: the role's name.
SELECT pg_has_role(current_user, $1, 'USAGE') AS ok
