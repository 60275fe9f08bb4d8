//! segql's only custom function, registered here and nowhere else: the holdout bucket of a
//! campaign member. Everything else in plans is a DataFusion built-in.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
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
    vec![ScalarUDF::from(HoldoutBucket::default())]
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
