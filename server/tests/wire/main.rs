//! `tarn serve` as clients meet it: tokio-postgres (simple and extended protocol, binary
//! results, parameters, errors, cancel, sign-in, shutdown), the team's Python drivers
//! (psycopg2, psycopg, SQLAlchemy + pandas, asyncpg, redshift_connector) and a soak of 32
//! concurrent clients. One test binary for the crate.

mod common;
mod python;
mod rust_clients;
mod soak;
