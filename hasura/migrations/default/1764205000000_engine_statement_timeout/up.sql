-- A GraphQL query that runs away (issue 14: nested relationships, a huge aggregate) is cut
-- off by PostgreSQL after 10 s instead of holding a connection of Hasura's pool.
--
-- `hasura migrate apply` runs this through the engine, so current_user is the role of
-- Hasura's PG_DATABASE_URL. The setting is scoped to this database and that role: the
-- functions, when they have their own user (docs/infrastructure.md), keep the default, since
-- their crons run long batches. A new session picks it up; Hasura's pool renews its
-- connections within connection_lifetime (databases.yaml). docs/operations.md, GraphQL limits.
DO $$
BEGIN
  EXECUTE format('ALTER ROLE %I IN DATABASE %I SET statement_timeout = %L',
                 current_user, current_database(), '10s');
END
$$;
