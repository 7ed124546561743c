-- The seed workflow's warehouse layout and raw tables (sections 1 and 2), as users write them.
CREATE SCHEMA raw_data;     -- tables copied as-is from sources by ETL
CREATE SCHEMA analytics;    -- summary tables built from raw_data (ELT)
CREATE SCHEMA adhoc;        -- scratch space for analysts
CREATE SCHEMA pii;          -- personal data, restricted

CREATE TABLE raw_data.user_session_channel (
   userid integer ,
   sessionid varchar(32) primary key,
   channel varchar(32)
);
CREATE TABLE raw_data.session_timestamp (
   sessionid varchar(32) primary key,
   ts timestamp
);
CREATE TABLE raw_data.name_gender (
   name varchar(32) primary key,
   gender varchar(8)
);
