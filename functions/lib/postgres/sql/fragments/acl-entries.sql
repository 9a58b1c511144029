-- fragment: acl-entries(acl)
-- The entries of an ACL as FROM items, one row per (grantee, privilege). `aclexplode(acl)` reads its argument again
-- for every row it returns, and a `datacl` of a few hundred grants is stored TOASTed, so it detoasted the whole
-- array per row: quadratic in the number of users holding CONNECT (measured: 145 ms at 1,000 grants, 3.5 s at 5,000).
-- `unnest` detoasts the array once and keeps it; each item is then exploded on its own, which is linear (3-20 ms at
-- 5,000). A MATERIALIZED CTE does not help: it keeps the TOAST pointer.
-- acl: an aclitem[] expression. The caller names the aclexplode item (`... a`).
unnest({{acl}}) acl_item, aclexplode(ARRAY[acl_item])
