-- Unit economics per day: cost per 1M tokens per model, per sub-account (project / workspace)
-- and per API key (BigQuery SQL). Models and sub-accounts use what was billed (silver FOCUS
-- rows priced in Tokens: BilledCost over PricingQuantity); API keys use expected cost (usage
-- × contracted price, silver_cost.usage_priced), since providers bill per project, not per
-- key — cost_basis says which. Web-search and other non-token charges are left out of the
-- rate. cost_per_million_tokens is a statistic (FLOAT64): cost × 1,000,000 / tokens.
-- @dates: the days this run re-derives. docs/cost_intelligence.md#unit-economics
WITH billed AS (
  SELECT
    x_charge_date AS charge_date,
    x_provider AS provider,
    BillingCurrency AS currency,
    IFNULL(x_model, SkuId) AS model,
    SubAccountId AS sub_account_id,
    SUM(PricingQuantity) AS tokens,
    SUM(BilledCost) AS cost
  FROM silver_cost.focus_daily
  WHERE x_charge_date IN UNNEST(@dates) AND PricingUnit = 'Tokens'
  GROUP BY charge_date, provider, currency, model, sub_account_id
),
used AS (
  SELECT
    charge_date,
    provider,
    IFNULL(currency, 'USD') AS currency,
    model,
    sub_account_id,
    api_key_id,
    SUM(quantity) AS tokens,
    SUM(expected_cost) AS cost
  FROM silver_cost.usage_priced
  WHERE charge_date IN UNNEST(@dates) AND pricing_unit = 'Tokens'
  GROUP BY charge_date, provider, currency, model, sub_account_id, api_key_id
),
dimensions AS (
  SELECT charge_date, provider, currency, 'model' AS dimension, model AS dimension_value,
    SUM(tokens) AS tokens, SUM(cost) AS billed_cost, CAST(NULL AS BIGNUMERIC) AS expected_cost
  FROM billed GROUP BY charge_date, provider, currency, model
  UNION ALL
  SELECT charge_date, provider, currency, 'model' AS dimension, model AS dimension_value,
    CAST(NULL AS NUMERIC) AS tokens, CAST(NULL AS BIGNUMERIC) AS billed_cost,
    SUM(cost) AS expected_cost
  FROM used GROUP BY charge_date, provider, currency, model
  UNION ALL
  SELECT charge_date, provider, currency, 'sub_account' AS dimension,
    sub_account_id AS dimension_value, SUM(tokens) AS tokens, SUM(cost) AS billed_cost,
    CAST(NULL AS BIGNUMERIC) AS expected_cost
  FROM billed GROUP BY charge_date, provider, currency, sub_account_id
  UNION ALL
  SELECT charge_date, provider, currency, 'sub_account' AS dimension,
    sub_account_id AS dimension_value, CAST(NULL AS NUMERIC) AS tokens,
    CAST(NULL AS BIGNUMERIC) AS billed_cost, SUM(cost) AS expected_cost
  FROM used GROUP BY charge_date, provider, currency, sub_account_id
  UNION ALL
  SELECT charge_date, provider, currency, 'api_key' AS dimension,
    api_key_id AS dimension_value, SUM(tokens) AS tokens, CAST(NULL AS BIGNUMERIC) AS billed_cost,
    SUM(cost) AS expected_cost
  FROM used GROUP BY charge_date, provider, currency, api_key_id
),
combined AS (
  SELECT
    charge_date,
    provider,
    currency,
    dimension,
    dimension_value,
    SUM(tokens) AS tokens,
    SUM(billed_cost) AS billed_cost,
    SUM(expected_cost) AS expected_cost
  FROM dimensions
  GROUP BY charge_date, provider, currency, dimension, dimension_value
)
SELECT
  charge_date,
  provider,
  currency,
  dimension,
  dimension_value,
  tokens,
  billed_cost,
  expected_cost,
  IF(dimension = 'api_key', expected_cost, billed_cost) AS cost,
  IF(dimension = 'api_key', 'expected', 'billed') AS cost_basis,
  SAFE_DIVIDE(
    CAST(IF(dimension = 'api_key', expected_cost, billed_cost) AS FLOAT64) * 1000000,
    CAST(tokens AS FLOAT64)
  ) AS cost_per_million_tokens,
  @run_id AS pipeline_logging_id,
  @now AS computed_at
FROM combined
WHERE tokens IS NOT NULL
