//! A thin plan builder: DataFusion's `LogicalPlanBuilder` without its walk of the whole input
//! plan for every column reference.
//!
//! `LogicalPlanBuilder` normalises each column reference (qualifies it with its table)
//! against the input's schema and against the `USING` join columns of the whole input plan,
//! which it collects anew, expressions included, for every column. A 20-condition segment
//! has hundreds of column references over a plan of dozens of nodes: that walk was about
//! 70% of its compile time. segql never builds `USING` joins, so here columns are
//! normalised against the schemas alone, once per expression. Projection and aggregation
//! schemas are computed here too (see [`fields`]), and subquery aliases take bare names;
//! joins and sorts are `LogicalPlanBuilder`'s own.

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::datatype::FieldExt;
use datafusion::common::{
    Column, DFSchema, DFSchemaRef, ExprSchema, FunctionalDependencies, Result, TableReference,
};
use datafusion::logical_expr::ExprSchemable;
use datafusion::logical_expr::ReturnFieldArgs;
use datafusion::logical_expr::expr_rewriter::normalize_col_with_schemas_and_ambiguity_check;
use datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{
    Aggregate, AggregateUDF, Expr, Filter, GroupingSet, JoinType, LogicalPlan, LogicalPlanBuilder,
    Projection, SortExpr, SubqueryAlias, Window,
};
use std::sync::Arc;

/// Builds a logical plan node by node (see the module documentation).
#[derive(Debug, Clone)]
pub struct PlanBuilder {
    plan: LogicalPlan,
}

impl From<LogicalPlan> for PlanBuilder {
    fn from(plan: LogicalPlan) -> Self {
        PlanBuilder { plan }
    }
}

impl PlanBuilder {
    /// The output schema of the plan built so far.
    pub fn schema(&self) -> &DFSchemaRef {
        self.plan.schema()
    }

    /// The plan built so far.
    pub fn build(self) -> Result<LogicalPlan> {
        Ok(self.plan)
    }

    /// Rows for which `predicate` is true.
    pub fn filter(self, predicate: Expr) -> Result<Self> {
        let predicate = self.normalize(predicate)?;
        let node = Filter::try_new(predicate, Arc::new(self.plan))?;
        Ok(LogicalPlan::Filter(node).into())
    }

    /// The given expressions, each named by its alias or its display.
    pub fn project(self, exprs: impl IntoIterator<Item = Expr>) -> Result<Self> {
        let exprs = self.normalize_all(exprs)?;
        let input = self.plan.schema();
        let fields = fields(&exprs, input)?;
        let schema = DFSchema::new_with_metadata(fields, DFSchema::metadata(input).clone())?
            .with_functional_dependencies(projected_dependencies(&exprs, input))?;
        let input = Arc::new(self.plan);
        #[cfg(debug_assertions)]
        let expected = Projection::try_new(exprs.clone(), Arc::clone(&input))?.schema;
        let node = Projection::try_new_with_schema(exprs, input, Arc::new(schema))?;
        #[cfg(debug_assertions)]
        same_schema(&node.schema, &expected);
        Ok(LogicalPlan::Projection(node).into())
    }

    /// One row per distinct value of `group`, with the aggregates `aggs`.
    pub fn aggregate(
        self,
        group: impl IntoIterator<Item = Expr>,
        aggs: impl IntoIterator<Item = Expr>,
    ) -> Result<Self> {
        let group = self.normalize_all(group)?;
        let aggs = self.normalize_all(aggs)?;
        let input = self.plan.schema();
        let mut all = fields(&group, input)?;
        all.extend(fields(&aggs, input)?);
        let schema = Arc::new(DFSchema::new_with_metadata(
            all,
            DFSchema::metadata(input).clone(),
        )?);
        let input = Arc::new(self.plan);
        #[cfg(debug_assertions)]
        let expected = Aggregate::try_new(Arc::clone(&input), group.clone(), aggs.clone())?.schema;
        let node = Aggregate::try_new_with_schema(input, group, aggs, schema)?;
        #[cfg(debug_assertions)]
        same_schema(&node.schema, &expected);
        Ok(LogicalPlan::Aggregate(node).into())
    }

    /// One row per distinct value of the expressions of each grouping set (the others NULL),
    /// with the aggregates `aggs` and DataFusion's `__grouping_id` telling the set. Rare
    /// enough that the schema is DataFusion's own.
    pub fn aggregate_sets(
        self,
        sets: Vec<Vec<Expr>>,
        aggs: impl IntoIterator<Item = Expr>,
    ) -> Result<Self> {
        let sets = sets
            .into_iter()
            .map(|set| self.normalize_all(set))
            .collect::<Result<Vec<_>>>()?;
        let aggs = self.normalize_all(aggs)?;
        let group = vec![Expr::GroupingSet(GroupingSet::GroupingSets(sets))];
        let node = Aggregate::try_new(Arc::new(self.plan), group, aggs)?;
        Ok(LogicalPlan::Aggregate(node).into())
    }

    /// The input with one column per window function appended.
    pub fn window(self, exprs: impl IntoIterator<Item = Expr>) -> Result<Self> {
        let exprs = self.normalize_all(exprs)?;
        let node = Window::try_new(exprs, Arc::new(self.plan))?;
        Ok(LogicalPlan::Window(node).into())
    }

    /// The plan under the table name `name` (a subquery alias), taken as a bare name rather
    /// than parsed as SQL.
    pub fn alias(self, name: &str) -> Result<Self> {
        let node = SubqueryAlias::try_new(Arc::new(self.plan), TableReference::bare(name))?;
        Ok(LogicalPlan::SubqueryAlias(node).into())
    }

    /// An equi-join with `right` on pairs of key columns.
    pub fn join(
        self,
        right: LogicalPlan,
        join_type: JoinType,
        keys: (Vec<Column>, Vec<Column>),
    ) -> Result<Self> {
        self.with_builder(|b| b.join(right, join_type, keys, None))
    }

    /// Rows in the order of `exprs`.
    pub fn sort(self, exprs: Vec<SortExpr>) -> Result<Self> {
        self.with_builder(|b| b.sort(exprs))
    }

    /// The first `fetch` rows in the order of `exprs` (all of them with `None`).
    pub fn sort_with_limit(self, exprs: Vec<SortExpr>, fetch: Option<usize>) -> Result<Self> {
        self.with_builder(|b| b.sort_with_limit(exprs, fetch))
    }

    fn with_builder(
        self,
        f: impl FnOnce(LogicalPlanBuilder) -> Result<LogicalPlanBuilder>,
    ) -> Result<Self> {
        Ok(f(LogicalPlanBuilder::from(self.plan))?.build()?.into())
    }

    fn normalize_all(&self, exprs: impl IntoIterator<Item = Expr>) -> Result<Vec<Expr>> {
        exprs.into_iter().map(|e| self.normalize(e)).collect()
    }

    /// Qualifies the column references of `expr` as `LogicalPlanBuilder` does, against the
    /// plan's schema and then its inputs' schemas, with no `USING` columns.
    fn normalize(&self, expr: Expr) -> Result<Expr> {
        let schema = self.plan.schema();
        let fallback = self.plan.fallback_normalize_schemas();
        normalize_col_with_schemas_and_ambiguity_check(expr, &[&[schema], &fallback], &[])
    }
}

/// The output fields of `exprs` over `input`: what DataFusion's `ExprSchemable::to_field`
/// computes, without its naming of every sub-expression.
///
/// `to_field` renders each sub-expression's display name on its way down, only to rename the
/// field afterwards: for the nested CASE and FILTER aggregates of a 20-condition segment that
/// was about a third of its compile time. Here a name is rendered only for a top-level
/// expression that is neither a column nor aliased, by `to_field` itself, and any expression
/// kind not followed below, or any error, is left to `to_field` too. Debug builds check every
/// schema built this way against DataFusion's own (see [`PlanBuilder::project`]).
fn fields(exprs: &[Expr], input: &DFSchema) -> Result<Vec<(Option<TableReference>, FieldRef)>> {
    let mut typer = Typer {
        input,
        coercions: Vec::new(),
    };
    exprs
        .iter()
        .map(|e| {
            let named = match e {
                Expr::Alias(a) if a.metadata.is_none() => typer
                    .field_type(&a.expr)
                    .map(|f| (a.relation.clone(), f.renamed(&a.name))),
                Expr::Column(c) => typer.field_type(e).map(|f| (c.relation.clone(), f)),
                _ => return e.to_field(input),
            };
            named.or_else(|_| e.to_field(input))
        })
        .collect()
}

/// Computes the fields of one node's expressions (see [`fields`]).
struct Typer<'a> {
    input: &'a DFSchema,
    /// The argument types each aggregate function was called with in this node, and what
    /// its signature coerced them to (`None`: unchanged). A node's aggregates repeat a few
    /// calls (`count` of a FILTER, `sum` of a CASE) many times, and DataFusion's signature
    /// matching, which formats an error for every alternative that does not match, was the
    /// largest part of typing them.
    coercions: Vec<Coercion>,
}

/// An aggregate function, the argument types it was called with, and their coerced types.
type Coercion = (*const AggregateUDF, Vec<DataType>, Option<Vec<DataType>>);

impl Typer<'_> {
    /// The type, nullability and metadata of `expr` over the input, as `to_field` computes
    /// them; the field's name is left as it comes.
    fn field_type(&mut self, expr: &Expr) -> Result<FieldRef> {
        let input = self.input;
        let boolean = |nullable| Ok(Arc::new(Field::new("", DataType::Boolean, nullable)));
        match expr {
            Expr::Alias(a) if a.metadata.is_none() => self.field_type(&a.expr),
            Expr::Negative(e) => self.field_type(e),
            Expr::Column(c) => Ok(Arc::clone(input.field_from_column(c)?)),
            Expr::Literal(v, metadata) => Ok(Arc::new(
                Field::new("", v.data_type(), v.is_null())
                    .with_field_metadata_opt(metadata.as_ref()),
            )),
            Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsUnknown(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNotFalse(_)
            | Expr::IsNotUnknown(_) => boolean(false),
            Expr::BinaryExpr(b) => {
                let (l, r) = (self.field_type(&b.left)?, self.field_type(&b.right)?);
                let t = BinaryTypeCoercer::new(l.data_type(), &b.op, r.data_type())
                    .get_result_type()?;
                Ok(Arc::new(Field::new(
                    "",
                    t,
                    l.is_nullable() || r.is_nullable(),
                )))
            }
            Expr::AggregateFunction(f) => {
                let args = self.arg_types(&f.params.args)?;
                let args = self.coerce(&f.func, args)?;
                f.func.return_field(&args)
            }
            Expr::ScalarFunction(f) => {
                let args = fields_with_udf(&self.arg_types(&f.args)?, f.func.as_ref())?;
                let literals: Vec<_> = f
                    .args
                    .iter()
                    .map(|e| match e {
                        Expr::Literal(v, _) => Some(v),
                        _ => None,
                    })
                    .collect();
                f.func.return_field_from_args(ReturnFieldArgs {
                    arg_fields: &args,
                    scalar_arguments: &literals,
                })
            }
            Expr::Cast(c) => Ok(cast_field(&self.field_type(&c.expr)?, &c.field, false)),
            Expr::TryCast(c) => Ok(cast_field(&self.field_type(&c.expr)?, &c.field, true)),
            Expr::Case(_) | Expr::Between(_) | Expr::InList(_) | Expr::Not(_) => Ok(Arc::new(
                Field::new("", expr.get_type(input)?, expr.nullable(input)?),
            )),
            _ => Ok(expr.to_field(input)?.1),
        }
    }

    fn arg_types(&mut self, args: &[Expr]) -> Result<Vec<FieldRef>> {
        args.iter().map(|a| self.field_type(a)).collect()
    }

    /// `args` coerced to the signature of `func`, as `fields_with_udf` does, matched once per
    /// distinct call in this node.
    fn coerce(&mut self, func: &Arc<AggregateUDF>, args: Vec<FieldRef>) -> Result<Vec<FieldRef>> {
        let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
        let ptr = Arc::as_ptr(func);
        let known = self
            .coercions
            .iter()
            .find(|(g, t, _)| *g == ptr && *t == types);
        let coerced = match known {
            Some((_, _, c)) => c.clone(),
            None => {
                let fields = fields_with_udf(&args, func.as_ref())?;
                let coerced: Vec<DataType> = fields.iter().map(|a| a.data_type().clone()).collect();
                let c = (coerced != types).then_some(coerced);
                self.coercions.push((ptr, types, c.clone()));
                c
            }
        };
        Ok(match coerced {
            None => args,
            Some(types) => args
                .into_iter()
                .zip(types)
                .map(|(a, t)| Arc::new(a.as_ref().clone().with_data_type(t)))
                .collect(),
        })
    }
}

/// Arrow's extension type metadata keys (`arrow_schema::extension`, which `arrow` does not
/// re-export).
const EXTENSION_TYPE_NAME_KEY: &str = "ARROW:extension:name";
const EXTENSION_TYPE_METADATA_KEY: &str = "ARROW:extension:metadata";

/// The field of a cast of `source` to `target`, as DataFusion derives it: a cast to a bare
/// type keeps the source's metadata but for its extension type, any other keeps the target's.
fn cast_field(source: &FieldRef, target: &FieldRef, nullable: bool) -> FieldRef {
    let type_only =
        target.name().is_empty() && target.is_nullable() && target.metadata().is_empty();
    let metadata = if type_only {
        let mut m = source.metadata().clone();
        m.remove(EXTENSION_TYPE_NAME_KEY);
        m.remove(EXTENSION_TYPE_METADATA_KEY);
        m
    } else {
        target.metadata().clone()
    };
    let mut f = source
        .as_ref()
        .clone()
        .with_data_type(target.data_type().clone())
        .with_metadata(metadata);
    if nullable {
        f = f.with_nullable(true);
    }
    Arc::new(f)
}

/// The input's functional dependencies carried by a projection: a column, aliased or not, keeps
/// its dependencies; any other expression is a new value. DataFusion matches the display of
/// each expression against the input's qualified field names, which for columns is this.
fn projected_dependencies(exprs: &[Expr], input: &DFSchema) -> FunctionalDependencies {
    let deps = input.functional_dependencies();
    if deps.is_empty() {
        return FunctionalDependencies::empty();
    }
    let indices: Vec<usize> = exprs
        .iter()
        .map(|e| {
            let column = match e {
                Expr::Alias(a) => match a.expr.as_ref() {
                    Expr::Column(c) => Some(c),
                    _ => None,
                },
                Expr::Column(c) => Some(c),
                _ => None,
            };
            column
                .and_then(|c| {
                    input
                        .iter()
                        .position(|(q, f)| f.name() == &c.name && q == c.relation.as_ref())
                })
                .unwrap_or(usize::MAX)
        })
        .collect();
    deps.project_functional_dependencies(&indices, exprs.len())
}

/// Debug builds: a schema built by [`fields`] is DataFusion's own (`DFSchema`'s equality
/// covers fields, qualifiers and functional dependencies).
#[cfg(debug_assertions)]
fn same_schema(built: &DFSchema, expected: &DFSchema) {
    assert_eq!(built, expected, "segql's schema differs from DataFusion's");
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Schema, TimeUnit};
    use datafusion::common::ScalarValue;
    use datafusion::functions::expr_fn::coalesce;
    use datafusion::functions_aggregate::expr_fn::{avg, count, max, min, sum};
    use datafusion::logical_expr::logical_plan::builder::table_scan;
    use datafusion::logical_expr::{ExprFunctionExt, cast, ident, lit, try_cast, when};

    /// `exprs` with their columns qualified as [`PlanBuilder`] qualifies them over `plan`.
    fn normalized(plan: &LogicalPlan, exprs: Vec<Expr>) -> Result<Vec<Expr>> {
        PlanBuilder::from(plan.clone()).normalize_all(exprs)
    }

    fn input() -> LogicalPlan {
        let schema = Schema::new(vec![
            Field::new("customer_id", DataType::Utf8View, false),
            Field::new("amount", DataType::Decimal128(12, 2), true),
            Field::new("quantity", DataType::Int32, true),
            Field::new("ts", DataType::Date32, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            Field::new("city", DataType::Utf8, true),
            Field::new("score", DataType::Float32, false),
        ]);
        table_scan(Some("t"), &schema, None)
            .and_then(|b| b.build())
            .expect("a table scan")
    }

    /// Every kind of expression `field_type` follows, nested, with nullable and non-nullable
    /// inputs: the projection's and the aggregation's schemas are DataFusion's own, also in
    /// release builds where [`same_schema`] does not run.
    #[test]
    fn schemas_are_datafusions() -> Result<()> {
        let input = input();
        let q = || ident("quantity");
        let exprs = vec![
            ident("customer_id"),
            Expr::Column(Column::new(Some(TableReference::bare("t")), "amount")),
            ident("customer_id").alias("id"),
            (ident("amount") * lit(2i64) + cast(q(), DataType::Int64)).alias("arith"),
            (-ident("score")).alias("neg"),
            lit(ScalarValue::Int64(None)).alias("null"),
            lit(1.5f64).alias("one_and_a_half"),
            ident("ts").is_null().alias("no_ts"),
            ident("city").is_not_null().alias("has_city"),
            ident("ts")
                .gt(lit(ScalarValue::Date32(Some(20000))))
                .alias("late"),
            when(q().gt(lit(0i32)), q())
                .otherwise(lit(0i32))?
                .alias("case"),
            when(q().gt(lit(0i32)), lit(1i64))
                .end()?
                .alias("case_no_else"),
            q().between(lit(1i32), lit(5i32)).alias("between"),
            ident("city")
                .in_list(vec![lit("Kyiv"), lit("Lviv")], true)
                .alias("in_list"),
            Expr::Not(Box::new(ident("ts").is_null())).alias("not"),
            coalesce(vec![q(), lit(0i32)]).alias("coalesce"),
            coalesce(vec![ident("score"), lit(0f32)]).alias("coalesce_non_null"),
            try_cast(ident("city"), DataType::Int64).alias("try_cast"),
            cast(ident("at"), DataType::Date32).alias("cast"),
            (ident("at") - ident("at")).alias("interval"),
            lit(7i64) + q(),
        ];
        let projected = PlanBuilder::from(input.clone()).project(exprs.clone())?;
        let exprs = normalized(&input, exprs)?;
        let expected = Projection::try_new(exprs, Arc::new(input.clone()))?.schema;
        assert_eq!(projected.schema().as_ref(), expected.as_ref());

        let group = vec![ident("customer_id"), ident("city").alias("town")];
        let aggs = vec![
            sum(ident("amount")).alias("spend"),
            sum(q()).alias("items"),
            sum(cast(q(), DataType::Int64))
                .filter(ident("ts").gt(lit(ScalarValue::Date32(Some(20000)))))
                .build()?
                .alias("items_late"),
            count(ident("ts")).distinct().build()?.alias("days"),
            max(ident("ts")).alias("last"),
            min(ident("at")).alias("first"),
            avg(ident("score")).alias("mean"),
            sum(when(ident("ts").is_null(), lit(1i64)).otherwise(lit(0i64))?).alias("undated"),
            max(ident("city")),
        ];
        let aggregated = PlanBuilder::from(input.clone()).aggregate(group.clone(), aggs.clone())?;
        let (group, aggs) = (normalized(&input, group)?, normalized(&input, aggs)?);
        let expected = Aggregate::try_new(Arc::new(input), group, aggs)?.schema;
        assert_eq!(aggregated.schema().as_ref(), expected.as_ref());
        assert_eq!(
            aggregated.schema().functional_dependencies(),
            expected.functional_dependencies()
        );
        // The projection of the aggregation carries its key's dependencies.
        let exprs = vec![
            ident("spend"),
            ident("customer_id").alias("id"),
            ident("town"),
        ];
        let carried = aggregated.clone().project(exprs.clone())?;
        let aggregated = aggregated.build()?;
        let exprs = normalized(&aggregated, exprs)?;
        let expected = Projection::try_new(exprs, Arc::new(aggregated))?.schema;
        assert!(!expected.functional_dependencies().is_empty());
        assert_eq!(carried.schema().as_ref(), expected.as_ref());
        Ok(())
    }
}
