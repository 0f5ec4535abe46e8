-- OpenAI completions usage × the tenant's price table → what the usage should cost (BigQuery SQL).
-- One row per day, project, API key, model, service tier and meter: tokens, the list and
-- contracted unit prices in force that day, and their products (exact: INT64 × BIGNUMERIC).
-- Batch usage is priced at the batch tier, the rest at its service tier (default → standard).
-- line_item is the OpenAI cost line item the tokens are billed under (silver SkuPriceId), which
-- cost_reconciliation joins on. Usage the catalog does not price says so in price_check.
-- @dates: the usage days this run re-derives. docs/cost_intelligence.md#expected-cost
WITH usage AS (
  SELECT
    DATE(bucket_start_time) AS charge_date,
    project_id,
    api_key_id,
    model,
    IF(
      IFNULL(batch, FALSE), 'batch',
      CASE IFNULL(service_tier, 'default')
        WHEN 'default' THEN 'standard'
        WHEN 'auto' THEN 'standard'
        ELSE service_tier
      END
    ) AS tier,
    SUM(input_tokens - IFNULL(input_cached_tokens, 0)) AS input_tokens,
    SUM(IFNULL(input_cached_tokens, 0)) AS cached_tokens,
    SUM(output_tokens) AS output_tokens
  FROM raw_openai.usage_completions
  WHERE DATE(bucket_start_time) IN UNNEST(@dates)
  GROUP BY charge_date, project_id, api_key_id, model, tier
),
metered AS (
  SELECT charge_date, project_id, api_key_id, model, tier, 'input' AS meter,
    'input' AS kind, input_tokens AS units
  FROM usage
  UNION ALL
  SELECT charge_date, project_id, api_key_id, model, tier, 'cached_input' AS meter,
    'cached input' AS kind, cached_tokens AS units
  FROM usage
  UNION ALL
  SELECT charge_date, project_id, api_key_id, model, tier, 'output' AS meter,
    'output' AS kind, output_tokens AS units
  FROM usage
),
priced AS (
  SELECT m.*, p.list_unit_price, p.contracted_unit_price, p.effective_from, p.catalog_version,
    p.currency
  FROM metered AS m
  LEFT JOIN raw_openai.prices AS p
    ON p.model = m.model
    AND p.meter = m.meter
    AND p.service_tier = m.tier
    AND p.context_window = 'all'
    AND p.effective_from <= m.charge_date
    AND (p.effective_to IS NULL OR m.charge_date < p.effective_to)
)
SELECT
  charge_date,
  'openai' AS provider,
  project_id AS sub_account_id,
  api_key_id,
  model,
  tier AS service_tier,
  'all' AS context_window,
  meter,
  CONCAT(IFNULL(model, ''), ', ', kind) AS line_item,
  'Tokens' AS pricing_unit,
  CAST(units AS NUMERIC) AS quantity,
  list_unit_price,
  contracted_unit_price,
  CAST(list_unit_price * units AS BIGNUMERIC) AS expected_list_cost,
  CAST(contracted_unit_price * units AS BIGNUMERIC) AS expected_cost,
  currency,
  effective_from AS price_effective_from,
  catalog_version,
  IF(
    list_unit_price IS NULL,
    CONCAT('unpriced: openai ', IFNULL(model, '(no model)'), ' ', meter, ' (', tier, ')'),
    'priced'
  ) AS price_check,
  @run_id AS pipeline_logging_id
FROM priced
