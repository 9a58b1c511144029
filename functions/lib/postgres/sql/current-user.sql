-- The role this connection acts as: the admin, which no request may name.
-- No parameters.
SELECT current_user AS u
