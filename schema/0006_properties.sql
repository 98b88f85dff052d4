-- the settings changed through PUT /api/v2.0/configurations (Harbor's
-- "properties" table): a key absent here has authd.yml's value
CREATE TABLE properties (
    k               varchar(64) PRIMARY KEY,
    v               text NOT NULL,
    update_time     timestamptz NOT NULL DEFAULT now()
);
