-- The database roles of compose.yaml, made once by roles.sh as the superuser (psql variables:
-- owner, hub, monitor, db, and secrets, the folder of the password files).
--   owner  owns the database and all `renkei db migrate` makes in it; the offices, the CA and
--          the portal connect as it (their schemas are in this one database)
--   hub    the hub processes' role: it may connect, and `db migrate` (RENKEI_DB_HUB_ROLE) grants
--          it reading and appending to the access records and the directory, nothing more
--   monitor  the monitor's role: `db migrate` (RENKEI_DB_MONITOR_ROLE) grants it its schema
--          `monitor` (spans, alerts) and reading the access records, nothing more
-- None may create roles or databases, nor is a superuser: `db migrate` refuses a hub or
-- monitor role that could do more.
\set ON_ERROR_STOP on
\set owner_password `cat :secrets/db-owner-password`
\set hub_password `cat :secrets/db-hub-password`
\set monitor_password `cat :secrets/db-monitor-password`
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE :"hub" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'hub_password';
CREATE ROLE :"monitor" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'monitor_password';
ALTER DATABASE :"db" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"hub", :"monitor";
