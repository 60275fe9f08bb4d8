//! segql's custom functions, registered here and nowhere else: the holdout bucket of a
//! campaign member, and the integer keys customers are grouped by. Everything else in plans
//! is a DataFusion built-in.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, StringViewArray, StringViewBuilder, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use std::hash::Hasher;
use std::sync::Arc;

/// Buckets per campaign: a holdout of p% is the buckets below `p * 100`.
pub const BUCKETS: u64 = 10_000;

/// The bucket of a customer in a campaign: FNV-1a (64 bit) of the UTF-8 bytes of the campaign
/// name, the byte 0x1F and the customer id as text, modulo 10,000. The same on every run and
/// machine, and easy to recompute elsewhere.
pub fn holdout_bucket(campaign: &str, customer_id: &str) -> u64 {
    let mut h = fnv::FnvHasher::default();
    h.write(campaign.as_bytes());
    h.write(&[0x1f]);
    h.write(customer_id.as_bytes());
    h.finish() % BUCKETS
}

/// `segql_holdout_bucket(campaign, customer_id)` as a DataFusion function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HoldoutBucket {
    signature: Signature,
}

impl Default for HoldoutBucket {
    fn default() -> Self {
        HoldoutBucket {
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Utf8],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for HoldoutBucket {
    fn name(&self) -> &str {
        "segql_holdout_bucket"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(n))
            .collect::<Result<_>>()?;
        let [campaign, id] = arrays.as_slice() else {
            return exec_err!("segql_holdout_bucket takes two arguments");
        };
        let (campaign, id) = (campaign.as_string::<i32>(), id.as_string::<i32>());
        let out: UInt64Array = (0..n)
            .map(|i| {
                (!campaign.is_null(i) && !id.is_null(i))
                    .then(|| holdout_bucket(campaign.value(i), id.value(i)))
            })
            .collect();
        if n == 1
            && args
                .args
                .iter()
                .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Every custom function segql's plans use, for registration in a session.
pub fn all() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(HoldoutBucket::default()),
        ScalarUDF::from(IdKey::default()),
        ScalarUDF::from(IdText::default()),
    ]
}

/// The longest id, in bytes, that has an integer key.
pub const KEY_MAX_BYTES: usize = 15;

/// The message of the error [`IdKey`] raises on a longer id; the runtime then runs the plan
/// again with text keys.
pub const ID_TOO_LONG: &str = "segql_id_key: a customer id longer than 15 bytes";

/// The type of integer keys: 128-bit integers (as `Decimal128(38, 0)`, which DataFusion groups
/// and hashes as plain integers).
pub const KEY_TYPE: DataType = DataType::Decimal128(38, 0);

/// The integer key of an id of at most [`KEY_MAX_BYTES`] bytes: its bytes big-endian, zero
/// padded, then its length in the last byte, sign bit flipped. Distinct ids get distinct
/// keys, and keys order as their ids do (byte-wise).
pub fn id_key(id: &[u8]) -> Option<i128> {
    if id.len() > KEY_MAX_BYTES {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..id.len()].copy_from_slice(id);
    buf[15] = id.len() as u8;
    Some(i128::from_be_bytes(buf) ^ i128::MIN)
}

/// The id of a key made by [`id_key`].
pub fn id_of_key(key: i128) -> Option<([u8; 16], usize)> {
    let buf = (key ^ i128::MIN).to_be_bytes();
    let len = buf[15] as usize;
    (len <= KEY_MAX_BYTES && buf[len..15].iter().all(|b| *b == 0)).then_some((buf, len))
}

/// `segql_id_key(customer_id)`: the id's integer key ([`id_key`]). Customers are grouped by
/// it: DataFusion hashes and compares 128-bit integers faster than text. An id longer than
/// [`KEY_MAX_BYTES`] is an error ([`ID_TOO_LONG`]).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IdKey {
    signature: Signature,
}

impl Default for IdKey {
    fn default() -> Self {
        IdKey {
            signature: Signature::uniform(
                1,
                vec![DataType::Utf8View, DataType::Utf8, DataType::LargeUtf8],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for IdKey {
    fn name(&self) -> &str {
        "segql_id_key"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(KEY_TYPE)
    }

    /// NULL exactly where the argument is: the column keeps its nullability.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(self.name(), KEY_TYPE, nullable)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("segql_id_key takes one argument");
        };
        let ids = arg.to_array(args.number_rows)?;
        let keys = match ids.data_type() {
            DataType::Utf8View => view_keys(ids.as_string_view())?,
            DataType::Utf8 => text_keys(ids.as_string::<i32>().iter())?,
            DataType::LargeUtf8 => text_keys(ids.as_string::<i64>().iter())?,
            other => return exec_err!("segql_id_key takes text, not {other}"),
        };
        let keys = keys.with_data_type(KEY_TYPE);
        match arg {
            ColumnarValue::Scalar(_) => Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &keys, 0,
            )?)),
            ColumnarValue::Array(_) => Ok(ColumnarValue::Array(Arc::new(keys))),
        }
    }
}

/// Keys of string views: an inline view (at most 12 bytes) holds the id's bytes itself.
fn view_keys(ids: &StringViewArray) -> Result<Decimal128Array> {
    let mut out = Vec::with_capacity(ids.len());
    for (i, view) in ids.views().iter().enumerate() {
        let len = *view as u32 as usize;
        let key = if len <= 12 {
            // Bytes 4..16 of the view, little-endian: the id's bytes from the lowest, zeros
            // past its length.
            let mask = if len == 0 {
                0
            } else {
                u128::MAX >> (128 - 8 * len)
            };
            let data = (view >> 32) & mask;
            ((data.swap_bytes() | len as u128) as i128) ^ i128::MIN
        } else if ids.is_null(i) {
            0
        } else {
            let id = ids.value(i);
            match id_key(id.as_bytes()) {
                Some(k) => k,
                None => return exec_err!("{ID_TOO_LONG}: {id:?}"),
            }
        };
        out.push(key);
    }
    Ok(Decimal128Array::new(out.into(), ids.nulls().cloned()))
}

fn text_keys<'a>(ids: impl Iterator<Item = Option<&'a str>>) -> Result<Decimal128Array> {
    ids.map(|id| match id {
        None => Ok(None),
        Some(id) => match id_key(id.as_bytes()) {
            Some(k) => Ok(Some(k)),
            None => exec_err!("{ID_TOO_LONG}: {id:?}"),
        },
    })
    .collect()
}

/// `segql_id_text(key)`: the id of a key made by `segql_id_key`, as a string view.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IdText {
    signature: Signature,
}

impl Default for IdText {
    fn default() -> Self {
        IdText {
            signature: Signature::exact(vec![KEY_TYPE], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for IdText {
    fn name(&self) -> &str {
        "segql_id_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8View)
    }

    /// NULL exactly where the argument is: the column keeps its nullability.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Utf8View,
            nullable,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("segql_id_text takes one argument");
        };
        let keys = arg.to_array(args.number_rows)?;
        let keys = keys.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>();
        let mut out = StringViewBuilder::with_capacity(keys.len());
        for k in keys.iter() {
            match k {
                None => out.append_null(),
                Some(k) => {
                    let Some((buf, len)) = id_of_key(k) else {
                        return exec_err!("segql_id_text: {k} is not a customer id key");
                    };
                    match std::str::from_utf8(&buf[..len]) {
                        Ok(id) => out.append_value(id),
                        Err(_) => return exec_err!("segql_id_text: {k} is not a customer id key"),
                    }
                }
            }
        }
        let ids = out.finish();
        match arg {
            ColumnarValue::Scalar(_) => {
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&ids, 0)?))
            }
            ColumnarValue::Array(_) => Ok(ColumnarValue::Array(Arc::new(ids))),
        }
    }
}

/// The plan with customers grouped by their text ids instead of integer keys: every
/// `segql_id_key(id)` and `segql_id_text(key)` replaced by its argument. The runtime runs a
/// plan again this way when an id is too long for a key ([`ID_TOO_LONG`]).
pub fn without_id_keys(plan: LogicalPlan) -> Result<LogicalPlan> {
    let unwrap = |e: Expr| {
        e.transform_up(|e| match e {
            Expr::ScalarFunction(f)
                if matches!(f.name(), "segql_id_key" | "segql_id_text") && f.args.len() == 1 =>
            {
                Ok(Transformed::yes(
                    f.args.into_iter().next().expect("one argument"),
                ))
            }
            e => Ok(Transformed::no(e)),
        })
    };
    plan.transform_up_with_subqueries(|node| {
        // Every node's schema anew: a key's column changes type up to its projection back.
        let node = node.map_expressions(unwrap)?.data;
        Ok(Transformed::yes(node.recompute_schema()?))
    })
    .map(|t| t.data)
}

/// `segql_id_key(id)`.
pub fn id_key_expr(id: Expr) -> Expr {
    ScalarUDF::from(IdKey::default()).call(vec![id])
}

/// `segql_id_text(key)`.
pub fn id_text_expr(key: Expr) -> Expr {
    ScalarUDF::from(IdText::default()).call(vec![key])
}

/// The bucket expression for `campaign` and a customer id expression.
pub fn bucket_expr(campaign: &str, customer_id: Expr) -> Expr {
    use datafusion::logical_expr::{cast, lit};
    ScalarUDF::from(HoldoutBucket::default())
        .call(vec![lit(campaign), cast(customer_id, DataType::Utf8)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{LargeStringArray, StringArray};

    fn call(f: &dyn ScalarUDFImpl, arg: ArrayRef) -> Result<ArrayRef> {
        let n = arg.len();
        let args = ScalarFunctionArgs {
            arg_fields: vec![Arc::new(Field::new("a", arg.data_type().clone(), true))],
            args: vec![ColumnarValue::Array(arg)],
            number_rows: n,
            return_field: Arc::new(Field::new("r", f.return_type(&[])?, true)),
            config_options: Arc::new(Default::default()),
        };
        f.invoke_with_args(args)?.to_array(n)
    }

    /// Ids of every length a key holds, non-ASCII and NUL bytes included, in byte order.
    fn ids() -> Vec<Option<&'static str>> {
        vec![
            Some(""),
            None,
            Some("\0"),
            Some("1"),
            Some("10"),
            Some("9"),
            Some("C0000001"),
            Some("C0000001\0"),
            Some("C0000002"),
            Some("abcdefghijkl"),
            Some("abcdefghijklm"),
            Some("abcdefghijklmno"),
            Some("zz"),
            Some("ключ"),
            Some("карта-17"),
        ]
    }

    /// Keys are the same from every text type, distinct, ordered as the ids, and give the
    /// ids back.
    #[test]
    fn keys_round_trip_in_order() {
        let ids = ids();
        let views: ArrayRef = Arc::new(StringViewArray::from(ids.clone()));
        let utf8: ArrayRef = Arc::new(StringArray::from(ids.clone()));
        let large: ArrayRef = Arc::new(LargeStringArray::from(ids.clone()));
        let keys = call(&IdKey::default(), views).unwrap();
        assert_eq!(&keys, &call(&IdKey::default(), utf8).unwrap());
        assert_eq!(&keys, &call(&IdKey::default(), large).unwrap());
        let k = keys.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>();
        assert_eq!(k.null_count(), 1);
        let mut pairs: Vec<(i128, &str)> = (0..ids.len())
            .filter_map(|i| ids[i].map(|id| (k.value(i), id)))
            .collect();
        pairs.sort();
        let by_key: Vec<&str> = pairs.iter().map(|p| p.1).collect();
        let mut by_text = by_key.clone();
        by_text.sort();
        by_text.dedup();
        assert_eq!(by_key, by_text, "distinct keys, in the ids' order");
        let back = call(&IdText::default(), keys).unwrap();
        assert_eq!(back.as_string_view().iter().collect::<Vec<_>>(), ids);
    }

    /// Keys and ids are NULL exactly where their argument is: a column keeps its
    /// nullability through the aggregation.
    #[test]
    fn keys_keep_nullability() {
        for nullable in [false, true] {
            let arg = [Arc::new(Field::new("id", DataType::Utf8View, nullable))];
            let args = ReturnFieldArgs {
                arg_fields: &arg,
                scalar_arguments: &[None],
            };
            let key = IdKey::default().return_field_from_args(args).unwrap();
            assert_eq!(key.is_nullable(), nullable);
            let arg = [key];
            let args = ReturnFieldArgs {
                arg_fields: &arg,
                scalar_arguments: &[None],
            };
            let text = IdText::default().return_field_from_args(args).unwrap();
            assert_eq!(text.is_nullable(), nullable);
        }
    }

    /// A longer id is an error naming it, from every text type.
    #[test]
    fn long_ids_have_no_key() {
        let id = "a-customer-id-of-22-b";
        for arr in [
            Arc::new(StringViewArray::from(vec!["short", id])) as ArrayRef,
            Arc::new(StringArray::from(vec!["short", id])),
        ] {
            let e = call(&IdKey::default(), arr).unwrap_err().to_string();
            assert!(e.contains(ID_TOO_LONG) && e.contains(id), "{e}");
        }
        assert_eq!(id_key(&[b'x'; 15]).map(|_| ()), Some(()));
        assert_eq!(id_key(&[b'x'; 16]), None);
    }

    /// The buckets are fixed forever: changing the hash would move customers between groups.
    #[test]
    fn buckets_are_stable() {
        assert_eq!(
            holdout_bucket("spring", "C0000001"),
            holdout_bucket("spring", "C0000001")
        );
        let got: Vec<u64> = ["C0000001", "C0000002", "42"]
            .iter()
            .map(|c| holdout_bucket("winback", c))
            .collect();
        // FNV-1a 64 of "winback\x1fC0000001", ... modulo 10000, computed independently.
        let fnv = |s: &[u8]| {
            let mut h: u64 = 0xcbf29ce484222325;
            for b in s {
                h ^= *b as u64;
                h = h.wrapping_mul(0x100000001b3);
            }
            h % 10_000
        };
        let want: Vec<u64> = ["C0000001", "C0000002", "42"]
            .iter()
            .map(|c| fnv(format!("winback\u{1f}{c}").as_bytes()))
            .collect();
        assert_eq!(got, want);
    }
}
