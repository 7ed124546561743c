//! TPC-H data for benchmarks: the eight tables generated with the `tpchgen` crate as CSV
//! files (with a header line), and their DDL in Redshift types. Loading goes through tarn's
//! own `COPY`, so generating a benchmark also exercises the load path.

use std::fmt::Display;
use std::io::{BufWriter, Write};
use std::path::Path;

use tpchgen::csv::{CustomerCsv, LineItemCsv, NationCsv, OrderCsv, PartCsv, PartSuppCsv, RegionCsv, SupplierCsv};
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator, PartSuppGenerator,
    RegionGenerator, SupplierGenerator,
};

use crate::error::{Error, Result};

/// The TPC-H tables, smallest first.
pub const TABLES: [&str; 8] = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"];

/// `CREATE TABLE` for a TPC-H table, in Redshift types.
pub fn ddl(table: &str) -> Option<&'static str> {
    Some(match table {
        "region" => "CREATE TABLE region (r_regionkey integer NOT NULL, r_name char(25) NOT NULL, r_comment varchar(152))",
        "nation" => {
            "CREATE TABLE nation (n_nationkey integer NOT NULL, n_name char(25) NOT NULL, n_regionkey integer NOT NULL,
             n_comment varchar(152))"
        }
        "supplier" => {
            "CREATE TABLE supplier (s_suppkey bigint NOT NULL, s_name char(25) NOT NULL, s_address varchar(40) NOT NULL,
             s_nationkey integer NOT NULL, s_phone char(15) NOT NULL, s_acctbal decimal(15,2) NOT NULL,
             s_comment varchar(101) NOT NULL)"
        }
        "customer" => {
            "CREATE TABLE customer (c_custkey bigint NOT NULL, c_name varchar(25) NOT NULL, c_address varchar(40) NOT NULL,
             c_nationkey integer NOT NULL, c_phone char(15) NOT NULL, c_acctbal decimal(15,2) NOT NULL,
             c_mktsegment char(10) NOT NULL, c_comment varchar(117) NOT NULL)"
        }
        "part" => {
            "CREATE TABLE part (p_partkey bigint NOT NULL, p_name varchar(55) NOT NULL, p_mfgr char(25) NOT NULL,
             p_brand char(10) NOT NULL, p_type varchar(25) NOT NULL, p_size integer NOT NULL,
             p_container char(10) NOT NULL, p_retailprice decimal(15,2) NOT NULL, p_comment varchar(23) NOT NULL)"
        }
        "partsupp" => {
            "CREATE TABLE partsupp (ps_partkey bigint NOT NULL, ps_suppkey bigint NOT NULL, ps_availqty integer NOT NULL,
             ps_supplycost decimal(15,2) NOT NULL, ps_comment varchar(199) NOT NULL)"
        }
        "orders" => {
            "CREATE TABLE orders (o_orderkey bigint NOT NULL, o_custkey bigint NOT NULL, o_orderstatus char(1) NOT NULL,
             o_totalprice decimal(15,2) NOT NULL, o_orderdate date NOT NULL, o_orderpriority char(15) NOT NULL,
             o_clerk char(15) NOT NULL, o_shippriority integer NOT NULL, o_comment varchar(79) NOT NULL)"
        }
        "lineitem" => {
            "CREATE TABLE lineitem (l_orderkey bigint NOT NULL, l_partkey bigint NOT NULL, l_suppkey bigint NOT NULL,
             l_linenumber integer NOT NULL, l_quantity decimal(15,2) NOT NULL, l_extendedprice decimal(15,2) NOT NULL,
             l_discount decimal(15,2) NOT NULL, l_tax decimal(15,2) NOT NULL, l_returnflag char(1) NOT NULL,
             l_linestatus char(1) NOT NULL, l_shipdate date NOT NULL, l_commitdate date NOT NULL,
             l_receiptdate date NOT NULL, l_shipinstruct char(25) NOT NULL, l_shipmode char(10) NOT NULL,
             l_comment varchar(44) NOT NULL)"
        }
        _ => return None,
    })
}

/// The distribution and sort keys of `table` in the TPC-H DDL AWS publishes for Redshift
/// (amazon-redshift-utils, Cloud-DWB-Derived-from-TPCH), to append to [`ddl`].
pub fn aws_keys(table: &str) -> Option<&'static str> {
    Some(match table {
        "region" => "DISTKEY (r_regionkey) SORTKEY (r_regionkey)",
        "nation" => "DISTKEY (n_nationkey) SORTKEY (n_nationkey)",
        "supplier" => "DISTKEY (s_suppkey) SORTKEY (s_suppkey)",
        "customer" => "DISTKEY (c_custkey) SORTKEY (c_custkey)",
        "part" => "DISTKEY (p_partkey) SORTKEY (p_partkey)",
        "partsupp" => "DISTKEY (ps_partkey) SORTKEY (ps_partkey)",
        "orders" => "DISTKEY (o_orderkey) SORTKEY (o_orderdate, o_orderkey)",
        "lineitem" => "DISTKEY (l_orderkey) SORTKEY (l_shipdate, l_orderkey)",
        _ => return None,
    })
}

/// Writes `table` at scale factor `sf` as CSV with a header line to `path`.
pub fn write_csv(table: &str, sf: f64, path: &Path) -> Result<()> {
    let io = |source| Error::Io { context: format!("writing {}", path.display()), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).map_err(io)?);
    fn rows<T: Display>(out: &mut dyn Write, header: &str, rows: impl Iterator<Item = T>) -> std::io::Result<()> {
        writeln!(out, "{header}")?;
        for row in rows {
            writeln!(out, "{row}")?;
        }
        Ok(())
    }
    match table {
        "region" => rows(&mut out, RegionCsv::header(), RegionGenerator::new(sf, 1, 1).iter().map(RegionCsv::new)),
        "nation" => rows(&mut out, NationCsv::header(), NationGenerator::new(sf, 1, 1).iter().map(NationCsv::new)),
        "supplier" => {
            rows(&mut out, SupplierCsv::header(), SupplierGenerator::new(sf, 1, 1).iter().map(SupplierCsv::new))
        }
        "customer" => {
            rows(&mut out, CustomerCsv::header(), CustomerGenerator::new(sf, 1, 1).iter().map(CustomerCsv::new))
        }
        "part" => rows(&mut out, PartCsv::header(), PartGenerator::new(sf, 1, 1).iter().map(PartCsv::new)),
        "partsupp" => {
            rows(&mut out, PartSuppCsv::header(), PartSuppGenerator::new(sf, 1, 1).iter().map(PartSuppCsv::new))
        }
        "orders" => rows(&mut out, OrderCsv::header(), OrderGenerator::new(sf, 1, 1).iter().map(OrderCsv::new)),
        "lineitem" => {
            rows(&mut out, LineItemCsv::header(), LineItemGenerator::new(sf, 1, 1).iter().map(LineItemCsv::new))
        }
        other => return Err(Error::Invalid(format!("{other} is not a TPC-H table"))),
    }
    .map_err(io)?;
    out.flush().map_err(io)
}
