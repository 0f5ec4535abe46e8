-- Unit economics per month: the daily rows of unit_costs_daily summed per month, provider,
-- dimension and value, with the month's cost per 1M tokens (BigQuery SQL). Rewritten from all
-- of unit_costs_daily on every run (which re-derives every day silver changed), so late rows
-- land in their month. docs/cost_intelligence.md#unit-economics
SELECT
  DATE_TRUNC(charge_date, MONTH) AS month,
  provider,
  currency,
  dimension,
  dimension_value,
  SUM(tokens) AS tokens,
  SUM(billed_cost) AS billed_cost,
  SUM(expected_cost) AS expected_cost,
  SUM(cost) AS cost,
  ANY_VALUE(cost_basis) AS cost_basis,
  SAFE_DIVIDE(CAST(SUM(cost) AS FLOAT64) * 1000000, CAST(SUM(tokens) AS FLOAT64))
    AS cost_per_million_tokens,
  COUNT(DISTINCT charge_date) AS days,
  @run_id AS pipeline_logging_id,
  @now AS computed_at
FROM gold_reporting.unit_costs_daily
GROUP BY month, provider, currency, dimension, dimension_value
