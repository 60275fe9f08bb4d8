//! The holdout bucket of `segql_compiler::udf::holdout_bucket` as a function of each SQL
//! dialect: FNV-1a (64 bit) of the UTF-8 bytes of the campaign name, the byte 0x1F and the
//! customer id as text, modulo 10,000, computed exactly (the 64-bit product modulo 2^64 in
//! 128-bit or arbitrary-precision integers), NULL when either argument is NULL.
//!
//! XOR with a byte changes only the low 8 bits of the hash, so `h XOR b` is written
//! `h - h % 256 + ((h % 256) XOR b)` where a dialect has no XOR on wide integers.

use super::Dialect;

/// The name the emitted queries call.
pub const FUNCTION: &str = "segql_holdout_bucket";

/// DuckDB (1.3 or later, for the `lambda` syntax): a macro folding the bytes, read from the
/// hexadecimal text of the UTF-8 encoding, over `HUGEINT`.
const DUCKDB: &str = "\
CREATE OR REPLACE MACRO segql_holdout_bucket(campaign, customer_id) AS (
    CASE WHEN campaign IS NULL OR customer_id IS NULL THEN NULL ELSE
    list_reduce(
        list_concat(
            [CAST(14695981039346656037 AS HUGEINT)],
            list_transform(
                range(octet_length(encode(campaign || chr(31) || customer_id))),
                lambda i: CAST('0x' || substr(hex(encode(campaign || chr(31) || customer_id)), 2 * i + 1, 2) AS HUGEINT)
            )
        ),
        lambda h, b: (xor(h, b) * 1099511628211) % CAST(18446744073709551616 AS HUGEINT)
    ) % 10000 END
);";

/// PostgreSQL: a PL/pgSQL function over the bytes of `convert_to(..., 'UTF8')` in
/// `numeric`.
const POSTGRES: &str = "\
CREATE OR REPLACE FUNCTION segql_holdout_bucket(campaign text, customer_id text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $segql$
DECLARE
    bytes bytea := convert_to(campaign, 'UTF8') || '\\x1f'::bytea || convert_to(customer_id, 'UTF8');
    h numeric := 14695981039346656037;
    low integer;
BEGIN
    FOR i IN 0 .. length(bytes) - 1 LOOP
        low := mod(h, 256)::integer;
        h := mod((h - low + (low # get_byte(bytes, i))) * 1099511628211, 18446744073709551616);
    END LOOP;
    RETURN mod(h, 10000)::bigint;
END
$segql$;";

/// The statement that defines the function in `dialect`; `None` where the engine has it
/// already (DataFusion with segql's functions registered).
pub fn definition(dialect: Dialect) -> Option<&'static str> {
    match dialect {
        Dialect::DuckDb => Some(DUCKDB),
        Dialect::Postgres => Some(POSTGRES),
        Dialect::DataFusion => None,
    }
}
