"""Analytical SQL that data teams really write, as data: the SQL wall must accept all of it, Spark must analyse it.

`tests/api/test_sql_corpus.py` holds every query to `sqlcheck.problems` (no JVM); `tests/build/
test_sql_corpus_spark.py` has real Spark analyse each one against empty temp views with these schemas, so the
corpus is Spark SQL and not merely something sqlglot likes.
"""

from __future__ import annotations

SCHEMAS: dict[str, str] = {
    "customers": (
        "customer_id BIGINT, name STRING, email STRING, country STRING, segment STRING, signup_date DATE, "
        "birth_date DATE, tags ARRAY<STRING>, attrs MAP<STRING, STRING>, address STRUCT<city: STRING, zip: STRING>, "
        "profile_json STRING"
    ),
    "sessions": (
        "session_id STRING, customer_id BIGINT, started_at TIMESTAMP, ended_at TIMESTAMP, duration_s DOUBLE, "
        "device STRING, referrer STRING, pages ARRAY<STRUCT<url: STRING, ms: BIGINT>>, events ARRAY<STRING>"
    ),
    "tickets": (
        "ticket_id BIGINT, customer_id BIGINT, opened_at TIMESTAMP, closed_at TIMESTAMP, priority INT, "
        "status STRING, channel STRING, score DOUBLE"
    ),
    "orders": (
        "order_id BIGINT, customer_id BIGINT, order_date DATE, amount DECIMAL(12,2), currency STRING, "
        "status STRING, items ARRAY<STRUCT<sku: STRING, qty: INT, price: DOUBLE>>"
    ),
    "bronze.crm.customers": "id BIGINT, name STRING, updated_at TIMESTAMP, payload STRING",
}

C = ("customers",)
S = ("sessions",)
T = ("tickets",)
ORD = ("orders",)
CS = ("customers", "sessions")
CO = ("customers", "orders")
CST = ("customers", "sessions", "tickets")
B = ("bronze.crm.customers", "customers")

CORPUS: list[tuple[str, tuple[str, ...], str]] = [
    ("select-star", C, "SELECT * FROM customers"),
    ("projection-filter", C, "SELECT customer_id, lower(email) AS email FROM customers WHERE country = 'DE'"),
    ("customer-360", CST, """
        WITH s AS (
          SELECT customer_id, count(*) AS session_count, max(started_at) AS last_seen
          FROM sessions GROUP BY customer_id
        ),
        t AS (
          SELECT customer_id, count(*) AS ticket_count FROM tickets GROUP BY customer_id
        )
        SELECT c.customer_id, c.name, coalesce(s.session_count, 0) AS session_count, s.last_seen,
               coalesce(t.ticket_count, 0) AS ticket_count
        FROM customers c
        LEFT JOIN s ON c.customer_id = s.customer_id
        LEFT JOIN t ON c.customer_id = t.customer_id
    """),
    ("running-total-rows-frame", ORD, """
        SELECT customer_id, order_date, amount,
               sum(amount) OVER (PARTITION BY customer_id ORDER BY order_date
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_total
        FROM orders
    """),
    ("moving-average-range-frame", ORD, """
        SELECT order_date, avg(amount) OVER (ORDER BY order_date
                                             ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS ma7
        FROM orders
    """),
    ("lag-lead", S, """
        SELECT customer_id, started_at,
               lag(started_at) OVER (PARTITION BY customer_id ORDER BY started_at) AS previous_start,
               lead(started_at, 1) OVER (PARTITION BY customer_id ORDER BY started_at) AS next_start
        FROM sessions
    """),
    ("ranks", ORD, """
        SELECT customer_id, order_id, amount,
               row_number() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS rn,
               rank() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS rk,
               dense_rank() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS drk,
               percent_rank() OVER (PARTITION BY customer_id ORDER BY amount) AS prk,
               ntile(4) OVER (ORDER BY amount) AS quartile
        FROM orders
    """),
    ("named-window", ORD, """
        SELECT customer_id, first_value(order_id) OVER w AS first_order, last_value(order_id) OVER w AS last_order
        FROM orders
        WINDOW w AS (PARTITION BY customer_id ORDER BY order_date
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    """),
    ("qualify-latest", B, """
        SELECT id, name, updated_at FROM `bronze.crm.customers`
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1
    """),
    ("dedupe-subquery", B, """
        SELECT id, name FROM (
          SELECT id, name, row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) AS rn
          FROM `bronze.crm.customers`
        ) latest WHERE rn = 1
    """),
    ("grouping-sets", ORD, """
        SELECT currency, status, sum(amount) AS total, grouping_id() AS level
        FROM orders GROUP BY GROUPING SETS ((currency, status), (currency), ())
    """),
    ("cube", ORD, "SELECT currency, status, count(*) AS n FROM orders GROUP BY CUBE (currency, status)"),
    ("rollup", ORD, """
        SELECT year(order_date) AS y, month(order_date) AS m, sum(amount) AS total
        FROM orders GROUP BY ROLLUP (year(order_date), month(order_date))
    """),
    ("group-by-rollup-suffix", ORD, """
        SELECT currency, status, sum(amount) AS total FROM orders GROUP BY currency, status WITH ROLLUP
    """),
    ("having", ORD, """
        SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id HAVING sum(amount) > 1000
    """),
    ("lateral-view-explode", C, "SELECT customer_id, tag FROM customers LATERAL VIEW explode(tags) t AS tag"),
    ("lateral-view-outer-posexplode", C, """
        SELECT customer_id, pos, tag FROM customers LATERAL VIEW OUTER posexplode(tags) t AS pos, tag
    """),
    ("lateral-view-explode-map", C, "SELECT customer_id, k, v FROM customers LATERAL VIEW explode(attrs) a AS k, v"),
    ("lateral-view-inline", ORD, """
        SELECT order_id, sku, qty, price FROM orders LATERAL VIEW inline(items) i AS sku, qty, price
    """),
    ("lateral-view-json-tuple", B, """
        SELECT id, j.plan, j.seats FROM `bronze.crm.customers`
        LATERAL VIEW json_tuple(payload, 'plan', 'seats') j AS plan, seats
    """),
    ("explode-in-select", S, "SELECT session_id, explode(events) AS event FROM sessions"),
    ("stack-unpivot", T, """
        SELECT ticket_id, metric, value FROM (
          SELECT ticket_id, stack(2, 'priority', cast(priority AS double), 'score', score) AS (metric, value)
          FROM tickets
        ) x
    """),
    ("pivot", ORD, """
        SELECT * FROM (SELECT customer_id, currency, amount FROM orders)
        PIVOT (sum(amount) AS total FOR currency IN ('EUR' AS eur, 'USD' AS usd, 'GBP' AS gbp))
    """),
    ("unpivot", T, """
        SELECT * FROM (SELECT ticket_id, cast(priority AS double) AS priority, score FROM tickets)
        UNPIVOT (value FOR metric IN (priority, score))
    """),
    ("higher-order-transform-filter", S, """
        SELECT session_id,
               transform(pages, p -> p.url) AS urls,
               filter(pages, p -> p.ms > 1000) AS slow_pages,
               exists(events, e -> e = 'checkout') AS checked_out,
               forall(events, e -> e IS NOT NULL) AS all_known
        FROM sessions
    """),
    ("higher-order-aggregate", ORD, """
        SELECT order_id,
               aggregate(items, 0D, (acc, i) -> acc + i.qty * i.price) AS order_value,
               reduce(items, 0, (acc, i) -> acc + i.qty, acc -> acc * 1) AS units
        FROM orders
    """),
    ("array-sort-comparator", S, """
        SELECT session_id,
               array_sort(pages, (l, r) -> CASE WHEN l.ms < r.ms THEN 1 WHEN l.ms > r.ms THEN -1 ELSE 0 END) AS by_ms
        FROM sessions
    """),
    ("map-higher-order", C, """
        SELECT customer_id,
               map_filter(attrs, (k, v) -> k LIKE 'pref_%') AS prefs,
               transform_values(attrs, (k, v) -> upper(v)) AS upper_values,
               transform_keys(attrs, (k, v) -> concat('attr_', k)) AS renamed
        FROM customers
    """),
    ("zip-with", S, """
        SELECT session_id, zip_with(events, transform(pages, p -> p.url), (e, u) -> concat_ws(':', e, u)) AS pairs
        FROM sessions
    """),
    ("cte-chain", CO, """
        WITH o AS (SELECT customer_id, amount, order_date FROM orders WHERE status = 'paid'),
             totals AS (SELECT customer_id, sum(amount) AS total, min(order_date) AS first_order FROM o
                        GROUP BY customer_id),
             ranked AS (SELECT *, ntile(10) OVER (ORDER BY total DESC) AS decile FROM totals)
        SELECT c.customer_id, c.segment, r.total, r.decile
        FROM customers c JOIN ranked r ON c.customer_id = r.customer_id
    """),
    ("left-semi-join", CO, """
        SELECT c.* FROM customers c LEFT SEMI JOIN orders o ON c.customer_id = o.customer_id
    """),
    ("left-anti-join", CO, """
        SELECT c.customer_id FROM customers c LEFT ANTI JOIN orders o ON c.customer_id = o.customer_id
    """),
    ("full-outer-join-using", CS, """
        SELECT customer_id, c.name, s.session_id FROM customers c FULL OUTER JOIN sessions s USING (customer_id)
    """),
    ("cross-join-values", C, """
        SELECT c.customer_id, d.label FROM customers c CROSS JOIN (VALUES (1, 'one'), (2, 'two')) AS d(n, label)
    """),
    ("correlated-exists", CO, """
        SELECT c.customer_id FROM customers c
        WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id AND o.amount > 100)
    """),
    ("not-exists", CO, """
        SELECT c.customer_id FROM customers c
        WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id)
    """),
    ("in-subquery", CS, """
        SELECT * FROM customers WHERE customer_id IN (SELECT customer_id FROM sessions WHERE device = 'ios')
    """),
    ("scalar-subquery", CO, """
        SELECT c.customer_id,
               (SELECT max(o.order_date) FROM orders o WHERE o.customer_id = c.customer_id) AS last_order
        FROM customers c
    """),
    ("percentiles", S, """
        SELECT device,
               percentile_approx(duration_s, 0.5) AS p50,
               percentile_approx(duration_s, array(0.9, 0.99), 1000) AS tail,
               percentile(duration_s, 0.95) AS p95,
               median(duration_s) AS med,
               approx_count_distinct(customer_id) AS users
        FROM sessions GROUP BY device
    """),
    ("percentile-cont-within-group", S, """
        SELECT device, percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_s) AS p50 FROM sessions GROUP BY device
    """),
    ("stats", T, """
        SELECT channel, stddev(score) AS sd, variance(score) AS var, corr(score, priority) AS r,
               skewness(score) AS skew, kurtosis(score) AS kurt, covar_samp(score, priority) AS cov
        FROM tickets GROUP BY channel
    """),
    ("date-arithmetic", C, """
        SELECT customer_id,
               datediff(current_date(), signup_date) AS tenure_days,
               months_between(current_date(), birth_date) / 12 AS age_years,
               date_add(signup_date, 30) AS trial_end,
               add_months(signup_date, 12) AS renewal,
               date_trunc('MONTH', signup_date) AS cohort,
               last_day(signup_date) AS month_end,
               signup_date + INTERVAL 7 DAYS AS week_later,
               next_day(signup_date, 'MON') AS next_monday
        FROM customers
    """),
    ("timestamps", T, """
        SELECT ticket_id,
               (unix_timestamp(closed_at) - unix_timestamp(opened_at)) / 3600.0 AS hours_open,
               timestampdiff(MINUTE, opened_at, closed_at) AS minutes_open,
               date_format(opened_at, 'yyyy-MM') AS month,
               extract(HOUR FROM opened_at) AS hour,
               hour(opened_at) AS h2,
               to_date(opened_at) AS day,
               from_utc_timestamp(opened_at, 'Europe/Berlin') AS local_time,
               window(opened_at, '1 hour').start AS hour_bucket
        FROM tickets
    """),
    ("regexp", C, """
        SELECT customer_id,
               regexp_extract(email, '@(.+)$', 1) AS domain,
               regexp_replace(name, '\\\\s+', ' ') AS clean_name,
               email RLIKE '^[^@]+@[^@]+$' AS valid_email,
               regexp_extract_all(name, '([A-Z])', 1) AS initials
        FROM customers
    """),
    ("strings", C, """
        SELECT customer_id,
               initcap(name) AS name, upper(country) AS country, trim(BOTH ' ' FROM name) AS trimmed,
               substring(email, 1, 3) AS prefix, split(email, '@')[1] AS host,
               lpad(cast(customer_id AS string), 10, '0') AS padded, concat_ws('-', country, segment) AS key,
               length(name) AS len,
               instr(email, '@') AS at_pos, replace(name, 'Ltd', 'Limited') AS name2, left(name, 1) AS first_char
        FROM customers
    """),
    ("json-functions", C, """
        SELECT customer_id,
               get_json_object(profile_json, '$.plan') AS plan,
               from_json(profile_json, 'plan STRING, seats INT') AS profile,
               from_json(profile_json, 'plan STRING, seats INT').seats AS seats,
               to_json(named_struct('id', customer_id, 'country', country)) AS as_json,
               json_array_length(get_json_object(profile_json, '$.features')) AS n_features,
               schema_of_json('{"a": 1}') AS schema_example
        FROM customers
    """),
    ("struct-map-access", C, """
        SELECT customer_id, address.city, address['zip'] AS zip, attrs['tier'] AS tier,
               element_at(attrs, 'plan') AS plan,
               tags[0] AS first_tag, element_at(tags, -1) AS last_tag, size(tags) AS n_tags,
               map_keys(attrs) AS keys, map_contains_key(attrs, 'vip') AS vip
        FROM customers
    """),
    ("named-struct-and-collect", ORD, """
        SELECT customer_id,
               collect_list(named_struct('id', order_id, 'amount', amount)) AS orders,
               collect_set(currency) AS currencies,
               array_sort(collect_set(status)) AS statuses,
               max_by(order_id, amount) AS biggest_order,
               count_if(status = 'refunded') AS refunds
        FROM orders GROUP BY customer_id
    """),
    ("array-functions", S, """
        SELECT session_id, array_distinct(events) AS uniq, array_contains(events, 'checkout') AS checkout,
               array_join(events, ',') AS joined, slice(events, 1, 3) AS first3, array_position(events, 'cart') AS pos,
               arrays_overlap(events, array('cart', 'checkout')) AS funnel, flatten(array(events, events)) AS doubled,
               sort_array(events, false) AS desc_events, sequence(1, 3) AS seq, array_union(events, array('x')) AS u
        FROM sessions
    """),
    ("map-construction", T, """
        SELECT ticket_id, map('priority', priority, 'score', cast(score AS int)) AS m,
               map_from_arrays(array('a', 'b'), array(1, 2)) AS ab, str_to_map('a:1,b:2', ',', ':') AS parsed,
               struct(ticket_id, status) AS s
        FROM tickets
    """),
    ("union-all", C + ORD, """
        SELECT customer_id, 'signup' AS event, cast(signup_date AS timestamp) AS at FROM customers
        UNION ALL
        SELECT customer_id, 'order' AS event, cast(order_date AS timestamp) AS at FROM orders
    """),
    ("union-intersect-except", CS, """
        (SELECT customer_id FROM customers UNION SELECT customer_id FROM sessions)
        EXCEPT
        (SELECT customer_id FROM customers INTERSECT SELECT customer_id FROM sessions)
    """),
    ("values", (), "VALUES (1, 'gold'), (2, 'silver'), (3, 'bronze') AS tiers(rank, name)"),
    ("select-from-values", (), "SELECT * FROM VALUES ('EUR', 1.0), ('USD', 0.92) AS rates(currency, to_eur)"),
    ("case-searched-and-simple", T, """
        SELECT ticket_id,
               CASE WHEN priority >= 3 THEN 'high' WHEN priority = 2 THEN 'medium' ELSE 'low' END AS level,
               CASE status WHEN 'open' THEN 1 WHEN 'pending' THEN 2 ELSE 0 END AS status_code,
               if(score > 0.5, 'good', 'bad') AS sentiment,
               nvl(channel, 'unknown') AS channel, nullif(priority, 0) AS p, nvl2(closed_at, 'closed', 'open') AS state
        FROM tickets
    """),
    ("casts", ORD, """
        SELECT cast(order_id AS string) AS id, cast(amount AS double) AS amount_d, try_cast(currency AS int) AS bad,
               cast(order_date AS timestamp) AS ts, amount::decimal(18, 2) AS amount_wide,
               cast(items AS array<struct<sku: string, qty: bigint, price: double>>) AS items_wide,
               int(order_id % 10) AS b
        FROM orders
    """),
    ("hash-and-mask", C, """
        SELECT sha2(lower(trim(email)), 256) AS email_hash, md5(name) AS name_md5, xxhash64(customer_id) AS bucket_key,
               hash(customer_id, email) AS h, mask(email) AS masked, crc32(name) AS c, base64(cast(name AS binary)) AS b
        FROM customers
    """),
    ("math", ORD, """
        SELECT order_id, round(amount, 2) AS r, bround(amount, 0) AS br, ceil(amount) AS c, floor(amount) AS f,
               abs(amount - 100) AS dist, pow(amount, 2) AS sq, sqrt(abs(amount)) AS root, ln(amount + 1) AS log_amount,
               greatest(amount, 10) AS at_least_10, least(amount, 1000) AS capped, pmod(order_id, 7) AS weekday_bucket,
               amount DIV 10 AS tens, try_divide(amount, 0) AS safe, width_bucket(amount, 0, 1000, 10) AS bucket
        FROM orders
    """),
    ("like-between-in", C, """
        SELECT * FROM customers
        WHERE email LIKE '%@example.com' AND name NOT ILIKE 'test%'
          AND signup_date BETWEEN DATE'2024-01-01' AND DATE'2024-12-31'
          AND country IN ('DE', 'FR', 'NL') AND segment IS NOT NULL
    """),
    ("distinct-order-limit-offset", S, """
        SELECT DISTINCT device, referrer FROM sessions ORDER BY device ASC NULLS LAST, referrer DESC LIMIT 100 OFFSET 10
    """),
    ("count-distinct-filter", S, """
        SELECT device, count(DISTINCT customer_id) AS users, count(*) FILTER (WHERE duration_s > 60) AS long_sessions
        FROM sessions GROUP BY device
    """),
    ("tablesample", S, "SELECT * FROM sessions TABLESAMPLE (10 PERCENT)"),
    ("star-except", C, "SELECT * EXCEPT (email, profile_json) FROM customers"),
    ("join-hints", CO, """
        SELECT /*+ BROADCAST(c) */ o.order_id, c.segment FROM orders o JOIN customers c ON o.customer_id = c.customer_id
    """),
    ("repartition-hint", ORD, "SELECT /*+ REPARTITION(8, customer_id) */ * FROM orders"),
    ("coalesce-rebalance-hints", ORD, "SELECT /*+ COALESCE(4), REBALANCE */ * FROM orders"),
    ("distribute-sort-by", ORD, "SELECT * FROM orders DISTRIBUTE BY customer_id SORT BY order_date"),
    ("dotted-view-with-backticks", B, """
        SELECT b.id, b.name, c.country FROM `bronze.crm.customers` b JOIN customers c ON b.id = c.customer_id
    """),
    ("group-by-all-ordinals", ORD, "SELECT currency, status, count(*) AS n FROM orders GROUP BY 1, 2 ORDER BY 3 DESC"),
    ("sessionization", S, """
        WITH gaps AS (
          SELECT customer_id, started_at,
                 CASE WHEN started_at - INTERVAL 30 MINUTES >
                           lag(started_at) OVER (PARTITION BY customer_id ORDER BY started_at)
                      THEN 0 ELSE 1 END AS same_visit
          FROM sessions
        )
        SELECT customer_id, started_at,
               sum(1 - same_visit) OVER (PARTITION BY customer_id ORDER BY started_at) AS visit_number
        FROM gaps
    """),
    ("funnel", S, """
        SELECT device,
               count_if(array_contains(events, 'view')) AS views,
               count_if(array_contains(events, 'cart')) AS carts,
               count_if(array_contains(events, 'checkout')) AS checkouts,
               round(count_if(array_contains(events, 'checkout')) / nullif(count(*), 0), 4) AS conversion
        FROM sessions GROUP BY device
    """),
    ("current-user-audit", C, """
        SELECT customer_id, current_user() AS built_by, current_timestamp() AS built_at, uuid() AS row_id
        FROM customers
    """),
    ("lateral-subquery", CO, """
        SELECT c.customer_id, o.amount FROM customers c,
        LATERAL (SELECT amount FROM orders WHERE orders.customer_id = c.customer_id ORDER BY amount DESC LIMIT 1) o
    """),
]
