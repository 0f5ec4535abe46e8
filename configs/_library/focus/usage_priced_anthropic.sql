-- Anthropic Messages usage × the tenant's price table → what the usage should cost (BigQuery SQL).
-- One row per day, workspace, API key, model, service tier, context window and meter (token
-- types and web-search requests): units, the list and contracted unit prices in force that
-- day, and their products (exact: INT64 × BIGNUMERIC). line_item is the cost report line the
-- units are billed under (silver SkuPriceId), which cost_reconciliation joins on. Usage the
-- catalog does not price says so in price_check.
-- @dates: the usage days this run re-derives. docs/cost_intelligence.md#expected-cost
WITH usage AS (
  SELECT
    DATE(bucket_starting_at) AS charge_date,
    IFNULL(workspace_id, 'default') AS workspace,
    api_key_id,
    model,
    IFNULL(service_tier, 'standard') AS tier,
    IFNULL(context_window, '0-200k') AS context,
    SUM(uncached_input_tokens) AS input_tokens,
    SUM(IFNULL(cache_read_input_tokens, 0)) AS cache_read_tokens,
    SUM(IFNULL(cache_creation_ephemeral_5m_input_tokens, 0)) AS cache_5m_tokens,
    SUM(IFNULL(cache_creation_ephemeral_1h_input_tokens, 0)) AS cache_1h_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(IFNULL(server_tool_use_web_search_requests, 0)) AS searches
  FROM raw_anthropic.usage_messages
  WHERE DATE(bucket_starting_at) IN UNNEST(@dates)
  GROUP BY charge_date, workspace, api_key_id, model, tier, context
),
metered AS (
  SELECT charge_date, workspace, api_key_id, model, tier, context, 'input' AS meter,
    'uncached_input_tokens' AS token_type, input_tokens AS units
  FROM usage
  UNION ALL
  SELECT charge_date, workspace, api_key_id, model, tier, context, 'cached_input' AS meter,
    'cache_read_input_tokens' AS token_type, cache_read_tokens AS units
  FROM usage
  UNION ALL
  SELECT charge_date, workspace, api_key_id, model, tier, context, 'cache_write_5m' AS meter,
    'cache_creation.ephemeral_5m_input_tokens' AS token_type, cache_5m_tokens AS units
  FROM usage
  UNION ALL
  SELECT charge_date, workspace, api_key_id, model, tier, context, 'cache_write_1h' AS meter,
    'cache_creation.ephemeral_1h_input_tokens' AS token_type, cache_1h_tokens AS units
  FROM usage
  UNION ALL
  SELECT charge_date, workspace, api_key_id, model, tier, context, 'output' AS meter,
    'output_tokens' AS token_type, output_tokens AS units
  FROM usage
  UNION ALL
  SELECT charge_date, workspace, api_key_id, 'web_search' AS model, 'standard' AS tier,
    'all' AS context, 'web_search' AS meter, CAST(NULL AS STRING) AS token_type,
    searches AS units
  FROM usage
),
priced AS (
  SELECT m.*, p.list_unit_price, p.contracted_unit_price, p.effective_from, p.catalog_version,
    p.currency, p.pricing_unit
  FROM metered AS m
  LEFT JOIN raw_anthropic.prices AS p
    ON p.model = m.model
    AND p.meter = m.meter
    AND p.service_tier = m.tier
    AND p.context_window = m.context
    AND p.effective_from <= m.charge_date
    AND (p.effective_to IS NULL OR m.charge_date < p.effective_to)
)
SELECT
  charge_date,
  'anthropic' AS provider,
  workspace AS sub_account_id,
  api_key_id,
  model,
  tier AS service_tier,
  context AS context_window,
  meter,
  IF(
    meter = 'web_search', 'web_search:web_search:-',
    CONCAT(IFNULL(model, ''), ':', token_type, ':', tier, ':', context)
  ) AS line_item,
  IF(meter = 'web_search', 'Requests', 'Tokens') AS pricing_unit,
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
    CONCAT(
      'unpriced: anthropic ', IFNULL(model, '(no model)'), ' ', meter, ' (', tier, ', ',
      context, ')'
    ),
    'priced'
  ) AS price_check,
  @run_id AS pipeline_logging_id
FROM priced
