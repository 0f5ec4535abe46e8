-- OpenAI costs → FOCUS 1.2 rows, one per day, project and line item (BigQuery SQL).
-- Raw holds OpenAI's newest answer for each day (snapshot sources replace a day's rows). Tokens
-- come from the completions usage of the same day, project and model; the line item's kind
-- ("input", "cached input", "output") picks the token count. Money stays the exact decimal of
-- the JSON number (BIGNUMERIC). @dates: the usage days this run re-derives.
-- List and contracted prices come from the tenant's price table (raw_openai.prices, loaded from
-- configs/_library/prices): OpenAI bills every tier of a model under one line item, so a row
-- is priced at the standard (on-demand) rate and tier discounts show as ListCost − BilledCost.
-- Mapping: docs/focus_mapping.md#openai
WITH costs AS (
  SELECT
    bucket_start_time,
    bucket_end_time,
    DATE(bucket_start_time) AS charge_date,
    organization_id,
    project_id,
    line_item,
    REGEXP_EXTRACT(line_item, r'^([^,]+),') AS model,
    REGEXP_EXTRACT(line_item, r',\s*(.+)$') AS usage_kind,
    CAST(amount_value AS BIGNUMERIC) AS cost,
    UPPER(amount_currency) AS currency
  FROM raw_openai.costs
  WHERE DATE(bucket_start_time) IN UNNEST(@dates)
),
usage AS (
  SELECT
    DATE(bucket_start_time) AS charge_date,
    project_id,
    model,
    SUM(input_tokens - IFNULL(input_cached_tokens, 0)) AS input_tokens,
    SUM(IFNULL(input_cached_tokens, 0)) AS cached_tokens,
    SUM(output_tokens) AS output_tokens
  FROM raw_openai.usage_completions
  WHERE DATE(bucket_start_time) IN UNNEST(@dates)
  GROUP BY charge_date, project_id, model
),
counted AS (
  SELECT
    c.*,
    CASE c.usage_kind
      WHEN 'input' THEN u.input_tokens
      WHEN 'cached input' THEN u.cached_tokens
      WHEN 'output' THEN u.output_tokens
    END AS token_count,
    CASE c.usage_kind
      WHEN 'input' THEN 'input'
      WHEN 'cached input' THEN 'cached_input'
      WHEN 'output' THEN 'output'
    END AS meter
  FROM costs AS c
  LEFT JOIN usage AS u
    ON u.charge_date = c.charge_date
    AND u.project_id = c.project_id
    AND u.model = c.model
),
joined AS (
  SELECT
    c.*,
    CAST(c.token_count AS NUMERIC) AS tokens,
    IF(c.token_count IS NULL, NULL, p.list_unit_price) AS list_unit_price,
    IF(c.token_count IS NULL, NULL, p.contracted_unit_price) AS contracted_unit_price
  FROM counted AS c
  LEFT JOIN raw_openai.prices AS p
    ON p.model = c.model
    AND p.meter = c.meter
    AND p.service_tier = 'standard'
    AND p.context_window = 'all'
    AND p.effective_from <= c.charge_date
    AND (p.effective_to IS NULL OR c.charge_date < p.effective_to)
)
SELECT
  cost AS BilledCost,
  cost AS EffectiveCost,
  IFNULL(CAST(list_unit_price * token_count AS BIGNUMERIC), cost) AS ListCost,
  IFNULL(CAST(contracted_unit_price * token_count AS BIGNUMERIC), cost) AS ContractedCost,
  list_unit_price AS ListUnitPrice,
  contracted_unit_price AS ContractedUnitPrice,
  currency AS BillingCurrency,
  TIMESTAMP(DATE_TRUNC(charge_date, MONTH)) AS BillingPeriodStart,
  TIMESTAMP(DATE_ADD(DATE_TRUNC(charge_date, MONTH), INTERVAL 1 MONTH)) AS BillingPeriodEnd,
  bucket_start_time AS ChargePeriodStart,
  bucket_end_time AS ChargePeriodEnd,
  'Usage' AS ChargeCategory,
  CAST(NULL AS STRING) AS ChargeClass,
  -- OpenAI sends no line item when costs are not grouped by line_item (its documented example).
  IFNULL(line_item, 'OpenAI API usage (not grouped by line item)') AS ChargeDescription,
  'Usage-Based' AS ChargeFrequency,
  'OpenAI API' AS ServiceName,
  'AI and Machine Learning' AS ServiceCategory,
  'Generative AI' AS ServiceSubcategory,
  'OpenAI' AS ProviderName,
  'OpenAI' AS PublisherName,
  'OpenAI' AS InvoiceIssuerName,
  CONCAT(IFNULL(organization_id, @tenant_id), '-', FORMAT_DATE('%Y%m', charge_date)) AS InvoiceId,
  IFNULL(organization_id, @tenant_id) AS BillingAccountId,
  CAST(NULL AS STRING) AS BillingAccountName,
  project_id AS SubAccountId,
  project_id AS SubAccountName,
  tokens AS ConsumedQuantity,
  IF(tokens IS NULL, NULL, 'Tokens') AS ConsumedUnit,
  tokens AS PricingQuantity,
  IF(tokens IS NULL, NULL, 'Tokens') AS PricingUnit,
  'Standard' AS PricingCategory,
  CAST(NULL AS STRING) AS CommitmentDiscountStatus,
  model AS SkuId,
  line_item AS SkuPriceId,
  usage_kind AS SkuMeter,
  CAST(NULL AS STRING) AS RegionId,
  CAST(NULL AS STRING) AS RegionName,
  CAST(NULL AS STRING) AS AvailabilityZone,
  CAST(NULL AS STRING) AS ResourceId,
  CAST(NULL AS STRING) AS ResourceName,
  CAST(NULL AS STRING) AS ResourceType,
  CAST(NULL AS JSON) AS Tags,
  'openai' AS x_provider,
  charge_date AS x_charge_date,
  model AS x_model,
  usage_kind AS x_usage_type,
  CAST(NULL AS STRING) AS x_service_tier,
  CONCAT(CAST(charge_date AS STRING), '|', IFNULL(project_id, ''), '|', IFNULL(line_item, ''))
    AS x_source_row_key,
  @run_id AS x_pipeline_logging_id
FROM joined
