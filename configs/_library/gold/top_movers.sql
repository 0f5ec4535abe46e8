-- Top movers week over week: per provider, dimension (model, sub_account, api_key) and value,
-- the cost of the 7 days ending on the newest day of unit_costs_daily against the 7 days
-- before, and the change; rank 1 = the largest absolute change within its dimension
-- (BigQuery SQL). Rewritten from all of unit_costs_daily on every run.
-- docs/cost_intelligence.md#top-movers
WITH anchor AS (
  SELECT MAX(charge_date) AS as_of_date FROM gold_reporting.unit_costs_daily
),
weekly AS (
  SELECT
    a.as_of_date,
    u.provider,
    u.currency,
    u.dimension,
    u.dimension_value,
    SUM(IF(u.charge_date > DATE_SUB(a.as_of_date, INTERVAL 7 DAY), u.cost, NULL)) AS this_week,
    SUM(IF(u.charge_date <= DATE_SUB(a.as_of_date, INTERVAL 7 DAY), u.cost, NULL))
      AS previous_week,
    SUM(IF(u.charge_date > DATE_SUB(a.as_of_date, INTERVAL 7 DAY), u.tokens, NULL))
      AS this_week_tokens,
    SUM(IF(u.charge_date <= DATE_SUB(a.as_of_date, INTERVAL 7 DAY), u.tokens, NULL))
      AS previous_week_tokens
  FROM gold_reporting.unit_costs_daily AS u
  CROSS JOIN anchor AS a
  WHERE u.charge_date > DATE_SUB(a.as_of_date, INTERVAL 14 DAY)
  GROUP BY a.as_of_date, u.provider, u.currency, u.dimension, u.dimension_value
),
changed AS (
  SELECT
    *,
    IFNULL(this_week, CAST(0 AS BIGNUMERIC)) - IFNULL(previous_week, CAST(0 AS BIGNUMERIC))
      AS change
  FROM weekly
)
SELECT
  as_of_date,
  provider,
  currency,
  dimension,
  dimension_value,
  IFNULL(this_week, CAST(0 AS BIGNUMERIC)) AS this_week_cost,
  IFNULL(previous_week, CAST(0 AS BIGNUMERIC)) AS previous_week_cost,
  change,
  SAFE_DIVIDE(CAST(change AS FLOAT64), CAST(previous_week AS FLOAT64)) AS change_ratio,
  SAFE_DIVIDE(CAST(this_week AS FLOAT64) * 1000000, CAST(this_week_tokens AS FLOAT64))
    AS this_week_cost_per_million,
  SAFE_DIVIDE(CAST(previous_week AS FLOAT64) * 1000000, CAST(previous_week_tokens AS FLOAT64))
    AS previous_week_cost_per_million,
  ROW_NUMBER() OVER (
    PARTITION BY dimension ORDER BY ABS(change) DESC, provider, dimension_value
  ) AS rank,
  @run_id AS pipeline_logging_id,
  @now AS computed_at
FROM changed
