-- ngx-harbor schema, migration 0011: a session keeps whether its login
-- made the user a system administrator through the directory
-- (ldap_group_admin_dn), as a token does for its own lifetime.  The
-- database flag (users.sysadmin_flag) is not changed by a directory
-- login; a change of the directory group takes effect at the next login.
ALTER TABLE sessions ADD COLUMN dir_admin boolean NOT NULL DEFAULT false;
