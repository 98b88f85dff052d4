-- ngx-harbor schema, migration 0009: LDAP user groups.
--
-- An LDAP group is known by its DN, kept in one spelling (authd's
-- dir_dn_norm: LDAPv3 string form, ASCII in lower case) so that a login's
-- memberOf values match it with =; one group per DN.
CREATE UNIQUE INDEX user_group_ldap_dn ON user_group (ldap_group_dn)
    WHERE group_type = 1;
