-- Anthropic cost report → FOCUS 1.2 rows, one per day, workspace and cost item (BigQuery SQL).
-- Raw holds Anthropic's newest answer for each day (snapshot sources replace a day's rows), so
-- every raw row of a day counts. Amounts are cents (decimal strings): BilledCost is
-- amount_cents × 0.01, exact (BIGNUMERIC; a NUMERIC literal keeps the product exact).
-- @dates: the usage days this run re-derives (its window plus every day raw changed).
-- Tokens come from the Messages usage of the same day, workspace, model, tier and context
-- window; web-search rows take the day's web-search requests of the workspace.
-- List and contracted prices come from the tenant's price table (raw_anthropic.prices, loaded
-- from configs/_library/prices): each cost row has one model, tier, context window and token
-- type, so it is priced at exactly that price.
-- Mapping: docs/focus_mapping.md#anthropic
WITH costs AS (
  SELECT *
  FROM raw_anthropic.cost_report
  WHERE DATE(bucket_starting_at) IN UNNEST(@dates)
),
usage_rows AS (
  SELECT *
  FROM raw_anthropic.usage_messages
  WHERE DATE(bucket_starting_at) IN UNNEST(@dates)
),
tokens AS (
  SELECT
    bucket_starting_at,
    IFNULL(workspace_id, '') AS workspace,
    model,
    service_tier,
    context_window,
    SUM(uncached_input_tokens) AS uncached_input_tokens,
    SUM(IFNULL(cache_read_input_tokens, 0)) AS cache_read_input_tokens,
    SUM(IFNULL(cache_creation_ephemeral_5m_input_tokens, 0)) AS cache_5m_tokens,
    SUM(IFNULL(cache_creation_ephemeral_1h_input_tokens, 0)) AS cache_1h_tokens,
    SUM(output_tokens) AS output_tokens
  FROM usage_rows
  GROUP BY bucket_starting_at, workspace, model, service_tier, context_window
),
searches AS (
  SELECT
    bucket_starting_at,
    IFNULL(workspace_id, '') AS workspace,
    SUM(IFNULL(server_tool_use_web_search_requests, 0)) AS requests
  FROM usage_rows
  GROUP BY bucket_starting_at, workspace
),
counted AS (
  SELECT
    c.*,
    DATE(c.bucket_starting_at) AS charge_date,
    CAST(c.amount_cents * NUMERIC '0.01' AS BIGNUMERIC) AS cost,
    CASE
      WHEN c.cost_type = 'web_search' THEN s.requests
      WHEN c.token_type = 'uncached_input_tokens' THEN t.uncached_input_tokens
      WHEN c.token_type = 'cache_read_input_tokens' THEN t.cache_read_input_tokens
      WHEN c.token_type = 'cache_creation.ephemeral_5m_input_tokens' THEN t.cache_5m_tokens
      WHEN c.token_type = 'cache_creation.ephemeral_1h_input_tokens' THEN t.cache_1h_tokens
      WHEN c.token_type = 'output_tokens' THEN t.output_tokens
    END AS unit_count,
    CASE
      WHEN c.cost_type = 'web_search' THEN 'web_search'
      WHEN c.token_type = 'uncached_input_tokens' THEN 'input'
      WHEN c.token_type = 'cache_read_input_tokens' THEN 'cached_input'
      WHEN c.token_type = 'cache_creation.ephemeral_5m_input_tokens' THEN 'cache_write_5m'
      WHEN c.token_type = 'cache_creation.ephemeral_1h_input_tokens' THEN 'cache_write_1h'
      WHEN c.token_type = 'output_tokens' THEN 'output'
    END AS meter,
    CASE WHEN c.cost_type = 'web_search' THEN 'Requests' ELSE 'Tokens' END AS unit,
    IFNULL(c.model, c.cost_type) AS sku
  FROM costs AS c
  LEFT JOIN tokens AS t
    ON t.bucket_starting_at = c.bucket_starting_at
    AND t.workspace = IFNULL(c.workspace_id, '')
    AND t.model = c.model
    AND t.service_tier = c.service_tier
    AND t.context_window = c.context_window
  LEFT JOIN searches AS s
    ON s.bucket_starting_at = c.bucket_starting_at
    AND s.workspace = IFNULL(c.workspace_id, '')
),
joined AS (
  SELECT
    c.*,
    CAST(c.unit_count AS NUMERIC) AS quantity,
    IF(c.unit_count IS NULL, NULL, p.list_unit_price) AS list_unit_price,
    IF(c.unit_count IS NULL, NULL, p.contracted_unit_price) AS contracted_unit_price
  FROM counted AS c
  LEFT JOIN raw_anthropic.prices AS p
    ON p.model = c.sku
    AND p.meter = c.meter
    AND p.service_tier = IFNULL(c.service_tier, 'standard')
    AND p.context_window = IFNULL(c.context_window, 'all')
    AND p.effective_from <= c.charge_date
    AND (p.effective_to IS NULL OR c.charge_date < p.effective_to)
)
SELECT
  cost AS BilledCost,
  cost AS EffectiveCost,
  IFNULL(CAST(list_unit_price * unit_count AS BIGNUMERIC), cost) AS ListCost,
  IFNULL(CAST(contracted_unit_price * unit_count AS BIGNUMERIC), cost) AS ContractedCost,
  list_unit_price AS ListUnitPrice,
  contracted_unit_price AS ContractedUnitPrice,
  UPPER(currency) AS BillingCurrency,
  TIMESTAMP(DATE_TRUNC(charge_date, MONTH)) AS BillingPeriodStart,
  TIMESTAMP(DATE_ADD(DATE_TRUNC(charge_date, MONTH), INTERVAL 1 MONTH)) AS BillingPeriodEnd,
  bucket_starting_at AS ChargePeriodStart,
  bucket_ending_at AS ChargePeriodEnd,
  'Usage' AS ChargeCategory,
  CAST(NULL AS STRING) AS ChargeClass,
  -- Anthropic sends no description when costs are not grouped by description.
  IFNULL(description, 'Claude API usage (not grouped by description)') AS ChargeDescription,
  'Usage-Based' AS ChargeFrequency,
  'Claude API' AS ServiceName,
  'AI and Machine Learning' AS ServiceCategory,
  'Generative AI' AS ServiceSubcategory,
  'Anthropic' AS ProviderName,
  'Anthropic' AS PublisherName,
  'Anthropic' AS InvoiceIssuerName,
  CONCAT(@tenant_id, '-', FORMAT_DATE('%Y%m', charge_date)) AS InvoiceId,
  @tenant_id AS BillingAccountId,
  CAST(NULL AS STRING) AS BillingAccountName,
  IFNULL(workspace_id, 'default') AS SubAccountId,
  IFNULL(workspace_id, 'Default Workspace') AS SubAccountName,
  quantity AS ConsumedQuantity,
  IF(quantity IS NULL, NULL, unit) AS ConsumedUnit,
  quantity AS PricingQuantity,
  IF(quantity IS NULL, NULL, unit) AS PricingUnit,
  'Standard' AS PricingCategory,
  CAST(NULL AS STRING) AS CommitmentDiscountStatus,
  sku AS SkuId,
  CONCAT(
    sku, ':', IFNULL(token_type, cost_type), ':', IFNULL(service_tier, '-'),
    IF(context_window IS NULL, '', CONCAT(':', context_window))
  ) AS SkuPriceId,
  IFNULL(token_type, cost_type) AS SkuMeter,
  CAST(NULL AS STRING) AS RegionId,
  CAST(NULL AS STRING) AS RegionName,
  CAST(NULL AS STRING) AS AvailabilityZone,
  CAST(NULL AS STRING) AS ResourceId,
  CAST(NULL AS STRING) AS ResourceName,
  CAST(NULL AS STRING) AS ResourceType,
  CAST(NULL AS JSON) AS Tags,
  'anthropic' AS x_provider,
  charge_date AS x_charge_date,
  model AS x_model,
  IFNULL(token_type, cost_type) AS x_usage_type,
  service_tier AS x_service_tier,
  CONCAT(
    CAST(charge_date AS STRING), '|', IFNULL(workspace_id, ''), '|', IFNULL(description, ''),
    '|', IFNULL(service_tier, ''), '|', IFNULL(context_window, ''), '|',
    IFNULL(inference_geo, ''), '|', IFNULL(token_type, '')
  ) AS x_source_row_key,
  @run_id AS x_pipeline_logging_id
FROM joined
