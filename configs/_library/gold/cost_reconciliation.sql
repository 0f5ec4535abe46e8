-- Does the bill match tokens × price? Billed cost against usage-derived expected cost per day,
-- provider, sub-account (project / workspace) and billed line item (BigQuery SQL).
-- billed: silver FOCUS rows of the providers whose usage is priced (silver_cost.usage_priced),
-- summed per line item (SkuPriceId). expected: usage × the tenant's contracted unit price in
-- force that day, every service tier at its own price (batch, priority …), summed per the line
-- item the usage is billed under. Both exact (BIGNUMERIC). status:
--   match           |billed − expected| within the tolerance (the larger of
--                   @tolerance_absolute and @tolerance_relative × |expected|)
--   over_billed     billed above expected beyond the tolerance
--   under_billed    billed below expected beyond the tolerance
--   unpriced        usage the price catalog does not price (also a DQ warning)
--   billed_without_usage  billed, but no usage reported for the line item
--   not_billed      usage priced above the tolerance, but nothing billed
--   currency_mismatch     billed in another currency than the catalog's
-- @dates: the days this run re-derives. docs/cost_intelligence.md#reconciliation
WITH billed AS (
  SELECT
    x_charge_date AS charge_date,
    x_provider AS provider,
    IFNULL(SubAccountId, '') AS sub_account_id,
    IFNULL(SkuPriceId, '') AS line_item,
    ANY_VALUE(IFNULL(x_model, SkuId)) AS model,
    ANY_VALUE(BillingCurrency) AS billing_currency,
    SUM(BilledCost) AS billed_cost,
    COUNT(*) AS billed_rows
  FROM silver_cost.focus_daily
  WHERE x_charge_date IN UNNEST(@dates)
    AND x_provider IN (SELECT DISTINCT provider FROM silver_cost.usage_priced)
  GROUP BY charge_date, provider, sub_account_id, line_item
),
expected AS (
  SELECT
    charge_date,
    provider,
    IFNULL(sub_account_id, '') AS sub_account_id,
    line_item,
    ANY_VALUE(model) AS model,
    ANY_VALUE(currency) AS currency,
    SUM(quantity) AS quantity,
    SUM(expected_cost) AS expected_cost,
    SUM(expected_list_cost) AS expected_list_cost,
    COUNTIF(list_unit_price IS NULL AND quantity > 0) AS unpriced_rows,
    COUNT(*) AS usage_rows
  FROM silver_cost.usage_priced
  WHERE charge_date IN UNNEST(@dates)
  GROUP BY charge_date, provider, sub_account_id, line_item
),
joined AS (
  SELECT
    IFNULL(b.charge_date, e.charge_date) AS charge_date,
    IFNULL(b.provider, e.provider) AS provider,
    IFNULL(b.sub_account_id, e.sub_account_id) AS sub_account_id,
    IFNULL(b.line_item, e.line_item) AS line_item,
    IFNULL(e.model, b.model) AS model,
    IFNULL(b.billing_currency, e.currency) AS currency,
    e.currency AS price_currency,
    e.quantity,
    IFNULL(b.billed_cost, CAST(0 AS BIGNUMERIC)) AS billed_cost,
    IF(e.unpriced_rows > 0, NULL, e.expected_cost) AS expected_cost,
    IF(e.unpriced_rows > 0, NULL, e.expected_list_cost) AS expected_list_cost,
    b.billed_rows IS NOT NULL AS billed,
    e.usage_rows IS NOT NULL AS has_usage,
    IFNULL(e.unpriced_rows, 0) > 0 AS unpriced
  FROM billed AS b
  FULL OUTER JOIN expected AS e
    ON b.charge_date = e.charge_date
    AND b.provider = e.provider
    AND b.sub_account_id = e.sub_account_id
    AND b.line_item = e.line_item
),
measured AS (
  SELECT
    *,
    billed_cost - expected_cost AS difference,
    SAFE_DIVIDE(CAST(billed_cost AS FLOAT64), CAST(expected_cost AS FLOAT64)) AS ratio,
    ABS(billed_cost - IFNULL(expected_cost, CAST(0 AS BIGNUMERIC))) <= @tolerance_absolute
      OR CAST(ABS(billed_cost - IFNULL(expected_cost, CAST(0 AS BIGNUMERIC))) AS FLOAT64)
        <= CAST(@tolerance_relative AS FLOAT64)
          * ABS(CAST(IFNULL(expected_cost, CAST(0 AS BIGNUMERIC)) AS FLOAT64)) AS within
  FROM joined
)
SELECT
  charge_date,
  provider,
  NULLIF(sub_account_id, '') AS sub_account_id,
  line_item,
  model,
  currency,
  quantity,
  billed_cost,
  expected_cost,
  expected_list_cost,
  difference,
  ratio,
  CASE
    WHEN unpriced THEN 'unpriced'
    WHEN has_usage AND billed AND price_currency IS NOT NULL AND price_currency != currency
      THEN 'currency_mismatch'
    WHEN NOT has_usage AND NOT within THEN 'billed_without_usage'
    WHEN NOT billed AND NOT within THEN 'not_billed'
    WHEN within THEN 'match'
    WHEN difference > 0 THEN 'over_billed'
    ELSE 'under_billed'
  END AS status,
  NOT unpriced AND NOT within AS flagged,
  @run_id AS pipeline_logging_id,
  @now AS computed_at
FROM measured
